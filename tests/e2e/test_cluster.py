"""A three-node Kafka cluster (tests/e2e/cluster.py) under a steady load of tickets:
the leader of a busy partition SIGKILLed and restarted; a second node SIGKILLed while the first is
down (writes must wait, never be lost); a rolling restart of all three. After them: every ticket
opened is present, assigned exactly once, has its targets, its requester got one "received" mail,
and the projections equal a replay of the log. What each fault did to assignments (`pauses`) is
printed; docs/reliability.md records a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from shared.platform.consumer import decode_event
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS, cluster_state
from tests.conftest import Infra, Isolated, isolate
from tests.e2e.cluster import NODES, Cluster, all_in_sync, leader_of_busiest
from tests.e2e.conftest import Mesa, register_roster
from tests.e2e.test_faults_under_load import CREW, Load, check, settle
from tests.kafka_tools import read_all
from tests.support import eventually

pytestmark = pytest.mark.timeout(900)
PARTITIONS = 3


@pytest.fixture(scope="module")
async def isolated(cluster: Cluster, infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Isolated]:
    """The module's corner (a database, a topic prefix) on the cluster instead of the suite's broker."""
    on_cluster = Infra(cluster.bootstrap, infra.database_url, {"MESA_KAFKA_CREDENTIALS": str(cluster.credentials)})
    async with isolate(on_cluster, PARTITIONS, tmp_path_factory.mktemp("logs")) as iso:
        yield iso


@dataclass(frozen=True)
class Pause:
    """What a fault did to assignments, read from the log afterwards (each event's time is when
    its service decided it): the wait for the next `ticket.assigned` after the fault, and the
    longest open -> assigned of the tickets opened from the fault until the next one."""

    fault: str
    next_assignment_s: float
    worst_open_to_assigned_s: float
    tickets: int


async def pauses(settings: Settings, faults: list[tuple[str, float]]) -> list[Pause]:
    opened: dict[str, float] = {}
    assigned: dict[str, float] = {}
    for record in await read_all(settings, settings.topic(TICKET_EVENTS)):
        env = decode_event(record)
        if env.type == "ticket.opened":
            opened[env.subject] = env.time.timestamp()
        elif env.type == "ticket.assigned":
            assigned.setdefault(env.subject, env.time.timestamp())
    out = []
    for i, (fault, at) in enumerate(faults):
        until = faults[i + 1][1] if i + 1 < len(faults) else at + 30
        after = [t for t in assigned.values() if t > at]
        hit = [assigned[tid] - t for tid, t in opened.items() if at <= t < until and tid in assigned]
        out.append(Pause(fault, min(after) - at, max(hit, default=0.0), len(hit)))
    return out


async def backlog(settings: Settings) -> int:
    """Rows waiting in intake's outbox: what it acknowledged and could not publish yet."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM intake.outbox"))
    finally:
        await conn.close()


async def test_tickets_survive_killed_and_restarted_kafka_nodes(cluster: Cluster, mesa: Mesa) -> None:
    settings = mesa.iso.settings
    state = await cluster_state(settings)
    assert sorted(state.nodes) == list(NODES)
    assert all(len(p.replicas) == 3 for p in state.partitions), "three copies of every partition"
    await register_roster(mesa, CREW)
    load = Load(mesa)
    t0 = time.monotonic()
    runner = asyncio.create_task(load.run())
    faults: list[tuple[str, float]] = []  # what, when (wall clock, as the events' times)

    async def steady(tickets: int = 12) -> None:
        target = len(load.opened) + tickets

        async def grown() -> bool:
            return len(load.opened) >= target

        await eventually(grown, timeout=240, interval=0.2, what=f"{tickets} more tickets opened")
        print(f"  {time.monotonic() - t0:6.1f} s: {len(load.opened)} opened, {load.retries} retries", flush=True)

    notify_interruptions = 0
    try:
        await steady()
        # 1. the leader of a busy partition dies; the others elect new leaders and go on
        first = await leader_of_busiest(settings)
        faults.append((f"SIGKILL node {first} (leader of ticket.events[0])", time.time()))
        await cluster.kill(first)
        await steady()
        await cluster.script("start")  # starts only the node that is down
        await eventually(lambda: all_in_sync(settings), timeout=120, interval=1, what="replicas in sync again")
        await steady()

        # 2. a second node dies while the first is down: one copy left, below min.insync.replicas=2
        first = await leader_of_busiest(settings)
        await cluster.kill(first)
        await steady(6)
        second = next(n for n in NODES if n != first and cluster.pid(n) is not None)
        faults.append((f"SIGKILL node {first}, then node {second} (one copy left), restart both", time.time()))
        await cluster.kill(second)
        before = len(load.opened)

        async def acknowledged_and_held() -> int | None:
            """Intake keeps acknowledging (the ticket is in its database) and holds the events."""
            held = await backlog(settings)
            return held if len(load.opened) >= before + 4 and held > 0 else None

        held = await eventually(acknowledged_and_held, timeout=60, interval=0.5, what="tickets held in intake's outbox")
        print(f"  two nodes down: {held} events held in intake's outbox", flush=True)
        await cluster.script("start")
        notify_interruptions += (await settle(mesa)).count("notify")
        await eventually(lambda: all_in_sync(settings), timeout=120, interval=1, what="replicas in sync again")
        await steady()

        # 3. a rolling restart, one node at a time, each back in sync before the next
        for node in NODES:
            faults.append((f"rolling restart: node {node} (SIGTERM, start)", time.time()))
            await cluster.script("stop-node", str(node))
            await cluster.script("start")
            await eventually(lambda: all_in_sync(settings), timeout=120, interval=1, what="replicas in sync again")
            await steady(6)
    finally:
        load.running = False
        notify_interruptions += (await settle(mesa)).count("notify")
        await asyncio.wait_for(runner, timeout=240)
    facts = await check(mesa, load, full=True, notify_interruptions=max(1, notify_interruptions))
    print(f"\nthree nodes, load {len(load.opened) / (time.monotonic() - t0):.1f}/s: {facts}")
    for p in await pauses(settings, faults):
        print(f"| {p.fault} | {p.next_assignment_s:.1f} s | {p.worst_open_to_assigned_s:.1f} s ({p.tickets} tickets) |")
    for name, proc in mesa.procs.items():
        assert proc.alive(), f"{name} is down:\n{proc.log_tail()}"
