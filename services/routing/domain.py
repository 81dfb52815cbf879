"""Routing's pure policy: who among the roster gets a ticket, and why. No I/O; `now` is given.

Eligible: online, on shift (when the agent has one), has the category as a skill, has at least
the ticket's level, and the ticket's weight still fits under the agent's capacity. Among the
eligible, prefer those who speak the ticket's language (if any does); then the least weighted
load, then the best proficiency in the category, then the longest since the last assignment,
then the id (a stable tie-break). A P1 weighs more than a P4, so "load" is what the work costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.events.catalogue import CandidateView, Priority, Shift
from shared.ticket import PRIORITY_WEIGHT

WEIGHTS: Mapping[Priority, int] = PRIORITY_WEIGHT
DEFAULT_PROFICIENCY = 3
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weight(priority: Priority | str) -> int:
    return WEIGHTS[Priority(priority)]


@dataclass(frozen=True)
class Agent:
    id: str
    skills: frozenset[str]
    level: int
    capacity: int
    load: int = 0
    availability: str = "online"
    proficiency: Mapping[str, int] = field(default_factory=dict)
    languages: frozenset[str] = frozenset({"es"})
    last_assigned_at: datetime | None = None
    shift: Shift | None = None

    def skill(self, category: str) -> int:
        return self.proficiency.get(category, DEFAULT_PROFICIENCY)


@dataclass(frozen=True)
class Need:
    category: str
    level: int
    priority: Priority
    language: str = "es"

    @property
    def weight(self) -> int:
        return weight(self.priority)


@dataclass(frozen=True)
class Choice:
    agent_id: str
    level: int
    criterion: str
    reason: str
    candidates: tuple[CandidateView, ...]


def on_shift(shift: Shift | None, now: datetime) -> bool:
    if shift is None:
        return True
    local = now.astimezone(ZoneInfo(shift.timezone))
    hhmm = local.strftime("%H:%M")
    return any(d.start <= hhmm < d.end for d in shift.days.get(_DAYS[local.weekday()], ()))  # type: ignore[call-overload]


def eligible(agent: Agent, need: Need, now: datetime) -> bool:
    return (
        agent.availability == "online"
        and need.category in agent.skills
        and agent.level >= need.level
        and agent.load + need.weight <= agent.capacity
        and on_shift(agent.shift, now)
    )


def _rank(agent: Agent, need: Need) -> tuple[int, int, float, str]:
    since = agent.last_assigned_at.timestamp() if agent.last_assigned_at else float("-inf")
    return (agent.load, -agent.skill(need.category), since, agent.id)


_CRITERIA = ("least load", "best proficiency", "longest since last assignment", "id order")


def choose(agents: Sequence[Agent], need: Need, now: datetime) -> Choice | None:
    pool = [a for a in agents if eligible(a, need, now)]
    if not pool:
        return None
    speakers = [a for a in pool if need.language in a.languages]
    pool = speakers or pool
    ranked = sorted(pool, key=lambda a: _rank(a, need))
    best = ranked[0]
    if len(ranked) == 1:
        criterion = "only eligible agent"
    else:
        first, second = _rank(best, need), _rank(ranked[1], need)
        criterion = next(c for c, x, y in zip(_CRITERIA, first, second, strict=True) if x != y)
    shown = ranked[:5]
    views = tuple(
        CandidateView(
            agent_id=a.id, load=a.load, capacity=a.capacity, proficiency=a.skill(need.category), level=a.level
        )
        for a in shown
    )
    others = ", ".join(f"{a.id} {a.load}/{a.capacity}" for a in shown)
    language = "" if speakers else f"; nobody eligible speaks {need.language}"
    reason = (
        f"{need.category} L{need.level} {need.priority.value} (weight {need.weight}): "
        f"{len(pool)} eligible [{others}]; {best.id} by {criterion}{language}"
    )
    return Choice(best.id, best.level, criterion, reason, views)


def queue_reason(agents: Sequence[Agent], need: Need, now: datetime) -> str:
    """Why nobody fits: the first rule each skilled agent fails, counted."""
    skilled = [a for a in agents if need.category in a.skills]
    if not skilled:
        return f"no agent has the skill {need.category}"
    counts: dict[str, int] = {}
    for a in skilled:
        if a.level < need.level:
            why = f"below L{need.level}"
        elif a.availability != "online":
            why = a.availability
        elif not on_shift(a.shift, now):
            why = "off shift"
        else:
            why = "at capacity"
        counts[why] = counts.get(why, 0) + 1
    detail = ", ".join(f"{n} {why}" for why, n in sorted(counts.items()))
    return f"{len(skilled)} agents with {need.category}: {detail}"


def queue_key(level: int, priority: Priority | str, waiting_since: datetime) -> tuple[int, str, datetime]:
    """Queue discipline: escalated (higher level) first, then the most urgent, then the oldest."""
    return (-level, Priority(priority).value, waiting_since)
