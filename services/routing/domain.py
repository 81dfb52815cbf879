"""Routing's pure rules: who among the roster gets a ticket, and why; what each fact does to a
ticket and to its owner's load. No I/O; `now` is given.

Eligible: online, on shift (when the agent has one), has the category as a skill, has at least
the ticket's level, and the ticket's weight still fits under the agent's capacity. Among the
eligible, prefer those who speak the ticket's language (if any does); then the least weighted
load, then the best proficiency in the category, then the longest since the last assignment,
then the id (a stable tie-break). A P1 weighs more than a P4, so "load" is what the work costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import CandidateView, Priority, Shift
from shared.domain.ticket import PRIORITY_WEIGHT

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


# -- a ticket as routing holds it, and what each fact does to it and to its owner's load ---------


@dataclass(frozen=True)
class Ticket:
    id: str
    category: str
    priority: str
    weight: int
    language: str
    level: int = 1
    owner: str | None = None
    counted: bool = False  # in the owner's load?
    open: bool = True
    waiting_on_customer: bool = False
    waiting_since: datetime | None = None  # queued since (no owner)

    @property
    def need(self) -> Need:
        return Need(self.category, self.level, Priority(self.priority), self.language)

    @property
    def owned(self) -> bool:
        """Counted in an owner's load: someone is working on it."""
        return self.counted and self.owner is not None


@dataclass(frozen=True)
class Load:
    """A change to an agent's weighted load and open-ticket count."""

    agent_id: str
    load: int
    open_count: int


def opened(ticket_id: str, category: str, priority: Priority, language: str) -> Ticket:
    return Ticket(ticket_id, category, priority.value, weight(priority), language)


def release(t: Ticket, *, keep_open: bool, keep_owner: bool = False) -> tuple[Ticket, Load | None]:
    """Out of its owner's load (a `Load` when that frees capacity); no longer queued."""
    freed = Load(t.owner, -t.weight, -1) if t.owned and t.owner else None
    return replace(t, counted=False, open=keep_open, owner=t.owner if keep_owner else None, waiting_since=None), freed


def recount(t: Ticket) -> tuple[Ticket, Load | None]:
    """Back to work for the same owner (the customer says it is not solved)."""
    if t.counted or t.owner is None:
        return t, None
    return replace(t, counted=True, open=True), Load(t.owner, t.weight, 1)


def reprioritise(t: Ticket, category: str, priority: Priority) -> tuple[Ticket, Load | None]:
    """A new category or priority: the owner's load follows the new weight."""
    new = weight(priority)
    change = Load(t.owner, new - t.weight, 0) if t.owned and t.owner and new != t.weight else None
    return replace(t, category=category, priority=priority.value, weight=new), change


def assigned(t: Ticket, agent_id: str, level: int) -> tuple[Ticket, list[Load]]:
    """An assignment (made here, by another instance, or read back): the previous owner's load
    goes, the new owner's comes."""
    loads = [Load(t.owner, -t.weight, -1)] if t.owned and t.owner else []
    loads.append(Load(agent_id, t.weight, 1))
    return replace(t, owner=agent_id, counted=True, open=True, waiting_since=None, level=max(t.level, level)), loads


def pick(candidates: Sequence[Agent], need: Need, now: datetime, *, prefer: str | None = None) -> Choice | None:
    """`choose`, except that a reopened ticket goes back to its previous owner when they fit."""
    if prefer:
        kept = choose([a for a in candidates if a.id == prefer], need, now)
        if kept is not None:
            reason = "reopened: back to its previous owner; " + kept.reason
            return Choice(kept.agent_id, kept.level, "previous owner", reason, kept.candidates)
    return choose(candidates, need, now)


def assignment(t: Ticket, choice: Choice, previous: str | None) -> ev.TicketAssigned:
    return ev.TicketAssigned(
        ticket_id=t.id,
        agent_id=choice.agent_id,
        level=t.level,
        reason=choice.reason[:2000],
        previous_agent_id=previous or (t.owner if t.owner != choice.agent_id else None),
        criterion=choice.criterion,
        candidates=choice.candidates,
        weight=t.need.weight,
    )


def manual(t: Ticket, agent_id: str, reason: str, by: str) -> ev.TicketAssigned:
    """A supervisor moves a ticket to a given agent (capacity is theirs to judge)."""
    return ev.TicketAssigned(
        ticket_id=t.id,
        agent_id=agent_id,
        level=t.level,
        reason=f"reassigned by {by}: {reason}"[:2000],
        previous_agent_id=t.owner,
        criterion="manual",
        weight=t.weight,
        by=by,
    )


def queued(t: Ticket, roster: Sequence[Agent], now: datetime) -> ev.TicketQueued:
    need = t.need
    return ev.TicketQueued(
        ticket_id=t.id, level=need.level, category=need.category, reason=queue_reason(roster, need, now)
    )


def in_queue_order(tickets: Sequence[Ticket]) -> list[Ticket]:
    return sorted(tickets, key=lambda t: queue_key(t.level, t.priority, t.waiting_since or datetime.min))


class Takers:
    """Whether anyone on a roster is eligible now for a queued ticket's need, each need weighed
    once: a drain asks it before offering a ticket, and makes a new one when an assignment changed
    the roster. Eligibility depends on a need's category, level and weight alone (the weight is
    the priority's). On a sale day the queue is thousands of tickets of a few needs, all agents
    full: offering each one cost 0.1 ms with 56 agents, at every freed slot and every sweep, and
    after the one ticket a freed slot takes, the rest of its need are passed by at once."""

    def __init__(self, roster: Sequence[Agent], now: datetime) -> None:
        self._roster = roster
        self._now = now
        self._someone: dict[tuple[str, int, str], bool] = {}

    def any_for(self, t: Ticket) -> bool:
        key = (t.category, t.level, t.priority)
        found = self._someone.get(key)
        if found is None:
            need = t.need
            found = self._someone[key] = any(eligible(a, need, self._now) for a in self._roster)
        return found
