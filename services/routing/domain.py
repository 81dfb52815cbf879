"""Routing's pure policy: who among the candidates gets a ticket, and why.

Eligible: available, has the category as a skill, level at least the ticket's, below capacity.
Preferred: the lowest sufficient level (seniors stay free for escalations), then the smallest
load relative to capacity, then the fewest open tickets, then the id (a stable tie-break).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    id: str
    skills: frozenset[str]
    level: int
    capacity: int
    load: int
    available: bool


@dataclass(frozen=True)
class Choice:
    agent_id: str
    level: int
    reason: str


def eligible(agent: Candidate, category: str, level: int) -> bool:
    return (
        agent.available and category in agent.skills and agent.level >= level and agent.load < agent.capacity
    )


def choose(candidates: list[Candidate], category: str, level: int) -> Choice | None:
    pool = [a for a in candidates if eligible(a, category, level)]
    if not pool:
        return None
    best = min(pool, key=lambda a: (a.level, a.load / a.capacity, a.load, a.id))
    reason = (
        f"skill {category}, level {best.level} (needed {level}), "
        f"load {best.load}/{best.capacity}, least loaded of {len(pool)} eligible"
    )
    return Choice(best.id, best.level, reason)
