"""A ticket as every service and view sees it: the status machine and the fold of its events.

`evolve(ticket, event)` is pure and total: any event of the catalogue, in any state, gives a
ticket (events are facts; a fact that does not fit the status is recorded, not refused). Intake
decides commands against this state; projections show it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Category, Level, Priority, Status
from shared.domain.models import replace
from shared.domain.privacy import ERASED

OPEN_STATUSES = frozenset({Status.new, Status.assigned, Status.in_progress, Status.waiting_on_customer})
MAX_LEVEL = 3

# What an open ticket costs its owner: capacity and load are counted in these units.
PRIORITY_WEIGHT: dict[Priority, int] = {Priority.P1: 3, Priority.P2: 2, Priority.P3: 1, Priority.P4: 1}


class Ticket(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    requester: str
    subject: str
    category: Category
    impact: Level
    urgency: Level
    priority: Priority
    language: str = "es"
    status: Status = Status.new
    owner: str | None = None
    level: int = 1
    version: int = 0
    touched: int = 0  # the version of the last change in substance (not a mail sent, not an SLA clock)
    opened_at: datetime
    updated_at: datetime
    pending_question: bool = False
    resolution: str | None = None
    confirmed: bool = False
    feedback_rating: int | None = None
    reopen_count: int = 0
    escalations: int = 0
    order_id: str | None = None
    tags: tuple[str, ...] = ()  # sorted
    links: tuple[str, ...] = ()  # related tickets this one named (the other side reads it too)
    merged_into: str | None = None  # closed as a duplicate of that ticket
    fields: tuple[str, ...] = ()  # the custom fields that have a value (the values are sealed text)
    erased: bool = False  # the requester's personal data was erased (shared.domain.privacy)


def evolve(ticket: Ticket | None, env: Envelope) -> Ticket | None:
    """The ticket after `env`. Events about a ticket never opened leave it absent."""
    d = env.data
    if isinstance(d, ev.TicketOpened):
        if ticket is not None:
            return replace(ticket, {"version": ticket.version + 1})
        return Ticket(
            id=d.ticket_id,
            requester=d.requester,
            subject=d.subject,
            category=d.category,
            impact=d.impact,
            urgency=d.urgency,
            priority=d.priority,
            language=d.language,
            opened_at=env.time,
            updated_at=env.time,
            version=1,
            touched=1,
            order_id=d.order_id,
        )
    if ticket is None:
        return None
    changes: dict[str, object] = {"version": ticket.version + 1, "updated_at": env.time}
    status = ticket.status
    match d:
        case ev.TicketCategorized():
            changes |= {"category": d.category, "priority": d.priority}
            if d.impact is not None:
                changes["impact"] = d.impact
            if d.urgency is not None:
                changes["urgency"] = d.urgency
        case ev.TicketAssigned():
            changes |= {"owner": d.agent_id, "level": max(ticket.level, d.level)}
            if status == Status.new:
                changes["status"] = Status.assigned
        case ev.TicketUnassigned():
            if ticket.owner == d.agent_id:
                changes["owner"] = None
                if status == Status.assigned:
                    changes["status"] = Status.new
        case ev.TicketQueued():
            # routing queues a ticket only once nobody holds it (an escalation, an owner gone
            # offline or removed, a reopening its owner cannot take): no owner while it waits
            changes |= {"owner": None, "level": max(ticket.level, d.level)}
            if status == Status.assigned:
                changes["status"] = Status.new
        case ev.TicketCommented():
            public_agent = d.author_role == "agent" and not d.internal
            if public_agent and status == Status.assigned:
                changes["status"] = Status.in_progress
        case ev.TicketInfoRequested():
            changes |= {"status": Status.waiting_on_customer, "pending_question": True}
        case ev.TicketCustomerReplied():
            changes["pending_question"] = False
            if status == Status.waiting_on_customer:
                changes["status"] = Status.in_progress
        case ev.TicketResolved():
            changes |= {"status": Status.resolved, "resolution": d.summary, "pending_question": False}
        case ev.TicketResolutionConfirmed():
            changes["confirmed"] = True
        case ev.TicketResolutionRejected():
            changes |= {"status": Status.in_progress, "confirmed": False}
        case ev.TicketReopened():
            changes |= {
                "status": Status.assigned if ticket.owner else Status.new,
                "confirmed": False,
                "reopen_count": ticket.reopen_count + 1,
                "feedback_rating": None,
            }
        case ev.TicketClosed():
            changes |= {"status": Status.closed, "pending_question": False}
        case ev.TicketMerged():
            changes |= {"status": Status.closed, "pending_question": False, "merged_into": d.into}
        case ev.TicketTagged():
            changes["tags"] = tuple(sorted((set(ticket.tags) | set(d.added)) - set(d.removed)))
        case ev.TicketFieldsSet():
            changes["fields"] = tuple(sorted((set(ticket.fields) | {v.field for v in d.values}) - set(d.cleared)))
        case ev.TicketLinked():
            others = [o for o in ticket.links if o != d.other]
            changes["links"] = tuple(others if d.unlinked else [*others, d.other])
        case ev.TicketEscalated():
            changes |= {"level": d.to_level, "escalations": ticket.escalations + 1}
        case ev.TicketFeedbackGiven():
            changes["feedback_rating"] = d.rating
        case ev.TicketRequesterErased():
            changes |= {"erased": True, "requester": d.requester, "subject": ERASED}
            if ticket.resolution is not None:
                changes["resolution"] = ERASED
        case _:
            pass  # SLA and notification facts do not change the ticket itself
    if not isinstance(d, QUIET):
        changes["touched"] = ticket.version + 1
    return replace(ticket, changes)


# Facts about a ticket that change nothing a person acts on: a form drawn before them is not stale.
QUIET = (
    ev.TicketSlaTargetsSet
    | ev.TicketSlaFirstResponseMet
    | ev.TicketSlaPaused
    | ev.TicketSlaResumed
    | ev.TicketSlaWarning
    | ev.TicketSlaMet
    | ev.TicketSlaBreached
    | ev.TicketInfoReminder
    | ev.NotificationSent
    | ev.NotificationFailed
)


def stale(ticket: Ticket, drawn_at: int) -> bool:
    """Is a form (an `If-Match`) drawn at version `drawn_at` stale? Only if the ticket changed in
    substance since, or the version is not one it had: a mail sent or an SLA clock moving meanwhile
    does not make people type again."""
    return drawn_at > ticket.version or drawn_at < ticket.touched
