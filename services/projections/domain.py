"""The projections' fold, pure: a ticket's view (the agreed status machine, plus the SLA,
feedback and queue columns) after one more event. No I/O: the handlers load a batch's tickets
once, fold in memory, and write each changed ticket once (services/projections/store.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.privacy import ERASED
from shared.domain.ticket import Ticket, evolve


@dataclass
class TicketView:
    """One row of `tickets` while a batch is folded into it."""

    ticket: Ticket
    description: str
    opened_at: datetime
    updated_at: datetime
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_at: datetime | None = None
    sla_state: str | None = None
    breached: list[str] = field(default_factory=list)
    feedback_rating: int | None = None
    feedback_comment: str | None = None
    queued_at: datetime | None = None
    resolved_at: datetime | None = None
    conversation_public: str = ""  # what was written on the ticket, for search (the requester's side)
    conversation_internal: str = ""  # staff's internal notes, searched by staff only

    @property
    def words(self) -> tuple[str, str, str, str]:
        """What search reads of the ticket: when it is unchanged, its words are not written again."""
        return (self.ticket.subject, self.description, self.conversation_public, self.conversation_internal)


CONVERSATION_LIMIT = 60_000  # characters of each conversation kept for search (the first ones)


def _said(so_far: str, part: str) -> str:
    if not part:
        return so_far
    return ((so_far + "\n" + part) if so_far else part)[:CONVERSATION_LIMIT]


def fold_words(v: TicketView, env: Envelope) -> None:
    """The words a ticket event adds to what search reads (pure)."""
    d = env.data
    match d:
        case ev.TicketCommented() if d.internal:
            v.conversation_internal = _said(v.conversation_internal, d.body)
        case ev.TicketCommented() | ev.TicketCustomerReplied():
            v.conversation_public = _said(v.conversation_public, d.body)
        case ev.TicketInfoRequested():
            v.conversation_public = _said(v.conversation_public, d.question)
        case ev.TicketResolved():
            v.conversation_public = _said(v.conversation_public, d.summary)
        case ev.TicketReopened() | ev.TicketResolutionRejected():
            v.conversation_public = _said(v.conversation_public, d.reason)


def fold_sla(v: TicketView, env: Envelope) -> None:
    """The SLA, feedback and queue columns a ticket event changes (pure)."""
    d = env.data
    match d:
        case ev.TicketSlaTargetsSet():
            v.first_response_due, v.resolution_due = d.first_response_due, d.resolution_due
            v.sla_state = "breached" if v.breached else "running"
        case ev.TicketSlaFirstResponseMet():
            v.first_response_at = d.at
        case ev.TicketSlaPaused():
            if v.sla_state == "running":
                v.sla_state = "paused"
        case ev.TicketSlaResumed():
            v.resolution_due = d.resolution_due
            if v.sla_state == "paused":
                v.sla_state = "running"
        case ev.TicketSlaBreached():
            v.sla_state = "breached"
            if d.target not in v.breached:
                v.breached.append(d.target)
        case ev.TicketResolved():
            v.resolved_at = env.time
            if v.sla_state in ("running", "paused"):
                v.sla_state = "met"
        case ev.TicketReopened():
            if v.sla_state == "met":
                v.sla_state = "running"
        case ev.TicketQueued():
            v.queued_at = v.queued_at or env.time
        case ev.TicketAssigned():
            v.queued_at = None
        case ev.TicketFeedbackGiven():
            v.feedback_rating, v.feedback_comment = d.rating, d.comment


@dataclass(frozen=True)
class Erased:
    """The requester of a ticket was erased: who they were in the view, and their pseudonym."""

    ticket_id: str
    sub: str
    ref: str


# What the system told someone about a ticket changes nothing of it that a list shows: a mail sent
# does not bring a ticket to the top of "recently updated" (as in the helpdesks people know), and
# the row's update then touches no indexed column, so PostgreSQL keeps it on its page without
# writing the table's ten indexes again (a HOT update; half of a ticket's events are mails).
UNSEEN = (ev.NotificationSent, ev.NotificationFailed)


def fold(view: TicketView | None, env: Envelope) -> tuple[TicketView | None, Erased | None]:
    """The view after `env` (None: an event about a ticket this view never saw opened)."""
    after = evolve(view.ticket if view else None, env)
    if after is None:
        return None, None
    if view is None:
        assert isinstance(env.data, ev.TicketOpened)
        view = TicketView(after, env.data.description, env.time, env.time)
    erased = None
    if isinstance(env.data, ev.TicketRequesterErased):
        erased = Erased(after.id, view.ticket.requester, env.data.requester)
        view.description = ERASED
        view.feedback_comment = ERASED if view.feedback_comment else view.feedback_comment
        view.conversation_public = view.conversation_internal = ""  # out of the search index too
    view.ticket = after
    if not isinstance(env.data, UNSEEN):
        view.updated_at = env.time
    fold_sla(view, env)
    if not after.erased:
        fold_words(view, env)
    return view, erased
