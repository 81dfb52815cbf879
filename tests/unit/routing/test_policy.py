"""Routing's policy, pure: eligibility, preference, the reason given, queue discipline, and a
simulation over random rosters and ticket streams (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.routing import domain as rd
from services.routing.domain import Agent, Need, choose, eligible, on_shift, queue_key, queue_reason, weight
from shared.domain.events.catalogue import Priority, Shift, ShiftDay

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday
SKILLS = ["hardware", "software", "network", "payment"]


def agent(i: str, skills: list[str], **kw: object) -> Agent:
    base: dict[str, object] = {"level": 1, "capacity": 10}
    return Agent(id=i, skills=frozenset(skills), **(base | kw))  # type: ignore[arg-type]


def need(category: str = "hardware", level: int = 1, priority: str = "P3", language: str = "es") -> Need:
    return Need(category, level, Priority(priority), language)


def test_least_weighted_load_wins_and_the_reason_names_the_criterion() -> None:
    team = [agent("a", ["hardware"], load=3), agent("b", ["hardware"], load=1), agent("c", ["network"])]
    choice = choose(team, need(), NOW)
    assert choice is not None and choice.agent_id == "b" and choice.criterion == "least load"
    assert "2 eligible" in choice.reason and "b 1/10" in choice.reason
    assert [c.agent_id for c in choice.candidates] == ["b", "a"]


def test_ties_go_to_proficiency_then_to_the_longest_idle() -> None:
    a = agent("a", ["hardware"], proficiency={"hardware": 5})
    b = agent("b", ["hardware"], proficiency={"hardware": 2})
    assert choose([b, a], need(), NOW).criterion == "best proficiency"  # type: ignore[union-attr]
    c = agent("c", ["hardware"], last_assigned_at=NOW - timedelta(hours=3))
    d = agent("d", ["hardware"], last_assigned_at=NOW - timedelta(minutes=5))
    choice = choose([d, c], need(), NOW)
    assert choice is not None and choice.agent_id == "c" and choice.criterion == "longest since last assignment"
    only = choose([c], need(), NOW)
    assert only is not None and only.criterion == "only eligible agent"


def test_a_p1_weighs_more_and_must_fit_under_capacity() -> None:
    assert weight("P1") > weight("P2") > weight("P3") == weight("P4")
    nearly_full = agent("a", ["hardware"], capacity=4, load=2)
    assert eligible(nearly_full, need(priority="P4"), NOW)
    assert not eligible(nearly_full, need(priority="P1"), NOW)


def test_availability_level_language_and_shift() -> None:
    away = agent("a", ["hardware"], availability="away")
    junior = agent("b", ["hardware"], level=1)
    assert not eligible(away, need(), NOW) and not eligible(junior, need(level=2), NOW)
    es, en = agent("es", ["hardware"], load=0), agent("en", ["hardware"], load=5, languages=frozenset({"en"}))
    assert choose([es, en], need(language="en"), NOW).agent_id == "en"  # type: ignore[union-attr]
    fallback = choose([es], need(language="en"), NOW)
    assert fallback is not None and "nobody eligible speaks en" in fallback.reason
    madrid = Shift(timezone="Europe/Madrid", days={"wed": (ShiftDay(start="09:00", end="14:00"),)})
    assert on_shift(madrid, NOW)  # 11:00 in Madrid
    assert not on_shift(madrid, NOW + timedelta(hours=4))  # 15:00
    assert not on_shift(madrid, NOW + timedelta(days=1))  # Thursday
    assert on_shift(None, NOW)


def test_queue_reason_counts_why_each_skilled_agent_cannot_take_it() -> None:
    team = [
        agent("a", ["hardware"], availability="offline"),
        agent("b", ["hardware"], load=10),
        agent("c", ["hardware"], load=10),
        agent("d", ["network"]),
    ]
    assert queue_reason(team, need(), NOW) == "3 agents with hardware: 2 at capacity, 1 offline"
    assert queue_reason(team, need("payment"), NOW) == "no agent has the skill payment"


def test_queue_discipline_higher_level_then_urgency_then_age() -> None:
    t0 = NOW
    waiting = [
        ("old-p4", 1, "P4", t0),
        ("new-p1", 1, "P1", t0 + timedelta(minutes=5)),
        ("escalated", 2, "P3", t0 + timedelta(minutes=9)),
        ("old-p1", 1, "P1", t0 + timedelta(minutes=1)),
    ]
    order = [w[0] for w in sorted(waiting, key=lambda w: queue_key(w[1], w[2], w[3]))]
    assert order == ["escalated", "old-p1", "new-p1", "old-p4"]


# -- simulation -------------------------------------------------------------------------------

agents_st = st.lists(
    st.builds(
        agent,
        st.sampled_from("abcdefghij"),
        st.lists(st.sampled_from(SKILLS), min_size=1, max_size=3, unique=True),
        level=st.integers(1, 3),
        capacity=st.integers(1, 8),
        availability=st.sampled_from(["online", "online", "online", "away", "offline"]),
        proficiency=st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 5), max_size=2),
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda a: a.id,
)
ops_st = st.lists(
    st.one_of(
        st.tuples(
            st.just("open"), st.sampled_from(SKILLS), st.integers(1, 3), st.sampled_from(["P1", "P2", "P3", "P4"])
        ),
        st.tuples(st.just("resolve"), st.integers(0, 1000)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(agents_st, ops_st)
def test_simulated_streams_never_break_the_rules(team: list[Agent], ops: list[tuple]) -> None:  # type: ignore[type-arg]
    roster = {a.id: a for a in team}
    owned: list[tuple[str, str, int]] = []  # (ticket, agent, weight)
    queue: list[Need] = []
    clock = NOW

    def assign(n: Need) -> bool:
        nonlocal clock
        clock += timedelta(seconds=1)
        choice = choose(list(roster.values()), n, clock)
        pool = [a for a in roster.values() if eligible(a, n, clock)]
        if choice is None:
            assert not pool
            return False
        chosen = roster[choice.agent_id]
        assert chosen in pool and n.category in chosen.skills and chosen.level >= n.level
        speakers = [a for a in pool if n.language in a.languages] or pool
        assert all(chosen.load <= other.load for other in speakers), "least load first"
        roster[chosen.id] = replace(chosen, load=chosen.load + n.weight, last_assigned_at=clock)
        owned.append((f"t{len(owned)}", chosen.id, n.weight))
        return True

    for op in ops:
        if op[0] == "open":
            n = need(op[1], op[2], op[3])
            if not assign(n):
                queue.append(n)
        elif owned:
            _, who, w = owned.pop(op[1] % len(owned))
            roster[who] = replace(roster[who], load=roster[who].load - w)
            queue.sort(key=lambda q: queue_key(q.level, q.priority, NOW))
            queue = [q for q in queue if not assign(q)]
        for a in roster.values():
            assert 0 <= a.load <= a.capacity, f"{a.id} over capacity"


@given(st.integers(2, 6), st.integers(1, 60), st.sampled_from(["P1", "P2", "P3", "P4"]))
def test_identical_agents_share_a_stream_within_one_ticket(n_agents: int, n_tickets: int, priority: str) -> None:
    roster = {f"a{i}": agent(f"a{i}", ["hardware"], capacity=200) for i in range(n_agents)}
    clock = NOW
    for _ in range(n_tickets):
        clock += timedelta(seconds=1)
        choice = choose(list(roster.values()), need(priority=priority), clock)
        assert choice is not None
        a = roster[choice.agent_id]
        roster[a.id] = replace(a, load=a.load + weight(priority), last_assigned_at=clock)
    loads = [a.load for a in roster.values()]
    assert max(loads) - min(loads) <= weight(priority)


# -- what facts do to a ticket and to its owner's load ------------------------------------------


def ticket(priority: str = "P3", **kw: object) -> rd.Ticket:
    return replace(rd.opened("T-1", "hardware", Priority(priority), "es"), **kw)  # type: ignore[arg-type]


def test_an_assignment_moves_the_weight_from_the_previous_owner_to_the_new_one() -> None:
    t, loads = rd.assigned(ticket(), "ana", 1)
    assert t.owner == "ana" and t.counted and loads == [rd.Load("ana", t.weight, 1)]
    t, loads = rd.assigned(t, "bea", 2)
    assert t.owner == "bea" and t.level == 2 and loads == [rd.Load("ana", -t.weight, -1), rd.Load("bea", t.weight, 1)]


def test_releasing_frees_capacity_only_when_the_ticket_counted() -> None:
    t, _ = rd.assigned(ticket(), "ana", 1)
    kept, freed = rd.release(t, keep_open=True, keep_owner=True)
    assert freed == rd.Load("ana", -t.weight, -1) and kept.owner == "ana" and not kept.counted
    again, none = rd.release(kept, keep_open=False)
    assert none is None and again.owner is None and not again.open
    back, load = rd.recount(kept)
    assert load == rd.Load("ana", t.weight, 1) and back.counted
    assert rd.recount(back) == (back, None)


def test_a_new_priority_changes_the_owners_load_by_the_difference() -> None:
    t, _ = rd.assigned(ticket("P4"), "ana", 1)
    t2, change = rd.reprioritise(t, "network", Priority.P1)
    assert change == rd.Load("ana", weight(Priority.P1) - weight(Priority.P4), 0)
    assert (t2.category, t2.priority, t2.weight) == ("network", "P1", weight(Priority.P1))
    assert rd.reprioritise(ticket("P4"), "network", Priority.P1)[1] is None  # nobody owns it


def test_a_reopened_ticket_goes_back_to_its_previous_owner_when_they_fit() -> None:
    team = [agent("a", ["hardware"], load=0), agent("b", ["hardware"], load=5)]
    choice = rd.pick(team, need(), NOW, prefer="b")
    assert choice is not None and choice.agent_id == "b" and choice.criterion == "previous owner"
    full = [agent("a", ["hardware"]), agent("b", ["hardware"], load=10)]
    assert rd.pick(full, need(), NOW, prefer="b").agent_id == "a"  # type: ignore[union-attr]


OPS = st.lists(
    st.tuples(
        st.sampled_from(["assign", "release", "resolve", "reject", "reprioritise", "close"]),
        st.sampled_from(["ana", "bea", "carla"]),
        st.sampled_from(list(Priority)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_loads_always_add_up_to_the_weight_of_what_each_agent_owns(ops: list[tuple[str, str, Priority]]) -> None:
    t, loads = ticket(), []
    for op, who, priority in ops:
        change: list[rd.Load] = []
        if op == "assign":
            t, change = rd.assigned(t, who, 1)
        elif op in ("release", "resolve", "close"):
            t, freed = rd.release(t, keep_open=op != "close", keep_owner=op != "release")
            change = [freed] if freed else []
        elif op == "reject":
            t, back = rd.recount(t)
            change = [back] if back else []
        else:
            t, moved = rd.reprioritise(t, "hardware", priority)
            change = [moved] if moved else []
        loads += change
    per_agent: dict[str, tuple[int, int]] = {}
    for c in loads:
        load, n = per_agent.get(c.agent_id, (0, 0))
        per_agent[c.agent_id] = (load + c.load, n + c.open_count)
    for agent_id, (load, n) in per_agent.items():
        owns = t.owned and t.owner == agent_id
        assert (load, n) == ((t.weight, 1) if owns else (0, 0)), agent_id


def test_the_queue_is_served_escalated_first_then_most_urgent_then_oldest() -> None:
    old, new = NOW - timedelta(hours=1), NOW
    queue = [
        ticket("P3", waiting_since=old),
        ticket("P1", waiting_since=new),
        ticket("P4", level=2, waiting_since=new),
        ticket("P1", waiting_since=old),
    ]
    order = [(t.level, t.priority, t.waiting_since) for t in rd.in_queue_order(queue)]
    assert order == [(2, "P4", new), (1, "P1", old), (1, "P1", new), (1, "P3", old)]


# -- what a drain offers ------------------------------------------------------------------------

queue_st = st.lists(
    st.builds(
        rd.Ticket,
        id=st.uuids().map(str),
        category=st.sampled_from(SKILLS),
        priority=st.sampled_from(["P1", "P2", "P3", "P4"]),
        weight=st.just(1),  # (the ticket's own column; eligibility weighs its priority)
        language=st.sampled_from(["es", "en"]),
        level=st.integers(1, 3),
        waiting_since=st.just(NOW - timedelta(minutes=5)),
    ),
    max_size=40,
)
shifts_st = st.one_of(
    st.none(), st.just(Shift(timezone="Europe/Madrid", days={"wed": (ShiftDay(start="12:00", end="18:00"),)}))
)


@settings(max_examples=300)
@given(agents_st, st.lists(st.tuples(st.integers(0, 8), shifts_st), min_size=8, max_size=8), queue_st)
def test_a_drain_offers_exactly_the_queued_tickets_someone_can_take(
    team: list[Agent], states: list[tuple[int, Shift | None]], queue: list[rd.Ticket]
) -> None:
    # loads and shifts of every kind, so some needs find an agent and others none
    roster = [
        replace(a, load=min(load, a.capacity), shift=shift)
        for a, (load, shift) in zip(team, states[: len(team)], strict=True)
    ]
    takers = rd.Takers(roster, NOW)
    offered = [t for t in queue if takers.any_for(t)]
    assert offered == [t for t in queue if choose(roster, t.need, NOW) is not None]


def test_a_sale_day_queue_is_looked_at_once_per_need(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of queued tickets of a few needs, every agent full: each need is weighed against
    the roster once, not each ticket (the drain ran at every freed slot and every sweep)."""
    full = [agent(f"a{i}", SKILLS, capacity=10, load=10) for i in range(50)]
    queue = [
        rd.Ticket(f"T-{i}", SKILLS[i % 4], "P3", 2, "es", waiting_since=NOW - timedelta(seconds=i)) for i in range(5000)
    ]
    looked: list[Need] = []

    def counting(a: Agent, n: Need, now: datetime) -> bool:
        looked.append(n)
        return eligible(a, n, now)

    monkeypatch.setattr(rd, "eligible", counting)
    takers = rd.Takers(full, NOW)
    assert not any(takers.any_for(t) for t in queue)
    assert len(looked) == 4 * 50  # four needs, each against the fifty agents
    # one agent with room: every ticket of the needs it has the skills for is offered again
    room = rd.Takers([*full[:-1], agent("free", ["hardware"], capacity=10, load=0)], NOW)
    assert [t.category for t in queue if room.any_for(t)] == ["hardware"] * 1250
