"""The projections' fold without PostgreSQL: a ticket's view after each event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.projections import domain
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.privacy import ERASED

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TID = "T-0000AAAA"
REQ = "lucia@example.com"


def env(payload: Payload, minutes: int) -> Envelope:
    return Envelope.new(payload, source="intake", subject=TID, time=T0 + timedelta(minutes=minutes))


OPENED = ev.TicketOpened(
    ticket_id=TID,
    requester=REQ,
    subject="s",
    description="la tablet no enciende",
    category=ev.Category.hardware,
    impact=ev.Level.low,
    urgency=ev.Level.low,
    priority=ev.Priority.P4,
)


def run(*payloads: Payload) -> domain.TicketView:
    view: domain.TicketView | None = None
    for i, p in enumerate(payloads):
        view, _ = domain.fold(view, env(p, i))
    assert view is not None
    return view


def test_an_event_before_the_opening_is_not_a_ticket_of_this_view() -> None:
    assert domain.fold(None, env(ev.TicketClosed(ticket_id=TID, by="x", reason="r"), 0)) == (None, None)


def test_the_sla_columns_follow_targets_pauses_breaches_and_the_resolution() -> None:
    due = T0 + timedelta(hours=8)
    targets = ev.TicketSlaTargetsSet(ticket_id=TID, priority=ev.Priority.P4, first_response_due=T0, resolution_due=due)
    v = run(OPENED, targets)
    assert (v.sla_state, v.resolution_due) == ("running", due)
    v = run(OPENED, targets, ev.TicketSlaPaused(ticket_id=TID, at=T0))
    assert v.sla_state == "paused"
    later = due + timedelta(hours=1)
    v = run(
        OPENED,
        targets,
        ev.TicketSlaPaused(ticket_id=TID, at=T0),
        ev.TicketSlaResumed(ticket_id=TID, at=T0, resolution_due=later),
    )
    assert (v.sla_state, v.resolution_due) == ("running", later)
    breach = ev.TicketSlaBreached(ticket_id=TID, target="first_response", due=T0)
    v = run(OPENED, targets, breach, breach)
    assert v.sla_state == "breached" and v.breached == ["first_response"]
    v = run(OPENED, targets, ev.TicketResolved(ticket_id=TID, agent_id="ana", summary="ok"))
    assert v.sla_state == "met" and v.resolved_at == T0 + timedelta(minutes=2)
    v = run(
        OPENED,
        targets,
        ev.TicketResolved(ticket_id=TID, agent_id="ana", summary="ok"),
        ev.TicketReopened(ticket_id=TID, by=REQ, reason="no"),
    )
    assert v.sla_state == "running"


def test_the_queue_and_the_feedback_columns() -> None:
    queued = ev.TicketQueued(ticket_id=TID, level=1, category=ev.Category.hardware, reason="nadie")
    v = run(OPENED, queued, queued)
    assert v.queued_at == T0 + timedelta(minutes=1)
    v = run(OPENED, queued, ev.TicketAssigned(ticket_id=TID, agent_id="ana", level=1, reason="r"))
    assert v.queued_at is None and v.ticket.owner == "ana"
    v = run(OPENED, ev.TicketFeedbackGiven(ticket_id=TID, requester=REQ, rating=4, comment="bien"))
    assert (v.feedback_rating, v.feedback_comment) == (4, "bien")


def test_an_erasure_blanks_the_text_and_says_whom_to_scrub() -> None:
    view, _ = domain.fold(None, env(OPENED, 0))
    view, _ = domain.fold(view, env(ev.TicketFeedbackGiven(ticket_id=TID, requester=REQ, rating=4, comment="bien"), 1))
    erased = ev.TicketRequesterErased(ticket_id=TID, requester="R-0123456789ABCDEF", by="admin", reason="RGPD")
    view, gone = domain.fold(view, env(erased, 2))
    assert view is not None and view.description == ERASED and view.feedback_comment == ERASED
    assert gone == domain.Erased(TID, REQ, "R-0123456789ABCDEF")


def test_an_escalation_that_queues_the_ticket_shows_nobody_as_its_owner() -> None:
    """Routing releases the owner when it escalates and queues the ticket: the view must not keep
    showing the old owner (issue 20)."""
    assigned = ev.TicketAssigned(ticket_id=TID, agent_id="bea", level=1, reason="skills")
    escalated = ev.TicketEscalated(ticket_id=TID, from_level=1, to_level=2, reason="sin respuesta", by="sla")
    queued = ev.TicketQueued(ticket_id=TID, level=2, category=ev.Category.hardware, reason="nadie libre en nivel 2")
    v = run(OPENED, assigned, escalated, queued)
    assert v.ticket.owner is None and v.ticket.level == 2 and v.queued_at is not None
    assert v.ticket.status.value == "new"
    # and once someone at level 2 takes it, they are the owner and it is out of the queue
    v = run(OPENED, assigned, escalated, queued, ev.TicketAssigned(ticket_id=TID, agent_id="dan", level=2, reason="x"))
    assert (v.ticket.owner, v.queued_at, v.ticket.status.value) == ("dan", None, "assigned")


def test_a_mail_sent_or_given_up_is_a_new_version_but_not_an_update_of_the_ticket() -> None:
    about = OPENED.ticket_id
    sent = ev.NotificationSent(
        ticket_id=TID, about_event_id=about, channel="email", recipient="req-1", template="received"
    )
    failed = ev.NotificationFailed(
        ticket_id=TID, about_event_id=about, channel="email", recipient="req-1", reason="550", attempts=5
    )
    assigned = ev.TicketAssigned(ticket_id=TID, agent_id="olga", level=1, reason="skills")
    v = run(OPENED, sent, failed)  # minutes 0, 1, 2
    assert (v.ticket.version, v.updated_at) == (3, T0)  # readers of version 3 see it; the list does not move
    v = run(OPENED, sent, assigned)  # the assignment at minute 2 is an update
    assert (v.ticket.version, v.updated_at) == (3, T0 + timedelta(minutes=2))
    v = run(OPENED, assigned, sent)
    assert v.updated_at == T0 + timedelta(minutes=1)
