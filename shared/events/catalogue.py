"""The event catalogue: one versioned pydantic model per event type, and the registry.

Events are past-tense facts. A payload model is registered with its CloudEvents `type` and its
schema version; old versions are upcast on read (never rewritten in the log) by registering an
upcaster from version n to n+1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.events.errors import InvalidPayload, MalformedRecord, UnknownEventType
from shared.privacy import SEALED_PREFIX


def storable(value: Any) -> Any:
    """Text PostgreSQL and every mail client can hold: no NUL characters, no lone surrogates
    (which JSON can carry but UTF-8 cannot); refused before anything is appended or stored."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("is not valid Unicode (a lone surrogate)") from None
    elif isinstance(value, list | tuple):
        for item in value:
            storable(item)
    elif isinstance(value, dict):
        for k, v in value.items():
            storable(k)
            storable(v)
    return value


class StorableModel(BaseModel):
    """A model whose every text field is `storable` (events, commands, API bodies)."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        return storable(value)


class Payload(StorableModel):
    """Base of every event payload: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str]
    version: ClassVar[int]


P = TypeVar("P", bound=type[Payload])
_models: dict[str, type[Payload]] = {}
_owners: dict[str, frozenset[str]] = {}
_upcasters: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


def event(event_type: str, version: int = 1, *, owner: str | tuple[str, ...]) -> Callable[[P], P]:
    """Class decorator: register a payload model as the current version of `event_type`, written
    only by `owner` (the service whose signature a record of this type must carry). A second
    owner is the exception: SLA's timers close, resolve and escalate tickets that intake owns."""

    def register(cls: P) -> P:
        if event_type in _models:
            raise ValueError(f"event type {event_type} registered twice")
        cls.event_type = event_type
        cls.version = version
        _models[event_type] = cls
        _owners[event_type] = frozenset((owner,) if isinstance(owner, str) else owner)
        return cls

    return register


def owners_of(event_type: str) -> frozenset[str]:
    """The services that may sign a record of `event_type` (none for an unknown type)."""
    return _owners.get(event_type, frozenset())


def upcaster(
    event_type: str, from_version: int
) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], Callable[[dict[str, Any]], dict[str, Any]]]:
    """Register a function that turns a `from_version` payload dict into `from_version + 1`."""

    def register(
        fn: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        _upcasters[(event_type, from_version)] = fn
        return fn

    return register


def model_for(event_type: str) -> type[Payload]:
    try:
        return _models[event_type]
    except KeyError:
        raise UnknownEventType(f"unknown event type {event_type!r}") from None


def known_types() -> list[str]:
    return sorted(_models)


def parse_payload(event_type: str, version: int, data: Any) -> Payload:
    """Validate `data` as `event_type` at `version`, upcasting older versions first."""
    model = model_for(event_type)
    if version > model.version or version < 1:
        raise UnknownEventType(f"{event_type} has no schema version {version}")
    if not isinstance(data, dict):
        raise InvalidPayload(f"{event_type}: payload must be a JSON object")
    while version < model.version:
        step = _upcasters.get((event_type, version))
        if step is None:
            raise UnknownEventType(f"{event_type}: no upcaster from version {version}")
        data = step(data)
        version += 1
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidPayload(f"{event_type}: {_summary(exc)}") from None


def parse_payload_json(event_type: str, version: int, raw: bytes) -> Payload:
    """`parse_payload` from the payload's JSON bytes: the current version is validated straight
    from JSON by pydantic-core; an older one is read as a dict and upcast."""
    model = model_for(event_type)
    if version != model.version:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedRecord(f"value is not JSON: {exc}") from None
        return parse_payload(event_type, version, data)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
        if "json_invalid" in kinds:
            raise MalformedRecord(f"value is not JSON: {exc.errors()[0]['msg']}") from None
        if any(e["type"] == "model_type" and not e["loc"] for e in exc.errors()):
            raise InvalidPayload(f"{event_type}: payload must be a JSON object") from None
        raise InvalidPayload(f"{event_type}: {_summary(exc)}") from None


def _summary(exc: ValidationError) -> str:
    errors = exc.errors()
    parts = []
    for err in errors[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return "; ".join(parts) + more


# ---------------------------------------------------------------------------------------------
# Vocabulary shared by events, commands and views.


class Category(StrEnum):
    order_status = "order_status"
    payment = "payment"
    account = "account"
    hardware = "hardware"
    software = "software"
    network = "network"
    other = "other"


class Level(StrEnum):
    high = "high"
    medium = "medium"
    low = "low"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class Status(StrEnum):
    new = "new"
    assigned = "assigned"
    in_progress = "in_progress"
    waiting_on_customer = "waiting_on_customer"
    resolved = "resolved"
    closed = "closed"


Text = Annotated[str, Field(min_length=1, max_length=20_000)]
Short = Annotated[str, Field(min_length=1, max_length=300)]
Id = Annotated[str, Field(min_length=1, max_length=120)]


def one_line(value: str) -> str:
    """Refuse line breaks and other control characters in a one-line field: a subject or an
    address with CR/LF would end up in a mail header (every mail of the ticket failing, or a
    header injected)."""
    if any(c in value for c in "\r\n\x0b\x0c\x85\u2028\u2029") or any(ord(c) < 32 and c != "\t" for c in value):
        raise ValueError("must be one line (no line breaks or control characters)")
    return value


# What people and systems send (commands, API bodies) in one-line fields; events keep `Short`
# and `Id` so the log as it was written always reads back.
Line = Annotated[str, Field(min_length=1, max_length=300), AfterValidator(one_line)]
LineId = Annotated[str, Field(min_length=1, max_length=120), AfterValidator(one_line)]


def _plain_at_most(limit: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > limit and not value.startswith(SEALED_PREFIX):
            raise ValueError(f"String should have at most {limit} characters")
        return value

    return check


_SEALABLE = "Sealed with the requester's data key (`enc:v1:<pseudonym>:<base64url>`, shared.privacy)"
# Free text an event carries sealed (shared.privacy): the limit is on the text, not its ciphertext.
SealableShort = Annotated[
    str, Field(min_length=1, max_length=2_000, description=_SEALABLE), AfterValidator(_plain_at_most(300))
]
SealableText = Annotated[
    str, Field(min_length=1, max_length=130_000, description=_SEALABLE), AfterValidator(_plain_at_most(20_000))
]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    filename: SealableShort
    content_type: Short
    size: Annotated[int, Field(ge=0)]


# ---------------------------------------------------------------------------------------------
# ticket.events: the lifecycle log.


@event("ticket.opened", owner="intake")
class TicketOpened(Payload):
    ticket_id: Id
    requester: Id
    subject: SealableShort
    description: SealableText
    category: Category
    category_guessed: bool = False
    impact: Level
    urgency: Level
    priority: Priority
    order_id: Id | None = None
    language: Annotated[str, Field(pattern=r"^(es|en)$")] = "es"
    attachments: tuple[Attachment, ...] = ()
    channel: Annotated[str, Field(max_length=40)] = "web"


@event("ticket.categorized", owner="intake")
class TicketCategorized(Payload):
    """Category, impact or urgency changed by hand; `priority` follows from the matrix."""

    ticket_id: Id
    category: Category
    priority: Priority
    reason: Short
    impact: Level | None = None
    urgency: Level | None = None
    by: Id | None = None


class CandidateView(BaseModel):
    """One agent that could have taken the ticket, as routing saw it when it chose."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    agent_id: Id
    load: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=1)]
    proficiency: Proficiency
    level: Annotated[int, Field(ge=1, le=3)]


@event("ticket.assigned", owner="routing")
class TicketAssigned(Payload):
    """`reason` is for people; `criterion` and `candidates` say the same for machines.
    (Added fields have defaults: records written before them still read.)"""

    ticket_id: Id
    agent_id: Id
    level: Annotated[int, Field(ge=1, le=3)]
    reason: Annotated[str, Field(min_length=1, max_length=2_000)]
    previous_agent_id: Id | None = None
    criterion: Annotated[str, Field(max_length=60)] = ""
    candidates: tuple[CandidateView, ...] = ()
    weight: Annotated[int, Field(ge=1, le=10)] = 1
    by: Id | None = None  # a supervisor's manual reassignment


@event("ticket.queued", owner="routing")
class TicketQueued(Payload):
    """Nobody fits now: the ticket waits in its level's queue until someone frees up."""

    ticket_id: Id
    level: Annotated[int, Field(ge=1, le=3)]
    category: Category
    reason: Annotated[str, Field(min_length=1, max_length=2_000)]


@event("ticket.unassigned", owner="routing")
class TicketUnassigned(Payload):
    ticket_id: Id
    agent_id: Id
    reason: Short


@event("ticket.commented", owner="intake")
class TicketCommented(Payload):
    ticket_id: Id
    author: Id
    author_role: Annotated[str, Field(pattern=r"^(requester|agent|system)$")]
    body: SealableText
    internal: bool = False
    attachments: tuple[Attachment, ...] = ()


@event("ticket.info_requested", owner="intake")
class TicketInfoRequested(Payload):
    ticket_id: Id
    agent_id: Id
    question: SealableText


@event("ticket.customer_replied", owner="intake")
class TicketCustomerReplied(Payload):
    ticket_id: Id
    requester: Id
    body: SealableText
    attachments: tuple[Attachment, ...] = ()


@event("ticket.sla_targets_set", owner="sla")
class TicketSlaTargetsSet(Payload):
    """Set at opening, and again when the priority changes. `remaining`: set when the new
    targets arrive while the clock is paused (the business time left once it resumes)."""

    ticket_id: Id
    priority: Priority
    first_response_due: datetime
    resolution_due: datetime
    calendar: Short = "24x7"
    timezone: Short = "UTC"  # the calendar's zone: how due times are told to people
    remaining: timedelta | None = None
    # the policy's target lengths when these were set: a later policy change does not alter them
    first_response_target: timedelta | None = None
    resolution_target: timedelta | None = None
    next_response_target: timedelta | None = None


@event("ticket.sla_first_response_met", owner="sla")
class TicketSlaFirstResponseMet(Payload):
    ticket_id: Id
    at: datetime


@event("ticket.sla_paused", owner="sla")
class TicketSlaPaused(Payload):
    ticket_id: Id
    at: datetime


@event("ticket.sla_resumed", owner="sla")
class TicketSlaResumed(Payload):
    ticket_id: Id
    at: datetime
    resolution_due: datetime


@event("ticket.sla_warning", owner="sla")
class TicketSlaWarning(Payload):
    ticket_id: Id
    target: Annotated[str, Field(pattern=r"^(first_response|next_response|resolution)$")]
    due: datetime
    fraction: Annotated[float, Field(gt=0, lt=1)] = 0.75


@event("ticket.info_reminder", owner="sla")
class TicketInfoReminder(Payload):
    """The requester has not answered our question for a while: remind them."""

    ticket_id: Id
    asked_at: datetime


@event("ticket.sla_met", owner="sla")
class TicketSlaMet(Payload):
    """The ticket was resolved within its resolution target."""

    ticket_id: Id
    due: datetime
    at: datetime


@event("ticket.sla_breached", owner="sla")
class TicketSlaBreached(Payload):
    ticket_id: Id
    target: Annotated[str, Field(pattern=r"^(first_response|next_response|resolution)$")]
    due: datetime


@event("ticket.escalated", owner=("intake", "sla"))
class TicketEscalated(Payload):
    """`reason` in the ticket's language; `reason_en` in English when SLA wrote it."""

    ticket_id: Id
    from_level: Annotated[int, Field(ge=1, le=3)]
    to_level: Annotated[int, Field(ge=1, le=3)]
    reason: Text
    by: Id
    reason_en: Annotated[str, Field(max_length=20_000)] = ""
    target: Annotated[str, Field(pattern=r"^(first_response|resolution)$")] | None = None


@event("ticket.resolved", owner=("intake", "sla"))
class TicketResolved(Payload):
    ticket_id: Id
    agent_id: Id
    summary: SealableText


@event("ticket.resolution_confirmed", owner="intake")
class TicketResolutionConfirmed(Payload):
    ticket_id: Id
    requester: Id


@event("ticket.resolution_rejected", owner="intake")
class TicketResolutionRejected(Payload):
    ticket_id: Id
    requester: Id
    reason: SealableText


@event("ticket.reopened", owner="intake")
class TicketReopened(Payload):
    ticket_id: Id
    by: Id
    reason: SealableText


@event("ticket.closed", owner=("intake", "sla"))
class TicketClosed(Payload):
    ticket_id: Id
    by: Id
    reason: SealableShort


@event("ticket.feedback_given", owner="intake")
class TicketFeedbackGiven(Payload):
    ticket_id: Id
    requester: Id
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=40_000), AfterValidator(_plain_at_most(5_000))] = ""


@event("ticket.requester_erased", owner="intake")
class TicketRequesterErased(Payload):
    """The requester's data key was deleted (`mesa erase requester`): the text sealed with it
    is unreadable from now on, in every copy of the log. Says nothing about who they were."""

    ticket_id: Id
    requester: Id  # the pseudonym
    by: Id
    reason: Short


@event("notification.sent", owner="notify")
class NotificationSent(Payload):
    ticket_id: Id
    about_event_id: Id
    channel: Annotated[str, Field(pattern=r"^(email|webhook)$")]
    recipient: Short
    template: Short


@event("notification.failed", owner="notify")
class NotificationFailed(Payload):
    ticket_id: Id
    about_event_id: Id
    channel: Annotated[str, Field(pattern=r"^(email|webhook)$")]
    recipient: Short
    reason: Text
    attempts: Annotated[int, Field(ge=1)]


# ---------------------------------------------------------------------------------------------
# audit.access: who read which ticket (staff and auditors), an immutable log of its own.


@event("access.ticket_read", owner=("projections", "intake"))
class TicketRead(Payload):
    """A read of a ticket's content by staff, an auditor or another system: through the query
    API or a page (projections), or a file downloaded (intake)."""

    ticket_id: Id
    reader: Short  # role:id
    via: Annotated[str, Field(pattern=r"^(api|page|download)$")]


# ---------------------------------------------------------------------------------------------
# agent.events: the roster.

Availability = Literal["online", "away", "offline"]
Proficiency = Annotated[int, Field(ge=1, le=5)]
Language = Annotated[str, Field(pattern=r"^[a-z]{2}$")]
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class ShiftDay(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    start: Annotated[str, Field(pattern=_HHMM)]
    end: Annotated[str, Field(pattern=_HHMM)]


class Shift(BaseModel):
    """When an agent takes new tickets: local working hours per weekday (mon..sun) in a zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    timezone: Annotated[str, Field(min_length=1, max_length=60)] = "UTC"
    days: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], tuple[ShiftDay, ...]]


@event("agent.registered", version=2, owner="routing")
class AgentRegistered(Payload):
    agent_id: Id
    name: Short
    email: Short
    skills: tuple[Category, ...]
    proficiency: dict[Category, Proficiency] = Field(default_factory=dict)  # 3 when not given
    level: Annotated[int, Field(ge=1, le=3)]
    capacity: Annotated[int, Field(ge=1, le=200)]  # the most weighted load the agent takes
    availability: Availability = "online"
    languages: tuple[Language, ...] = ("es",)
    teams: tuple[Short, ...] = ()
    shift: Shift | None = None


@upcaster("agent.registered", 1)
def _registered_v1(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "available"}
    out["availability"] = "online" if data.get("available", True) else "offline"
    return out


@event("agent.updated", owner="routing")
class AgentUpdated(Payload):
    """Only the fields given change."""

    agent_id: Id
    skills: tuple[Category, ...] | None = None
    proficiency: dict[Category, Proficiency] | None = None
    level: Annotated[int, Field(ge=1, le=3)] | None = None
    capacity: Annotated[int, Field(ge=1, le=200)] | None = None
    languages: tuple[Language, ...] | None = None
    teams: tuple[Short, ...] | None = None
    shift: Shift | None = None


@event("agent.availability_changed", version=2, owner="routing")
class AgentAvailabilityChanged(Payload):
    agent_id: Id
    availability: Availability
    reason: Annotated[str, Field(max_length=300)] = ""


@upcaster("agent.availability_changed", 1)
def _availability_v1(data: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in data.items() if k != "available"}
    out["availability"] = "online" if data.get("available") else "offline"
    return out


@event("agent.removed", owner="routing")
class AgentRemoved(Payload):
    agent_id: Id
    reason: Annotated[str, Field(max_length=300)] = ""
