"""The words events, commands and views share: categories, levels, priorities, statuses, the
lengths of texts, attachments, agents' shifts."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.domain.events.marks import Sealed
from shared.domain.privacy import SEALED_PREFIX


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
# A staff label on a ticket (carrier, return reason, ...): one lower-case word, as helpdesks keep them.
Tag = Annotated[str, Field(pattern=r"^[0-9a-záéíóúüñ][0-9a-záéíóúüñ_:.-]{0,39}$")]
TicketId = Annotated[str, Field(pattern=r"^T-[0-9A-Z]{8}$")]
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


_SEALABLE = "Sealed with the requester's data key (`enc:v2:<pseudonym>:<base64url>`, shared.domain.privacy)"
# Free text an event carries sealed (shared.domain.privacy): the limit is on the text, not its ciphertext.
SealableShort = Annotated[
    str, Field(min_length=1, max_length=2_000, description=_SEALABLE), AfterValidator(_plain_at_most(300)), Sealed
]
SealableText = Annotated[
    str, Field(min_length=1, max_length=130_000, description=_SEALABLE), AfterValidator(_plain_at_most(20_000)), Sealed
]


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    filename: SealableShort
    content_type: Short
    size: Annotated[int, Field(ge=0)]


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


class CandidateView(BaseModel):
    """One agent that could have taken the ticket, as routing saw it when it chose."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    agent_id: Id
    load: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=1)]
    proficiency: Proficiency
    level: Annotated[int, Field(ge=1, le=3)]


Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]  # an id people choose: a macro's, a field's


class FieldValue(BaseModel):
    """A custom field's value on a ticket (text the requester may have given: sealed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    field: Slug
    value: SealableShort
