"""Routing's choice: eligibility and preference, checked against brute force."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.routing.domain import Candidate, choose, eligible

SKILLS = ["hardware", "software", "network", "payment"]


def agent(
    i: str, skills: list[str], level: int = 1, capacity: int = 5, load: int = 0, available: bool = True
) -> Candidate:
    return Candidate(i, frozenset(skills), level, capacity, load, available)


def test_least_loaded_at_the_needed_level_wins_and_says_why() -> None:
    team = [
        agent("a", ["hardware"], load=3),
        agent("b", ["hardware"], load=1),
        agent("c", ["hardware"], level=2, load=0),
        agent("d", ["network"], load=0),
    ]
    choice = choose(team, "hardware", 1)
    assert choice is not None and choice.agent_id == "b"
    assert (
        "skill hardware" in choice.reason and "load 1/5" in choice.reason and "of 3 eligible" in choice.reason
    )
    escalated = choose(team, "hardware", 2)
    assert escalated is not None and escalated.agent_id == "c"


def test_nobody_when_all_full_away_or_unskilled() -> None:
    team = [
        agent("a", ["hardware"], load=5),
        agent("b", ["hardware"], available=False),
        agent("c", ["payment"]),
    ]
    assert choose(team, "hardware", 1) is None


candidates = st.lists(
    st.builds(
        agent,
        st.sampled_from("abcdefgh"),
        st.lists(st.sampled_from(SKILLS), min_size=1, max_size=3),
        st.integers(1, 3),
        st.integers(1, 6),
        st.integers(0, 6),
        st.booleans(),
    ),
    max_size=8,
    unique_by=lambda a: a.id,
)


@given(candidates, st.sampled_from(SKILLS), st.integers(1, 3))
def test_choice_is_eligible_and_no_eligible_agent_is_preferable(
    team: list[Candidate], skill: str, level: int
) -> None:
    choice = choose(team, skill, level)
    pool = [a for a in team if eligible(a, skill, level)]
    if not pool:
        assert choice is None
        return
    assert choice is not None
    chosen = next(a for a in team if a.id == choice.agent_id)
    assert eligible(chosen, skill, level)
    for other in pool:
        assert (chosen.level, chosen.load / chosen.capacity) <= (other.level, other.load / other.capacity)
