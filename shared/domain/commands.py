"""Commands: what people and other systems ask intake to do (imperative), validated by pydantic.

Over HTTP they are `POST /tickets` and `POST /tickets/{id}/{command}`; on `ticket.requests` they
are CloudEvents whose `type` is `ticket.<command>` (`ticket.open`, `ticket.request_info`, ...),
whose `subject` is the ticket id (absent for `open`), whose `actor` extension is `role:id`, and
whose data is the same JSON as the HTTP body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal
from uuid import UUID, uuid5

from pydantic import BeforeValidator, ConfigDict, Field

from shared.domain.events.catalogue import (
    Attachment,
    Category,
    Level,
    Line,
    LineId,
    StorableModel,
    Tag,
    Text,
    TicketId,
)
from shared.domain.events.envelope import parse_cloudevent
from shared.domain.events.errors import InvalidPayload, MalformedRecord, UnknownEventType

Role = Literal["requester", "agent", "supervisor", "system"]
ROLES: tuple[str, ...] = ("requester", "agent", "supervisor", "system")


@dataclass(frozen=True)
class Actor:
    role: Role
    id: str

    @classmethod
    def parse(cls, raw: str) -> Actor:
        """`role:id`, e.g. `agent:ana` or `requester:luis@example.com`. Raises ValueError."""
        role, sep, ident = raw.strip().partition(":")
        if not sep or role not in ROLES or not ident or len(ident) > 120:
            raise ValueError(f"invalid actor {raw!r}")
        return cls(role, ident)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.role}:{self.id}"

    @property
    def is_staff(self) -> bool:
        return self.role in ("agent", "supervisor", "system")


class Command(StorableModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class OpenTicket(Command):
    requester: LineId
    subject: Line
    description: Text
    category: Category | None = None
    impact: Level = Level.medium
    urgency: Level = Level.medium
    order_id: LineId | None = None
    language: Annotated[str, Field(pattern=r"^(es|en)$")] | None = None
    channel: Annotated[str, Field(max_length=40)] = "web"
    attachments: tuple[Attachment, ...] = ()
    follows: LineId | None = None  # the closed ticket this one goes on from (a mail into a closed thread)


class Comment(Command):
    body: Text
    internal: bool = False
    attachments: tuple[Attachment, ...] = ()


class RequestInfo(Command):
    question: Text


class Reply(Command):
    body: Text
    attachments: tuple[Attachment, ...] = ()


class Resolve(Command):
    summary: Text


class Confirm(Command):
    pass


class Reject(Command):
    reason: Text


class Reopen(Command):
    reason: Text
    attachments: tuple[Attachment, ...] = ()


class Close(Command):
    reason: Line = "closed"


class Feedback(Command):
    rating: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, Field(max_length=5_000)] = ""


class Escalate(Command):
    reason: Text


class Categorize(Command):
    """Staff correct the category or re-judge impact and urgency (the priority follows)."""

    category: Category | None = None
    impact: Level | None = None
    urgency: Level | None = None
    reason: Line


class Write(Command):
    """The requester writes about a ticket without knowing where it stands (a mail, say): an answer
    while we wait for them, a comment while it is open, a reopening once it is resolved; about a
    closed ticket, or from someone who is not its requester, a new ticket. Other systems send it
    for the requester (`sender`, their sign-in id) with `tickets:act-for-requester`."""

    sender: LineId
    subject: Line = "(sin asunto)"
    body: Text
    language: Annotated[str, Field(pattern=r"^(es|en)$")] | None = None
    channel: Annotated[str, Field(max_length=40)] = "email"
    attachments: tuple[Attachment, ...] = ()


def _tag_word(value: object) -> object:
    """How people type a tag ("Devolución Pendiente") as the one word it is kept as."""
    return "_".join(value.strip().lower().split()) if isinstance(value, str) else value


TagWord = Annotated[Tag, BeforeValidator(_tag_word)]
MAX_TAGS = 30


class Tags(Command):
    """Add and remove staff labels (`{"add": ["transportista_seur"], "remove": ["urgente"]}`)."""

    add: Annotated[tuple[TagWord, ...], Field(max_length=MAX_TAGS)] = ()
    remove: Annotated[tuple[TagWord, ...], Field(max_length=MAX_TAGS)] = ()


class Link(Command):
    """Relate this ticket to another (`unlink`: take the relation back)."""

    to: TicketId
    unlink: bool = False


class Merge(Command):
    """Close this ticket as a duplicate of `into` (the same requester's)."""

    into: TicketId
    reason: Line = "duplicate"


class ApplyMacro(Command):
    """Apply a macro (shared, or the agent's own): its text and actions, as one command."""

    macro: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class SetFields(Command):
    """Give custom fields values (`{"values": {"transportista": "SEUR"}}`) or clear them."""

    values: Annotated[dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], str], Field(max_length=50)] = (
        Field(default_factory=dict)
    )
    clear: Annotated[tuple[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], ...], Field(max_length=50)] = ()


# The HTTP path segment of each command on an existing ticket, and its model.
TICKET_COMMANDS: dict[str, type[Command]] = {
    "comment": Comment,
    "request-info": RequestInfo,
    "reply": Reply,
    "resolve": Resolve,
    "confirm": Confirm,
    "reject": Reject,
    "reopen": Reopen,
    "close": Close,
    "feedback": Feedback,
    "escalate": Escalate,
    "categorize": Categorize,
    "write": Write,
    "tags": Tags,
    "link": Link,
    "merge": Merge,
    "apply-macro": ApplyMacro,
    "fields": SetFields,
}
# Commands that name a second ticket: the caller must be able to read it as well.
OTHER_TICKET: dict[type[Command], str] = {Link: "to", Merge: "into"}
# The commands that may bring files (a screenshot with a comment, an answer, a reopening).
WITH_FILES = frozenset({"comment", "reply", "reopen", "write"})
NAME_OF: dict[type[Command], str] = {model: name for name, model in TICKET_COMMANDS.items()}
NAME_OF[OpenTicket] = "open"


def request_type(command_name: str) -> str:
    """The CloudEvents type on ticket.requests: `request-info` -> `ticket.request_info`."""
    return "ticket." + command_name.replace("-", "_")


REQUEST_TYPES: dict[str, type[Command]] = {request_type(n): m for n, m in TICKET_COMMANDS.items()}
REQUEST_TYPES["ticket.open"] = OpenTicket


# CloudEvents: `id` is any non-empty string, unique per `source` (an order system's
# "order-9086-1" is as good as a UUID). Mesa's id of a request is derived from the pair, so the
# same (source, id) is the same request however often it is sent, and two sources never clash.
_REQUEST_NAMESPACE = UUID("8f5b0c1e-3c9a-4d52-9a57-6f0e1d2c3b4a")
MAX_ID_LENGTH = 256


def request_uuid(source: str, ce_id: str) -> UUID:
    """Mesa's id of the request (`source`, `ce_id`): deterministic (UUIDv5)."""
    return uuid5(_REQUEST_NAMESPACE, f"{source}\n{ce_id}")


@dataclass(frozen=True)
class Request:
    """A command that arrived on ticket.requests."""

    id: UUID  # request_uuid(source, the CloudEvents id)
    type: str
    source: str
    ticket_id: str | None
    actor: Actor
    correlationid: str
    command: Command
    actor_given: bool = True  # False: the actor was implied (the requester of an open)
    granted: frozenset[str] = frozenset()  # what the sender's token grants (its scopes)


def decode_request(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> Request:
    """Decode a ticket.requests record (binary or structured mode). Raises a typed InvalidRecord."""
    attrs, data = parse_cloudevent(value, headers)
    for name in ("id", "type", "source"):
        if not attrs.get(name):
            raise MalformedRecord(f"missing CloudEvents attribute: {name}")
    if len(attrs["id"]) > MAX_ID_LENGTH:
        raise MalformedRecord(f"id is longer than {MAX_ID_LENGTH} characters")
    request_id = request_uuid(attrs["source"], attrs["id"])
    model = REQUEST_TYPES.get(attrs["type"])
    if model is None:
        raise UnknownEventType(
            f"unknown request type {attrs['type']!r}; expected one of {', '.join(sorted(REQUEST_TYPES))}"
        )
    if not isinstance(data, dict):
        raise InvalidPayload(f"{attrs['type']}: data must be a JSON object")
    try:
        command = model.model_validate(data)
    except Exception as exc:
        raise InvalidPayload(f"{attrs['type']}: {_errors(exc)}") from None
    ticket_id = attrs.get("subject") or None
    if model is not OpenTicket and not ticket_id:
        raise MalformedRecord(f"{attrs['type']} needs the ticket id as CloudEvents subject")
    # without an actor: the requester of an open, else the sending system (intake replaces either
    # with the identity of the service token that signed the record)
    implied = f"requester:{command.requester}" if isinstance(command, OpenTicket) else "system:unknown"
    raw_actor = attrs.get("actor") or implied
    try:
        actor = Actor.parse(raw_actor)
    except ValueError:
        raise MalformedRecord(f"actor {raw_actor!r} must be 'role:id' (requester, agent, supervisor, system)") from None
    return Request(
        id=request_id,
        type=attrs["type"],
        source=attrs["source"],
        ticket_id=ticket_id if model is not OpenTicket else None,
        actor=actor,
        correlationid=(attrs.get("correlationid") or attrs["id"])[:MAX_ID_LENGTH],
        command=command,
        actor_given=bool(attrs.get("actor")),
    )


def _errors(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'data'}: {e['msg']}" for e in exc.errors()[:10])
    return str(exc)
