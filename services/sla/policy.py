"""The SLA policy file: targets per priority, calendars, warning thresholds, the escalation
ladder. Validated with pydantic; a bad file stops the service at start with a clear message."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, field_validator

from services.sla.calendar import TWENTY_FOUR_SEVEN, Calendar, weekly
from shared.domain.events.catalogue import Category, Priority

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "deploy" / "sla-policy.yaml"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use seconds, or 90s, 15m, 4h, 3d)")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _duration_or_never(value: Any) -> timedelta | None:
    return None if value is None or str(value).strip().lower() == "never" else _duration(value)


# a wait that may be `never` (the timer is not set at all)
Wait = Annotated[timedelta | None, BeforeValidator(_duration_or_never)]


class CalendarSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    always: bool = False
    timezone: str = "UTC"
    hours: dict[str, list[Annotated[str, Field(pattern=r"^\d\d:\d\d-\d\d:\d\d$")]]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)

    @field_validator("hours")
    @classmethod
    def _days(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(v) - set(_WEEKDAYS)
        if unknown:
            raise ValueError(f"unknown weekdays {sorted(unknown)}; use {list(_WEEKDAYS)}")
        return v

    def build(self) -> Calendar:
        if self.always:
            return TWENTY_FOUR_SEVEN
        spans = {_WEEKDAYS[d]: [tuple(x.split("-")) for x in v] for d, v in self.hours.items()}
        return weekly(self.timezone, spans, frozenset(self.holidays))  # type: ignore[arg-type]


class TargetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first_response: Duration
    resolution: Duration
    next_response: Duration | None = None  # an update at least this often once answered
    calendar: str = "24x7"


class EscalationStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after_overdue: Duration
    to_level: Annotated[int, Field(ge=2, le=3)]


class Lifecycle(BaseModel):
    """Wall-clock timers of a ticket's life (days of silence are days, not working hours)."""

    model_config = ConfigDict(extra="forbid")
    waiting_reminder: Duration = timedelta(days=2)  # remind the requester of an open question
    auto_resolve_after: Duration = timedelta(days=7)  # no answer: resolve, saying why
    auto_close_after: Duration = timedelta(days=3)  # resolved, neither confirmed nor rejected: close
    # clause 7 per category: its own wait, or `never` (stays resolved until the customer confirms
    # or rejects, or staff close it)
    auto_close_by_category: dict[Category, Wait] = Field(default_factory=dict)

    def auto_close_for(self, category: str | None) -> timedelta | None:
        """How long a resolution of this category waits for the customer before closing itself;
        None: it never does."""
        if category in self.auto_close_by_category:
            return self.auto_close_by_category[Category(category)]
        return self.auto_close_after


class Policy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    calendars: dict[str, CalendarSpec]
    priorities: dict[Priority, TargetSpec]
    warn_at: list[Annotated[float, Field(gt=0, lt=1)]] = Field(default_factory=lambda: [0.75, 0.9])
    escalation: list[EscalationStep] = Field(default_factory=list)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    _built: dict[str, Calendar] = PrivateAttr(default_factory=dict)

    def model_post_init(self, _: Any) -> None:
        missing = set(Priority) - set(self.priorities)
        if missing:
            raise ValueError(f"no targets for {sorted(missing)}")
        for p, spec in self.priorities.items():
            if spec.calendar not in self.calendars:
                raise ValueError(f"{p.value} uses calendar {spec.calendar!r}, which is not defined")
        self._built = {name: c.build() for name, c in self.calendars.items()}

    def calendar(self, name: str) -> Calendar:
        return self._built[name]


def load_policy(path: Path | None = None) -> Policy:
    path = path or DEFAULT_POLICY
    return Policy.model_validate(yaml.safe_load(path.read_text()))
