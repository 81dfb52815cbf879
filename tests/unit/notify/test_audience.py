"""Who hears about what, in which words: notify's rules without Kafka, PostgreSQL or SMTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify import audience
from services.notify.audience import Audience, Preferences, Staff, TicketFacts, To
from services.notify.templates import TEMPLATES
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TID = "T-0000AAAA"
REF = "R-0123456789ABCDEF"
WHO = Audience("https://mesa.example", "clientes.example", ("sup@mesa.example", "jefa@mesa.example"), "es")
TICKET = TicketFacts(TID, "lucia@example.com", "La tablet no enciende", "en", REF, "ana")
ANA = Staff("Ana Ruiz", "ana@mesa.example")


def env(payload: Payload) -> Envelope:
    return Envelope.new(payload, source="intake", subject=TID, time=NOW)


def told(payload: Payload, prefs: Preferences | None = None, owner: Staff | None = ANA) -> list[tuple[str, str, str]]:
    return [(m.to.label, m.template, m.language) for m in audience.messages(env(payload), TICKET, prefs, owner, WHO)]


REQUESTER = f"requester:{REF}"
TARGETS = ev.TicketSlaTargetsSet(
    ticket_id=TID, priority=ev.Priority.P2, first_response_due=NOW, resolution_due=NOW + timedelta(hours=8)
)


def test_the_requester_hears_what_needs_them_in_their_language_by_pseudonym() -> None:
    assert told(TARGETS) == [(REQUESTER, "received", "en")]
    assert told(ev.TicketInfoRequested(ticket_id=TID, agent_id="ana", question="¿?")) == [
        (REQUESTER, "info_requested", "en")
    ]
    assert told(ev.TicketCommented(ticket_id=TID, author="ana", author_role="agent", body="hola")) == [
        (REQUESTER, "update", "en")
    ]
    assert told(ev.TicketInfoReminder(ticket_id=TID, asked_at=NOW)) == [(REQUESTER, "reminder", "en")]
    assert told(ev.TicketResolved(ticket_id=TID, agent_id="ana", summary="ok")) == [(REQUESTER, "resolved", "en")]
    assert told(ev.TicketClosed(ticket_id=TID, by="ana", reason="r")) == [(REQUESTER, "closed", "en")]
    [m] = audience.messages(env(TARGETS), TICKET, None, ANA, WHO)
    assert m.to == To(REQUESTER, "lucia@example.com")


def test_internal_notes_and_the_requesters_own_words_tell_nobody() -> None:
    assert told(ev.TicketCommented(ticket_id=TID, author="ana", author_role="agent", body="n", internal=True)) == []
    assert told(ev.TicketCommented(ticket_id=TID, author=REF, author_role="requester", body="b")) == []
    assert told(ev.TicketSlaPaused(ticket_id=TID, at=NOW)) == []


def test_a_preferred_language_wins_and_status_updates_can_be_declined() -> None:
    assert told(TARGETS, Preferences("es")) == [(REQUESTER, "received", "es")]
    late = ev.TicketSlaBreached(ticket_id=TID, target="next_response", due=NOW)
    assert told(late) == [(REQUESTER, "status_update", "en")]
    assert told(late, Preferences(None, periodic_updates=False)) == []
    # what needs their answer goes anyway
    assert told(ev.TicketInfoRequested(ticket_id=TID, agent_id="ana", question="q"), Preferences(None, False))


def test_staff_hear_warnings_breaches_and_escalations_in_the_staff_language() -> None:
    warn = ev.TicketSlaWarning(ticket_id=TID, target="resolution", due=NOW)
    assert told(warn) == [("ana@mesa.example", "sla_warning", "es")]
    assert told(warn, owner=None) == []
    assert told(ev.TicketSlaWarning(ticket_id=TID, target="next_response", due=NOW)) == []
    breach = ev.TicketSlaBreached(ticket_id=TID, target="resolution", due=NOW)
    assert [to for to, _, _ in told(breach)] == ["ana@mesa.example", "sup@mesa.example", "jefa@mesa.example"]
    assert [to for to, _, _ in told(breach, owner=None)] == ["sup@mesa.example", "jefa@mesa.example"]
    up = ev.TicketEscalated(
        ticket_id=TID, from_level=1, to_level=2, reason="motivo", by="sla", reason_en="why", target="resolution"
    )
    [m, _, customer] = audience.messages(env(up), TICKET, None, ANA, WHO)
    assert m.params["reason"] == "motivo" and m.language == "es"
    english = Audience(WHO.public_url, WHO.user_domain, WHO.supervisors, "en")
    [m, _, _] = audience.messages(env(up), TICKET, None, ANA, english)
    assert m.params["reason"] == "why"
    # the customer is told too, in their language and plain words, never the team's notes
    assert (customer.template, customer.to, customer.language) == ("escalated_requester", WHO.requester(TICKET), "en")
    assert "priority" in customer.params["why"] and "motivo" not in str(customer.words())
    by_hand = audience.messages(env(up.model_copy(update={"target": None})), TICKET, None, ANA, WHO)[-1]
    assert "experience" in by_hand.params["why"]


def test_an_old_ticket_without_a_pseudonym_is_named_by_its_address() -> None:
    old = TicketFacts(TID, "pedro", "s", "es")
    assert WHO.requester(old) == To("pedro@clientes.example", "pedro@clientes.example")


def test_an_undelivered_mail_is_told_to_the_owner_else_the_supervisors_never_about_itself() -> None:
    assert [m.to.label for m in audience.undelivered(TICKET, ANA, "resolved", WHO)] == ["ana@mesa.example"]
    assert [m.to.label for m in audience.undelivered(TICKET, None, "resolved", WHO)] == list(WHO.supervisors)
    assert audience.undelivered(TICKET, ANA, "delivery_failed", WHO) == []
    assert audience.undelivered(TICKET, ANA, "digest", WHO) == []


def test_the_digest_lists_open_tickets_due_first_and_none_for_an_empty_queue() -> None:
    day = NOW.date()
    assert audience.digest(ANA, [], day, WHO) is None
    tickets = [
        audience.OpenTicket("T-1", "uno", "assigned", "P1", NOW),
        audience.OpenTicket("T-2", "dos", "new", "P3", None),
    ]
    m = audience.digest(ANA, tickets, day, WHO)
    assert (
        m is not None and m.params["count"] == "2" and m.params["items"].index("T-1") < m.params["items"].index("T-2")
    )
    subject, body = m.words()
    assert "2" in subject and "uno" in body


@pytest.mark.parametrize(("hour", "due"), [(7, None), (8, True), (23, True)])
def test_the_digest_is_due_from_its_hour(hour: int, due: bool | None) -> None:
    at = datetime(2026, 3, 2, hour, 30, tzinfo=UTC)
    assert (audience.digest_day(at, 8, "UTC") is not None) == bool(due)


@given(st.integers(0, 12), st.floats(1, 1.25))
def test_retries_back_off_exponentially_and_never_wait_more_than_six_minutes(attempts: int, jitter: float) -> None:
    delay = audience.backoff(attempts, 2.0, jitter)
    assert timedelta(seconds=2) <= delay <= timedelta(seconds=375)
    if attempts < 7:
        assert delay == timedelta(seconds=2 * 2**attempts * jitter)


def test_an_error_that_echoes_the_address_keeps_the_label() -> None:
    error = "550 lucia@example.com: mailbox unavailable"
    assert audience.without(error, "lucia@example.com", REQUESTER) == f"550 {REQUESTER}: mailbox unavailable"
    assert audience.without(error, None, REQUESTER) == error


@pytest.mark.parametrize("template", sorted(TEMPLATES))
@pytest.mark.parametrize("language", ["es", "en"])
def test_every_mail_renders_in_both_languages(template: str, language: str) -> None:
    words = "ticket_id subject url priority first_response_due resolution_due agent_name reason question body"
    words += (
        " target due owner from_level to_level summary kb_url mail day count items into into_url rating comment why"
        " review_id sample_size period figures owner_name by what category level"
    )
    params = dict.fromkeys(words.split(), "x")
    subject, body = audience.Message(To.staff("a@b"), template, language, params).words()
    assert subject.strip() and body.strip()
    other = audience.Message(To.staff("a@b"), template, "en" if language == "es" else "es", params).words()
    assert other != (subject, body)


def test_the_owner_hears_back_when_the_requester_answers_or_reopens() -> None:
    answer = ev.TicketCustomerReplied(ticket_id=TID, requester=TICKET.requester, body="Es una HP")
    assert told(answer) == [("ana@mesa.example", "customer_replied", "es")]
    assert told(answer, owner=None) == []
    [m] = audience.messages(env(answer), TICKET, None, ANA, WHO)
    assert m.params["body"] == "Es una HP" and m.params["url"].endswith(TID)
    by_requester = ev.TicketReopened(ticket_id=TID, by=TICKET.requester, reason="sigue sin encender")
    assert told(by_requester) == [("ana@mesa.example", "reopened_owner", "es")]
    assert told(ev.TicketReopened(ticket_id=TID, by="ana", reason="lo reabro yo")) == []


def test_a_merged_ticket_tells_its_requester_where_it_goes_on() -> None:
    merged = ev.TicketMerged(ticket_id=TID, into="T-0000ZZZZ", by="ana")
    [m] = audience.messages(env(merged), TICKET, None, ANA, WHO)
    assert (m.template, m.params["into"]) == ("merged", "T-0000ZZZZ") and m.params["into_url"].endswith("T-0000ZZZZ")
    subject, body = m.words()
    assert "T-0000ZZZZ" in subject and m.params["into_url"] in body


def test_a_low_rating_is_followed_up_by_the_supervisors() -> None:
    low = ev.TicketFeedbackGiven(ticket_id=TID, requester=TICKET.requester, rating=2, comment="No me ayudaron")
    messages = audience.messages(env(low), TICKET, None, ANA, WHO)
    assert {m.template for m in messages} == {"low_rating"} and len(messages) == len(WHO.supervisors) >= 1
    assert messages[0].params["comment"] == "No me ayudaron" and messages[0].params["rating"] == "2"
    assert audience.messages(env(low.model_copy(update={"rating": 3})), TICKET, None, ANA, WHO) == []


def test_a_periodic_audit_is_mailed_to_supervisors_and_auditors_with_figures_and_sample() -> None:
    from datetime import date

    review = ev.ReviewOpened(
        review_id="2026-10",
        period_from=date(2026, 10, 1),
        period_to=date(2026, 10, 31),
        sample=(TID, "T-0000ZZZZ"),
        seed=7,
        figures=ev.ReviewFigures(tickets=40, resolution_met_pct=92.5, csat_average=4.1, csat_responses=12),
        scheduled=True,
        by="schedule",
    )
    who = audience.Audience(
        "https://mesa.example", "clientes.example", ("sup@x", "both@x"), auditors=("aud@x", "both@x")
    )
    messages = audience.audit_review(review, who)
    assert [m.to.address for m in messages] == ["sup@x", "both@x", "aud@x"]  # each once
    subject, body = messages[0].words()
    assert "2026-10" in subject and "2 tickets" in subject
    assert "92.5 %" in body and "4.1 (12)" in body and "sin datos" not in body
    assert f"https://mesa.example/t/{TID}" in body and "https://mesa.example/audits/2026-10" in body
    assert "Primera respuesta a tiempo: —" in body  # no data is said, not a zero


def test_an_action_is_mailed_to_its_owner() -> None:
    from datetime import date

    planned = ev.ActionPlanned(
        action_id="A-0000AAAA",
        what="Plantilla de devoluciones",
        owner="ana",
        due=date(2026, 12, 15),
        by="supervisor:sara",
    )
    m = audience.action_assigned(planned, audience.Staff("Ana", "ana@x"), WHO)
    subject, body = m.words()
    assert m.to.address == "ana@x" and "2026-12-15" in subject
    assert "sara" in body and "Plantilla de devoluciones" in body and "/audits#A-0000AAAA" in body
