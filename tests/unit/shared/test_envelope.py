"""The CloudEvents envelope: round trips in both Kafka modes, and typed errors for bad records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.events import Envelope, InvalidPayload, InvalidRecord, MalformedRecord, UnknownEventType, new_id
from shared.domain.events.catalogue import Category, Level, Priority, TicketCommented, TicketOpened
from shared.domain.events.envelope import STRUCTURED_CONTENT_TYPE, derived_id

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# what events can carry (StorableModel): no lone surrogates, no NUL
storable = st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="\x00")
text = st.text(storable, min_size=1, max_size=200)


def opened(**over: object) -> TicketOpened:
    base: dict[str, object] = dict(
        ticket_id="T-1",
        requester="ana",
        subject="Pedido",
        description="No llegó",
        category="order_status",
        impact="low",
        urgency="high",
        priority="P3",
    )
    return TicketOpened.model_validate({**base, **over})


@given(
    subject=text,
    description=st.text(storable, min_size=1, max_size=2000),
    category=st.sampled_from(Category),
    impact=st.sampled_from(Level),
    urgency=st.sampled_from(Level),
    priority=st.sampled_from(Priority),
    offset=st.integers(min_value=0, max_value=10**9),
    actor=text,
)
def test_binary_mode_round_trip(
    subject: str,
    description: str,
    category: Category,
    impact: Level,
    urgency: Level,
    priority: Priority,
    offset: int,
    actor: str,
) -> None:
    data = opened(
        subject=subject[:300],
        description=description,
        category=category,
        impact=impact,
        urgency=urgency,
        priority=priority,
    )
    env = Envelope.new(data, source="intake", subject="T-1", time=T0 + timedelta(microseconds=offset), actor=actor)
    key, value, headers = env.to_kafka()
    assert key == b"T-1"
    assert Envelope.from_kafka(key, value, headers) == env


def test_structured_mode_is_accepted() -> None:
    env = Envelope.new(opened(), source="erp", subject="T-1", time=T0)
    doc = env.to_json()
    back = Envelope.from_kafka(b"T-1", json.dumps(doc).encode(), [("content-type", STRUCTURED_CONTENT_TYPE.encode())])
    assert back == env


def test_caused_events_inherit_correlation_and_get_a_stable_id() -> None:
    cause = Envelope.new(opened(), source="intake", subject="T-1", time=T0)
    body = TicketCommented(ticket_id="T-1", author="bot", author_role="system", body="hola")
    a = Envelope.new(body, source="notify", subject="T-1", time=T0 + timedelta(seconds=5), cause=cause)
    b = Envelope.new(body, source="notify", subject="T-1", time=T0 + timedelta(seconds=9), cause=cause)
    c = Envelope.new(body, source="notify", subject="T-1", time=T0, cause=cause, seq=1)
    assert a.correlationid == cause.correlationid == str(cause.id)
    assert a.causationid == str(cause.id)
    assert a.id == b.id != c.id
    assert a.id.version == 7


@given(st.uuids(), st.text(max_size=40), st.integers(0, 5), st.integers(0, 2**40))
def test_derived_ids_are_valid_uuid7_carrying_the_time(cause: object, kind: str, seq: int, ms: int) -> None:
    when = datetime.fromtimestamp(ms / 1000, UTC)
    uid = derived_id(cause, kind, seq, when)  # type: ignore[arg-type]
    assert uid.version == 7
    assert uid.variant == "specified in RFC 4122"
    assert uid.int >> 80 == ms


def test_new_ids_are_time_ordered() -> None:
    ids = [new_id() for _ in range(200)]
    assert [i.int >> 80 for i in ids] == sorted(i.int >> 80 for i in ids)


def _headers(env: Envelope) -> list[tuple[str, bytes]]:
    return env.to_kafka()[2]


@pytest.mark.parametrize(
    ("value", "mutate", "error", "fragment"),
    [
        (b"\xff\xfe", None, MalformedRecord, "not JSON"),
        (b"[1, 2]", None, InvalidPayload, "JSON object"),
        (None, None, MalformedRecord, "no value"),
        (b"{}", ("ce_type", b"ticket.vanished"), UnknownEventType, "ticket.vanished"),
        (b"{}", ("ce_dataversion", b"9"), UnknownEventType, "version 9"),
        (b"{}", ("ce_id", b"42"), MalformedRecord, "not a UUID"),
        (b"{}", ("ce_specversion", b"0.3"), MalformedRecord, "specversion"),
        (b"{}", ("ce_time", b"yesterday"), MalformedRecord, "RFC 3339"),
        (b"{}", ("ce_time", b"2026-11-25T10:00:00"), MalformedRecord, "UTC offset"),
        (b'{"ticket_id": "T-1"}', None, InvalidPayload, "requester: Field required"),
    ],
)
def test_bad_records_raise_typed_errors(
    value: bytes | None, mutate: tuple[str, bytes] | None, error: type[InvalidRecord], fragment: str
) -> None:
    headers = _headers(Envelope.new(opened(), source="x", subject="T-1", time=T0))
    if mutate:
        headers = [(k, mutate[1] if k == mutate[0] else v) for k, v in headers]
    with pytest.raises(error) as info:
        Envelope.from_kafka(b"T-1", value, headers)
    assert fragment in info.value.reason


def test_missing_attributes_are_named() -> None:
    headers = [
        (k, v)
        for k, v in _headers(Envelope.new(opened(), source="x", subject="T-1", time=T0))
        if k not in ("ce_id", "ce_source")
    ]
    with pytest.raises(MalformedRecord, match="id, source"):
        Envelope.from_kafka(b"T-1", opened().model_dump_json().encode(), headers)


def test_unknown_payload_fields_are_refused() -> None:
    env = Envelope.new(opened(), source="x", subject="T-1", time=T0)
    key, value, headers = env.to_kafka()
    doc = json.loads(value) | {"card_number": "4111111111111111"}
    with pytest.raises(InvalidPayload, match="card_number"):
        Envelope.from_kafka(key, json.dumps(doc).encode(), headers)


def test_attribute_headers_must_be_utf8_and_other_headers_are_not_ours_to_judge() -> None:
    env = Envelope.new(opened(), source="x", subject="T-1", time=T0)
    key, value, headers = env.to_kafka()
    # another system's binary header (a tracing context, a checksum) does not spoil the event
    assert Envelope.from_kafka(key, value, [*headers, ("x-checksum", b"\xff\xfe")]) == env
    # an attribute's or the content type's does; names are case-insensitive, every time
    for _ in range(2):  # the second time through, the names' roles are remembered
        for name in ("ce_actor", "CE_Actor", "Content-Type"):
            with pytest.raises(MalformedRecord, match=f"header {name} is not UTF-8"):
                Envelope.from_kafka(key, value, [*headers, (name, b"\xff")])
    mixed = [(k.upper() if k.startswith("ce_") else k, v) for k, v in headers]
    assert Envelope.from_kafka(key, value, mixed) == env
