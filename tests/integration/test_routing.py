"""Routing as its own processes, fed ticket.events and agent.events by a plain producer:
several instances, crashes, agents leaving."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.events import Envelope, Payload
from shared.events import catalogue as ev
from shared.ticket import PRIORITY_WEIGHT
from shared.topics import AGENT_EVENTS, TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import header, inbox_caught_up, produce, read_all
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(300)
PARTITIONS = 6
CATEGORIES = ["order_status", "payment", "account", "hardware", "software", "network"]


def envelope(payload: Payload, subject: str) -> Envelope:
    return Envelope.new(payload, source="test", subject=subject, time=datetime.now(UTC))


def agent(agent_id: str, skills: list[str], level: int = 1, capacity: int = 200) -> Envelope:
    return envelope(
        ev.AgentRegistered(
            agent_id=agent_id,
            name=agent_id.title(),
            email=f"{agent_id}@soporte.test",
            skills=tuple(skills),
            level=level,
            capacity=capacity,
        ),
        agent_id,
    )


def opened(ticket_id: str, category: str, priority: str) -> Envelope:
    return envelope(
        ev.TicketOpened(
            ticket_id=ticket_id,
            requester=f"{ticket_id}@example.com",
            subject="s",
            description="d",
            category=category,
            impact="medium",
            urgency="medium",
            priority=priority,
        ),
        ticket_id,
    )


def routing(iso: Isolated, name: str, **env: str) -> Proc:
    port = free_port()
    return Proc("services.routing", {**iso.env, "ROUTING_PORT": str(port), **env}, iso.log_dir, name, port)


async def roster(proc: Proc) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as http:
        rows: list[dict[str, Any]] = (await http.get(f"http://127.0.0.1:{proc.port}/agents")).json()
    return {a["id"]: a for a in rows}


async def assignments(iso: Isolated) -> dict[str, list[dict[str, str]]]:
    """Per ticket, its distinct ticket.assigned events in log order."""
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    seen: set[str] = set()
    for r in await read_all(iso.settings, iso.settings.topic(TICKET_EVENTS)):
        if header(r, "ce_type") != "ticket.assigned" or header(r, "ce_id") in seen:
            continue
        seen.add(header(r, "ce_id") or "")
        data = Envelope.from_kafka(r.key, r.value, list(r.headers)).data
        assert isinstance(data, ev.TicketAssigned)
        out[data.ticket_id].append({"agent": data.agent_id, "previous": data.previous_agent_id or ""})
    return out


async def test_two_instances_500_tickets_one_killed_halfway(fresh: Isolated) -> None:
    a = await routing(fresh, "routing-a").start().ready()
    b = await routing(fresh, "routing-b").start().ready()
    try:
        rng = random.Random(5)
        team = [
            agent("ana", ["order_status", "payment", "account"]),
            agent("beto", ["order_status", "payment"]),
            agent("cris", ["hardware", "software"]),
            agent("dora", ["hardware", "network", "software"], level=2),
            agent("eva", ["network", "account", "software"]),
            agent("fede", CATEGORIES, level=3, capacity=150),
        ]
        await produce(fresh.settings, fresh.settings.topic(AGENT_EVENTS), team)
        await eventually(lambda: _has(roster(a), 6), timeout=30, what="the roster")
        tickets = [
            opened(f"T-{i:04d}", rng.choice(CATEGORIES), rng.choice(["P1", "P2", "P3", "P4"])) for i in range(500)
        ]
        weights = {e.subject: PRIORITY_WEIGHT[e.data.priority] for e in tickets}  # type: ignore[attr-defined]
        topic = fresh.settings.topic(TICKET_EVENTS)
        await produce(fresh.settings, topic, tickets[:250])

        async def some_assigned() -> bool:
            return sum(int(r["open_count"]) for r in (await roster(b)).values()) >= 60

        await eventually(some_assigned, timeout=60, what="routing to be mid-stream")
        a.kill()
        await produce(fresh.settings, topic, tickets[250:])
        a = await routing(fresh, "routing-a2").start().ready()

        async def settled() -> bool:
            return await inbox_caught_up(fresh.settings, "routing", "routing-tickets", [topic])

        await eventually(settled, timeout=120, what="routing to apply all 500 tickets and its own events")
        log = await assignments(fresh)
        assert set(log) == {e.subject for e in tickets}
        assert all(len(v) == 1 for v in log.values()), {t: v for t, v in log.items() if len(v) != 1}
        recount: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for ticket_id, [assigned] in log.items():
            recount[assigned["agent"]][0] += weights[ticket_id]
            recount[assigned["agent"]][1] += 1
        state = await roster(a)
        assert {k: [v["load"], v["open_count"]] for k, v in state.items()} == {k: recount.get(k, [0, 0]) for k in state}
        assert all(v["load"] <= v["capacity"] for v in state.values())
    finally:
        a.stop()
        b.stop()


async def _has(rows: Any, n: int) -> bool:
    return len(await rows) >= n


async def test_an_agent_going_offline_hands_over_open_tickets_but_keeps_waiting_ones_a_while(fresh: Isolated) -> None:
    proc = routing(fresh, "routing", ROUTING_REASSIGN_WAITING_AFTER_S="2", ROUTING_SWEEP_INTERVAL_S="0.3").start()
    await proc.ready()
    agents_topic, tickets_topic = fresh.settings.topic(AGENT_EVENTS), fresh.settings.topic(TICKET_EVENTS)
    try:
        await produce(fresh.settings, agents_topic, [agent("xavi", ["hardware"], capacity=20)])
        await eventually(lambda: _has(roster(proc), 1), what="xavi")
        five = [opened(f"T-X{i}", "hardware", "P3") for i in range(5)]
        await produce(fresh.settings, tickets_topic, five)

        async def xavi_has_five() -> bool:
            return bool((await roster(proc))["xavi"]["open_count"] == 5)

        await eventually(xavi_has_five, what="five tickets on xavi")
        waiting = envelope(ev.TicketInfoRequested(ticket_id="T-X0", agent_id="xavi", question="¿Modelo?"), "T-X0")
        await produce(fresh.settings, tickets_topic, [waiting])
        await produce(fresh.settings, agents_topic, [agent("yago", ["hardware", "software"], capacity=20)])
        await eventually(lambda: _has(roster(proc), 2), what="yago")
        await eventually(lambda: _caught_up(fresh, [tickets_topic]), what="the info request to be applied")
        offline = envelope(ev.AgentAvailabilityChanged(agent_id="xavi", availability="offline", reason="baja"), "xavi")
        await produce(fresh.settings, agents_topic, [offline])

        async def handed_over() -> bool:
            r = await roster(proc)
            return bool(r["yago"]["open_count"] == 4 and r["xavi"]["open_count"] == 1)

        await eventually(handed_over, timeout=30, what="four tickets handed to yago")
        log = await assignments(fresh)
        for t in ("T-X1", "T-X2", "T-X3", "T-X4"):
            assert log[t][-1] == {"agent": "yago", "previous": "xavi"}
        assert len(log["T-X0"]) == 1  # waiting on the customer: keeps its owner for now

        async def waiting_one_moves_too() -> bool:
            return bool((await roster(proc))["yago"]["open_count"] == 5)

        await eventually(waiting_one_moves_too, timeout=30, what="the long absence to move the waiting ticket")
        log = await assignments(fresh)
        assert log["T-X0"][-1] == {"agent": "yago", "previous": "xavi"}
        r = await roster(proc)
        assert r["xavi"]["load"] == 0 and r["yago"]["load"] == 5
    finally:
        proc.stop()


async def _caught_up(iso: Isolated, topics: list[str]) -> bool:
    return await inbox_caught_up(iso.settings, "routing", "routing-tickets", topics)
