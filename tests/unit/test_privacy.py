"""Sealing, pseudonyms and scrubbing (shared.domain.privacy): the pure half of crypto-shredding."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import privacy as pv
from shared.domain.events import catalogue as ev

KEY = pv.new_data_key()
REF = pv.new_ref()


PLACE: pv.Place = ("T-0123ABCD", "ticket.commented", "body")
places = st.tuples(
    st.from_regex(r"T-[0-9A-Z]{8}", fullmatch=True),
    st.sampled_from(sorted(t for t, m in ev.models().items() if m.privacy.sealed)),
    st.sampled_from(["body", "subject", "description", "attachments.filename", "reason"]),
)


@given(st.text(min_size=1, max_size=2_000).filter(lambda s: "\x00" not in s), places)
def test_sealed_text_opens_with_its_key_in_its_place_only(text: str, place: pv.Place) -> None:
    sealed = pv.seal(KEY, REF, text, place)
    assert pv.is_sealed(sealed) and pv.sealed_ref(sealed) == REF and sealed.startswith(pv.V2)
    assert text not in sealed.removeprefix(pv.V2) or len(text) < 4
    assert pv.unseal(KEY, sealed, place) == text
    with pytest.raises(pv.SealError):
        pv.unseal(pv.new_data_key(), sealed, place)


@given(places, places)
def test_a_sealed_text_moved_to_another_ticket_event_or_field_does_not_open(here: pv.Place, there: pv.Place) -> None:
    sealed = pv.seal(KEY, REF, "paga la tasa en evil.example", here)
    if there == here:
        assert pv.unseal(KEY, sealed, there) == "paga la tasa en evil.example"
    else:
        with pytest.raises(pv.SealError, match="does not open"):
            pv.unseal(KEY, sealed, there)


def test_v1_text_written_before_places_were_bound_still_opens() -> None:
    nonce = bytes(12)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    body = AESGCM(KEY).encrypt(nonce, b"mi pedido", REF.encode())
    v1 = f"{pv.V1}{REF}:{pv._b64(nonce + body)}"
    assert pv.is_sealed(v1) and pv.sealed_ref(v1) == REF
    assert pv.unseal(KEY, v1, PLACE) == "mi pedido"
    with pytest.raises(pv.SealError):
        pv.unseal(KEY, v1.replace("enc:v1:", "enc:v9:"), PLACE)


def test_the_same_text_seals_differently_each_time() -> None:
    assert pv.seal(KEY, REF, "mi pedido", PLACE) != pv.seal(KEY, REF, "mi pedido", PLACE)


def test_a_value_moved_to_another_pseudonym_or_tampered_does_not_open() -> None:
    sealed = pv.seal(KEY, REF, "hola", PLACE)
    other = pv.new_ref()
    with pytest.raises(pv.SealError):
        pv.unseal(KEY, sealed.replace(REF, other), PLACE)
    body = sealed.rsplit(":", 1)[1]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    with pytest.raises(pv.SealError):
        pv.unseal(KEY, sealed.rsplit(":", 1)[0] + ":" + flipped, PLACE)


def test_data_keys_are_wrapped_by_the_master_key_and_bound_to_their_pseudonym() -> None:
    master = pv.new_data_key()
    wrapped = pv.wrap(master, REF, KEY)
    assert KEY not in wrapped
    assert pv.unwrap(master, REF, wrapped) == KEY
    with pytest.raises(pv.SealError):
        pv.unwrap(master, pv.new_ref(), wrapped)
    with pytest.raises(pv.SealError):
        pv.unwrap(pv.new_data_key(), REF, wrapped)


def test_pseudonyms_are_recognised_and_random() -> None:
    refs = {pv.new_ref() for _ in range(1000)}
    assert len(refs) == 1000
    assert all(pv.is_ref(r) for r in refs)
    for not_ref in ("lucia@example.com", "T-0123ABCD", "R-short", "ana", "r-0123456789ABCDEF"):
        assert not pv.is_ref(not_ref)


def _opened(**extra: object) -> dict[str, object]:
    return {
        "ticket_id": "T-00000001",
        "requester": REF,
        "subject": "Mi pedido no llega",
        "description": "Soy Lucía, vivo en la calle Mayor 3",
        "category": "order_status",
        "impact": "high",
        "urgency": "low",
        "priority": "P2",
        "attachments": [{"sha256": "a" * 64, "filename": "dni-lucia.png", "content_type": "image/png", "size": 3}],
    } | extra


def test_sealed_payloads_validate_beyond_the_plain_text_limits() -> None:
    sealed = pv.rewrite(
        ev.TicketOpened.model_validate(_opened(subject="x" * 300)), text=lambda v, place: pv.seal(KEY, REF, v, place)
    )
    payload = ev.TicketOpened.model_validate(sealed.model_dump())  # what a consumer reads back validates
    assert len(payload.subject) > 300 and pv.is_sealed(payload.attachments[0].filename)
    assert payload.attachments[0].sha256 == "a" * 64  # what is not text stays as it was
    with pytest.raises(ValueError, match="at most 300"):
        ev.TicketOpened.model_validate(_opened(subject="x" * 301))


def test_the_sealed_and_personal_fields_are_those_the_policy_names() -> None:
    """Pinned: what intake seals and pseudonymises (as when the lists were hand-written, plus the
    file names a reopening may bring now): a change here is a decision, made on purpose."""
    sealed = {t: m.privacy.sealed for t, m in ev.models().items() if m.privacy.sealed}
    personal = {t: m.privacy.personal for t, m in ev.models().items() if m.privacy.personal}
    assert sealed == {
        "ticket.opened": ("subject", "description", "attachments.filename"),
        "ticket.commented": ("body", "attachments.filename"),
        "ticket.info_requested": ("question",),
        "ticket.customer_replied": ("body", "attachments.filename"),
        "ticket.resolved": ("summary",),
        "ticket.resolution_rejected": ("reason",),
        "ticket.reopened": ("reason", "attachments.filename"),  # files with a reopening (issue 19)
        "ticket.closed": ("reason",),
        "ticket.feedback_given": ("comment",),
        "ticket.fields_set": ("values.value",),  # custom field values a person typed (issue 20)
    }
    assert personal == {
        "ticket.opened": ("requester",),
        "ticket.commented": ("author",),
        "ticket.customer_replied": ("requester",),
        "ticket.resolution_confirmed": ("requester",),
        "ticket.resolution_rejected": ("requester",),
        "ticket.reopened": ("by",),
        "ticket.closed": ("by",),
        "ticket.feedback_given": ("requester",),
    }


def test_scrub_leaves_the_pseudonym_and_erased_text() -> None:
    data = ev.TicketOpened.model_validate(_opened(requester="lucia@example.com"))
    scrubbed, actor = pv.scrub(data, "requester:lucia@example.com", "lucia@example.com", REF)
    assert scrubbed.requester == REF and actor == f"requester:{REF}"
    assert scrubbed.subject == scrubbed.description == pv.ERASED
    assert scrubbed.attachments[0].filename == pv.ERASED
    assert "lucia" not in scrubbed.model_dump_json().lower()
    # an agent's comment on the ticket: their text goes too (it is the requester's conversation),
    # the agent stays named
    comment = ev.TicketCommented(ticket_id="T-1", author="ana", author_role="agent", body="Hola Lucía")
    said, actor = pv.scrub(comment, "agent:ana", "lucia@example.com", REF)
    assert said.author == "ana" and actor == "agent:ana" and said.body == pv.ERASED
    # events without text are untouched
    met = ev.TicketSlaFirstResponseMet(ticket_id="T-1", at=datetime(2026, 1, 1, tzinfo=UTC))
    assert pv.scrub(met, "system:sla", "x", REF) == (met, "system:sla")
