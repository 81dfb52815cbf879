"""Routing as its own processes, fed ticket.events and agent.events by a plain producer:
several instances, crashes, agents leaving."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.ticket import PRIORITY_WEIGHT
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import header, inbox_caught_up, produce, read_all
from tests.support import Proc, as_actor, client, eventually, free_port

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
    async with client(timeout=5) as http:
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


async def test_queued_tickets_go_to_whoever_frees_up_or_comes_online(fresh: Isolated) -> None:
    proc = routing(fresh, "routing").start()
    await proc.ready()
    agents_topic, tickets_topic = fresh.settings.topic(AGENT_EVENTS), fresh.settings.topic(TICKET_EVENTS)
    try:
        # capacity 3: one P3 (weight 1) and one P2 (weight 2) fit, a P1 (weight 3) then does not
        await produce(fresh.settings, agents_topic, [agent("zoe", ["payment"], capacity=3)])
        await eventually(lambda: _has(roster(proc), 1), what="zoe")
        await produce(fresh.settings, tickets_topic, [opened("T-Q1", "payment", "P3"), opened("T-Q2", "payment", "P2")])
        await eventually(lambda: _caught_up(fresh, [tickets_topic]), what="two assignments")
        await produce(fresh.settings, tickets_topic, [opened("T-Q3", "payment", "P1")])

        async def queued() -> list[str]:
            records = await read_all(fresh.settings, tickets_topic)
            return [header(r, "ce_subject") or "" for r in records if header(r, "ce_type") == "ticket.queued"]

        assert await eventually(queued, what="T-Q3 to be queued") == ["T-Q3"]
        records = await read_all(fresh.settings, tickets_topic)
        [why] = [
            Envelope.from_kafka(r.key, r.value, list(r.headers)).data
            for r in records
            if header(r, "ce_type") == "ticket.queued"
        ]
        assert isinstance(why, ev.TicketQueued) and why.reason == "1 agents with payment: 1 at capacity"

        # zoe finishes T-Q2: weight 2 frees up, still not enough for a P1 ...
        resolved = envelope(ev.TicketResolved(ticket_id="T-Q2", agent_id="zoe", summary="ok"), "T-Q2")
        await produce(fresh.settings, tickets_topic, [resolved])
        await eventually(lambda: _caught_up(fresh, [tickets_topic]), what="the resolution")
        assert "T-Q3" not in await assignments(fresh)
        # ... until a colleague comes online
        await produce(fresh.settings, agents_topic, [agent("yuri", ["payment"], capacity=5)])

        async def q3_assigned() -> list[dict[str, str]]:
            return (await assignments(fresh)).get("T-Q3", [])

        assert (await eventually(q3_assigned, what="T-Q3 assigned"))[-1]["agent"] == "yuri"

        # a queued ticket is also taken when its only agent comes back from being away
        away = envelope(ev.AgentAvailabilityChanged(agent_id="zoe", availability="away"), "zoe")
        await produce(fresh.settings, agents_topic, [away])
        await eventually(lambda: _away(proc, "zoe"), what="zoe away")
        await produce(fresh.settings, tickets_topic, [opened("T-Q4", "payment", "P4"), opened("T-Q5", "payment", "P4")])

        async def yuri_full() -> bool:
            return bool((await roster(proc))["yuri"]["load"] == 5)

        # Kafka orders a ticket's events, not different tickets': T-Q6 is opened once the two before
        # it are applied (read in one poll, on another partition, it could be decided first)
        await eventually(yuri_full, what="yuri to fill up")
        await produce(fresh.settings, tickets_topic, [opened("T-Q6", "payment", "P3")])

        async def q6_queued() -> bool:
            return "T-Q6" in await queued()

        await eventually(q6_queued, what="T-Q6 queued")
        back = envelope(ev.AgentAvailabilityChanged(agent_id="zoe", availability="online"), "zoe")
        await produce(fresh.settings, agents_topic, [back])

        async def q6_to_zoe() -> list[dict[str, str]]:
            return [a for a in (await assignments(fresh)).get("T-Q6", []) if a["agent"] == "zoe"]

        await eventually(q6_to_zoe, what="T-Q6 to zoe once back online")
    finally:
        proc.stop()


async def _away(proc: Proc, agent_id: str) -> bool:
    return bool((await roster(proc))[agent_id]["availability"] == "away")


async def test_supervisor_reassigns_by_hand_and_removal_moves_every_ticket(fresh: Isolated) -> None:
    proc = routing(fresh, "routing").start()
    await proc.ready()
    agents_topic, tickets_topic = fresh.settings.topic(AGENT_EVENTS), fresh.settings.topic(TICKET_EVENTS)
    try:
        await produce(fresh.settings, agents_topic, [agent("ines", ["account"]), agent("juan", ["account"], level=2)])
        await eventually(lambda: _has(roster(proc), 2), what="roster")
        await produce(fresh.settings, tickets_topic, [opened(f"T-R{i}", "account", "P3") for i in range(4)])
        await eventually(lambda: _caught_up(fresh, [tickets_topic]), what="assignments")
        waiting = envelope(ev.TicketInfoRequested(ticket_id="T-R0", agent_id="x", question="?"), "T-R0")
        await produce(fresh.settings, tickets_topic, [waiting])
        await eventually(lambda: _caught_up(fresh, [tickets_topic]), what="the question")
        owners = {t: v[-1]["agent"] for t, v in (await assignments(fresh)).items()}

        async with client(timeout=5) as http:
            url = f"http://127.0.0.1:{proc.port}"
            other = "juan" if owners["T-R1"] == "ines" else "ines"
            body = {"agent_id": other, "reason": "Conoce al cliente"}
            refused = await http.post(f"{url}/tickets/T-R1/assign", json=body, headers=as_actor("agent:ines"))
            assert refused.status_code == 403
            unknown = await http.post(
                f"{url}/tickets/T-R1/assign",
                json={"agent_id": "nadie", "reason": "x"},
                headers=as_actor("supervisor:sara"),
            )
            assert unknown.status_code == 409
            moved = await http.post(f"{url}/tickets/T-R1/assign", json=body, headers=as_actor("supervisor:sara"))
            assert moved.status_code == 200, moved.text

            async def manual() -> dict[str, str] | None:
                last = (await assignments(fresh))["T-R1"][-1]
                return last if last["agent"] == other else None

            assert (await eventually(manual, what="the manual move"))["previous"] == owners["T-R1"]

            # removing juan moves all of his open tickets, even one waiting on the customer
            await http.delete(f"{url}/agents/juan", headers=as_actor("supervisor:sara"))

        async def nothing_left_on_juan() -> bool:
            log = await assignments(fresh)
            return all(v[-1]["agent"] == "ines" for v in log.values())

        await eventually(nothing_left_on_juan, timeout=30, what="juan's tickets to move")
        state = await roster(proc)
        assert "juan" not in state and state["ines"]["open_count"] == 4 and state["ines"]["load"] == 4
    finally:
        proc.stop()
