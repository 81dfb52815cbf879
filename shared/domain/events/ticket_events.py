"""ticket.events (the lifecycle log) and audit.access (who read which ticket): every fact about a
ticket, one class each. Marks (shared.domain.events.marks) say what of each field is sealed,
personal, operational or public."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.domain.events.marks import Operational, Personal, Plain, Public, Sealed
from shared.domain.events.registry import Payload, event
from shared.domain.events.vocabulary import (
    Attachment,
    CandidateView,
    Category,
    FieldValue,
    Id,
    Level,
    Priority,
    SealableShort,
    SealableText,
    Short,
    Slug,
    Tag,
    Text,
    TicketId,
    _plain_at_most,
)


@event("ticket.opened", owner="intake", audience="requester")
class TicketOpened(Payload):
    ticket_id: Id
    requester: Annotated[Id, Personal]
    subject: Annotated[SealableShort, Public]
    description: Annotated[SealableText, Public]
    category: Annotated[Category, Public]
    category_guessed: bool = False
    impact: Annotated[Level, Public]
    urgency: Annotated[Level, Public]
    priority: Annotated[Priority, Public]
    order_id: Annotated[Id | None, Public] = None
    language: Annotated[str, Field(pattern=r"^(es|en)$")] = "es"
    attachments: Annotated[tuple[Attachment, ...], Public] = ()
    channel: Annotated[str, Field(max_length=40), Plain, Public] = "web"
    follows: Annotated[Id | None, Public] = None  # the closed ticket this one goes on from


@event("ticket.categorized", owner="intake", audience="requester")
class TicketCategorized(Payload):
    """Category, impact or urgency changed by hand; `priority` follows from the matrix."""

    ticket_id: Id
    category: Annotated[Category, Public]
    priority: Annotated[Priority, Public]
    reason: Annotated[Short, Operational]
    impact: Level | None = None
    urgency: Level | None = None
    by: Id | None = None


@event("ticket.assigned", owner="routing", audience="requester")
class TicketAssigned(Payload):
    """`reason` is for people; `criterion` and `candidates` say the same for machines.
    (Added fields have defaults: records written before them still read.)"""

    ticket_id: Id
    agent_id: Annotated[Id, Public]
    level: Annotated[int, Field(ge=1, le=3), Public]
    reason: Annotated[str, Field(min_length=1, max_length=2_000), Operational]
    previous_agent_id: Id | None = None
    criterion: Annotated[str, Field(max_length=60), Operational] = ""
    candidates: tuple[CandidateView, ...] = ()
    weight: Annotated[int, Field(ge=1, le=10)] = 1
    by: Id | None = None  # a supervisor's manual reassignment


@event("ticket.queued", owner="routing", audience="staff")
class TicketQueued(Payload):
    """Nobody fits now: the ticket waits in its level's queue until someone frees up."""

    ticket_id: Id
    level: Annotated[int, Field(ge=1, le=3)]
    category: Category
    reason: Annotated[str, Field(min_length=1, max_length=2_000), Operational]


@event("ticket.unassigned", owner="routing", audience="staff")
class TicketUnassigned(Payload):
    ticket_id: Id
    agent_id: Id
    reason: Annotated[Short, Operational]


@event("ticket.commented", owner="intake", audience="requester")
class TicketCommented(Payload):
    ticket_id: Id
    author: Annotated[Id, Personal, Public]
    author_role: Annotated[str, Field(pattern=r"^(requester|agent|system)$"), Public]
    body: Annotated[SealableText, Public]
    internal: bool = False
    attachments: Annotated[tuple[Attachment, ...], Public] = ()


@event("ticket.info_requested", owner="intake", audience="requester")
class TicketInfoRequested(Payload):
    ticket_id: Id
    agent_id: Annotated[Id, Public]
    question: Annotated[SealableText, Public]


@event("ticket.customer_replied", owner="intake", audience="requester")
class TicketCustomerReplied(Payload):
    ticket_id: Id
    requester: Annotated[Id, Personal]
    body: Annotated[SealableText, Public]
    attachments: Annotated[tuple[Attachment, ...], Public] = ()


@event("ticket.sla_targets_set", owner="sla", audience="requester")
class TicketSlaTargetsSet(Payload):
    """Set at opening, and again when the priority changes. `remaining`: set when the new
    targets arrive while the clock is paused (the business time left once it resumes)."""

    ticket_id: Id
    priority: Annotated[Priority, Public]
    first_response_due: Annotated[datetime, Public]
    resolution_due: Annotated[datetime, Public]
    calendar: Annotated[Short, Plain] = "24x7"
    timezone: Annotated[Short, Plain, Public] = "UTC"  # the calendar's zone: how due times are told to people
    remaining: timedelta | None = None
    # the policy's target lengths when these were set: a later policy change does not alter them
    first_response_target: timedelta | None = None
    resolution_target: timedelta | None = None
    next_response_target: timedelta | None = None


@event("ticket.sla_first_response_met", owner="sla", audience="staff")
class TicketSlaFirstResponseMet(Payload):
    ticket_id: Id
    at: datetime


@event("ticket.sla_paused", owner="sla", audience="staff")
class TicketSlaPaused(Payload):
    ticket_id: Id
    at: datetime


@event("ticket.sla_resumed", owner="sla", audience="staff")
class TicketSlaResumed(Payload):
    ticket_id: Id
    at: datetime
    resolution_due: datetime


@event("ticket.sla_warning", owner="sla", audience="staff")
class TicketSlaWarning(Payload):
    ticket_id: Id
    target: Annotated[str, Field(pattern=r"^(first_response|next_response|resolution)$")]
    due: datetime
    fraction: Annotated[float, Field(gt=0, lt=1)] = 0.75


@event("ticket.info_reminder", owner="sla", audience="staff")
class TicketInfoReminder(Payload):
    """The requester has not answered our question for a while: remind them."""

    ticket_id: Id
    asked_at: datetime


@event("ticket.sla_met", owner="sla", audience="staff")
class TicketSlaMet(Payload):
    """The ticket was resolved within its resolution target."""

    ticket_id: Id
    due: datetime
    at: datetime


@event("ticket.sla_breached", owner="sla", audience="staff")
class TicketSlaBreached(Payload):
    ticket_id: Id
    target: Annotated[str, Field(pattern=r"^(first_response|next_response|resolution)$")]
    due: datetime


@event("ticket.escalated", owner=("intake", "sla"), audience="requester")
class TicketEscalated(Payload):
    """`reason` in the ticket's language; `reason_en` in English when SLA wrote it."""

    ticket_id: Id
    from_level: Annotated[int, Field(ge=1, le=3), Public]
    to_level: Annotated[int, Field(ge=1, le=3), Public]
    reason: Annotated[Text, Operational]
    by: Id
    reason_en: Annotated[str, Field(max_length=20_000), Operational] = ""
    target: Annotated[str, Field(pattern=r"^(first_response|resolution)$")] | None = None


@event("ticket.resolved", owner=("intake", "sla"), audience="requester")
class TicketResolved(Payload):
    ticket_id: Id
    agent_id: Annotated[Id, Public]
    summary: Annotated[SealableText, Public]


@event("ticket.resolution_confirmed", owner="intake", audience="requester")
class TicketResolutionConfirmed(Payload):
    ticket_id: Id
    requester: Annotated[Id, Personal]


@event("ticket.resolution_rejected", owner="intake", audience="requester")
class TicketResolutionRejected(Payload):
    ticket_id: Id
    requester: Annotated[Id, Personal]
    reason: Annotated[SealableText, Public]


@event("ticket.reopened", owner="intake", audience="requester")
class TicketReopened(Payload):
    ticket_id: Id
    by: Annotated[Id, Personal]
    reason: Annotated[SealableText, Public]
    attachments: Annotated[tuple[Attachment, ...], Public] = ()


@event("ticket.closed", owner=("intake", "sla"), audience="requester")
class TicketClosed(Payload):
    ticket_id: Id
    by: Annotated[Id, Personal]
    reason: Annotated[SealableShort, Public]


@event("ticket.feedback_given", owner="intake", audience="requester")
class TicketFeedbackGiven(Payload):
    ticket_id: Id
    requester: Annotated[Id, Personal]
    rating: Annotated[int, Field(ge=1, le=5), Public]
    comment: Annotated[str, Field(max_length=40_000), AfterValidator(_plain_at_most(5_000)), Sealed, Public] = ""


@event("ticket.tagged", owner="intake", audience="staff")
class TicketTagged(Payload):
    """Staff's labels on a ticket (carrier, return reason, ...), to find, filter and report by."""

    ticket_id: Id
    added: Annotated[tuple[Tag, ...], Field(max_length=30)] = ()
    removed: Annotated[tuple[Tag, ...], Field(max_length=30)] = ()
    by: Id


@event("ticket.linked", owner="intake", audience="staff")
class TicketLinked(Payload):
    """Two tickets are related (read both ways); `unlinked`: the relation is taken back."""

    ticket_id: Id
    other: TicketId
    unlinked: bool = False
    by: Id


@event("ticket.merged", owner="intake", audience="requester")
class TicketMerged(Payload):
    """A duplicate is closed into `into`: the conversation goes on there, its own is read there
    too. Closes the ticket as `ticket.closed` does (load released, SLA stopped)."""

    ticket_id: Id
    into: Annotated[TicketId, Public]
    by: Id
    reason: Annotated[Short, Operational] = "duplicate"


@event("ticket.macro_applied", owner="intake", audience="staff")
class TicketMacroApplied(Payload):
    """A macro was applied: its effects follow as their own events (the text as a comment, a
    question or the resolution; category, tags), caused by this one command."""

    ticket_id: Id
    macro_id: Slug
    name: Annotated[Short, Operational]
    by: Id


@event("ticket.fields_set", owner="intake", audience="staff")
class TicketFieldsSet(Payload):
    """Custom field values given (`values`) or taken away (`cleared`)."""

    ticket_id: Id
    values: Annotated[tuple[FieldValue, ...], Field(max_length=50)] = ()
    cleared: Annotated[tuple[Slug, ...], Field(max_length=50)] = ()
    by: Id


@event("ticket.requester_erased", owner="intake", audience="staff")
class TicketRequesterErased(Payload):
    """The requester's data key was deleted (`mesa erase requester`): the text sealed with it
    is unreadable from now on, in every copy of the log. Says nothing about who they were."""

    ticket_id: Id
    requester: Id  # the pseudonym
    by: Id
    reason: Annotated[Short, Operational]


@event("notification.sent", owner="notify", audience="staff")
class NotificationSent(Payload):
    ticket_id: Id
    about_event_id: Id
    channel: Annotated[str, Field(pattern=r"^(email|webhook)$")]
    recipient: Annotated[Short, Plain]  # a requester by pseudonym, staff by address, a webhook by id
    template: Annotated[Short, Plain]


@event("notification.failed", owner="notify", audience="staff")
class NotificationFailed(Payload):
    ticket_id: Id
    about_event_id: Id
    channel: Annotated[str, Field(pattern=r"^(email|webhook)$")]
    recipient: Annotated[Short, Plain]  # a requester by pseudonym, staff by address, a webhook by id
    reason: Annotated[Text, Operational]
    attempts: Annotated[int, Field(ge=1)]


# audit.access: who read which ticket (staff and auditors), an immutable log of its own.


@event("access.ticket_read", owner=("projections", "intake"), audience="staff")
class TicketRead(Payload):
    """A read of a ticket's content by staff, an auditor or another system: through the query
    API or a page (projections), or a file downloaded (intake)."""

    ticket_id: Id
    reader: Annotated[Short, Plain]  # role:id
    via: Annotated[str, Field(pattern=r"^(api|page|download)$")]
