"""A three-node Kafka cluster (tests/e2e/cluster.py) under a steady load of tickets:
the leader of a busy partition SIGKILLed and restarted; a second node SIGKILLed while the first is
down (writes must wait, never be lost); a rolling restart of all three. After them: every ticket
opened is present, assigned exactly once, has its targets, its requester got one "received" mail,
and the projections equal a replay of the log. Each fault's pause (from the fault until the first
ticket acknowledged after it is assigned) is printed; docs/reliability.md records a run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.platform.settings import Settings
from shared.platform.topics import cluster_state
from tests.conftest import Infra, Isolated, isolate
from tests.e2e.cluster import NODES, Cluster, all_in_sync, leader_of_busiest
from tests.e2e.conftest import Mesa, register_roster
from tests.e2e.test_faults_under_load import CREW, Load, check, settle
from tests.support import eventually

pytestmark = pytest.mark.timeout(900)
PARTITIONS = 3


@pytest.fixture(scope="module")
async def isolated(cluster: Cluster, infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Isolated]:
    """The module's corner (a database, a topic prefix) on the cluster instead of the suite's broker."""
    on_cluster = Infra(cluster.bootstrap, infra.database_url, {"MESA_KAFKA_CREDENTIALS": str(cluster.credentials)})
    async with isolate(on_cluster, PARTITIONS, tmp_path_factory.mktemp("logs")) as iso:
        yield iso


async def pause_after(mesa: Mesa, load: Load, fault_at: float) -> float:
    """Seconds from `fault_at` until the first ticket acknowledged after it is assigned."""

    async def assigned() -> float | None:
        later = sorted((at, tid) for tid, at in list(load.acked_at.items()) if at > fault_at)
        if not later:
            return None
        ticket = await mesa.get_ticket(later[0][1])
        return time.monotonic() if ticket is not None and ticket["owner"] else None

    done: float = await eventually(assigned, timeout=240, interval=0.2, what="an assignment after the fault")
    return done - fault_at


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
    report: list[tuple[str, float]] = []

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
        fault_at = time.monotonic()
        await cluster.kill(first)
        report.append((f"SIGKILL node {first} (leader of ticket.events[0])", await pause_after(mesa, load, fault_at)))
        await steady()
        await cluster.script("start")  # starts only the node that is down
        await eventually(lambda: all_in_sync(settings), timeout=120, interval=1, what="replicas in sync again")
        report.append((f"node {first} restarted, caught up", 0.0))
        await steady()

        # 2. a second node dies while the first is down: one copy left, below min.insync.replicas=2
        first = await leader_of_busiest(settings)
        await cluster.kill(first)
        await steady(6)
        second = next(n for n in NODES if n != first and cluster.pid(n) is not None)
        fault_at = time.monotonic()
        await cluster.kill(second)
        before = len(load.opened)

        async def acknowledged_and_held() -> int | None:
            """Intake keeps acknowledging (the ticket is in its database) and holds the events."""
            held = await backlog(settings)
            return held if len(load.opened) >= before + 4 and held > 0 else None

        held = await eventually(acknowledged_and_held, timeout=60, interval=0.5, what="tickets held in intake's outbox")
        print(f"  two nodes down: {held} events held in intake's outbox", flush=True)
        await cluster.script("start")
        pause = await pause_after(mesa, load, fault_at)
        report.append((f"SIGKILL node {first}, then node {second} (one copy left), restart both", pause))
        notify_interruptions += (await settle(mesa)).count("notify")
        await eventually(lambda: all_in_sync(settings), timeout=120, interval=1, what="replicas in sync again")
        await steady()

        # 3. a rolling restart, one node at a time, each back in sync before the next
        for node in NODES:
            fault_at = time.monotonic()
            await cluster.script("stop-node", str(node))
            await cluster.script("start")
            report.append((f"rolling restart: node {node}", await pause_after(mesa, load, fault_at)))
            await eventually(lambda: all_in_sync(settings), timeout=120, interval=1, what="replicas in sync again")
            await steady(6)
    finally:
        load.running = False
        notify_interruptions += (await settle(mesa)).count("notify")
        await asyncio.wait_for(runner, timeout=240)
    facts = await check(mesa, load, full=True, notify_interruptions=max(1, notify_interruptions))
    print(f"\nthree nodes, load {len(load.opened) / (time.monotonic() - t0):.1f}/s: {facts}")
    print("\n".join(f"| {fault} | {pause:.1f} s |" for fault, pause in report))
    for name, proc in mesa.procs.items():
        assert proc.alive(), f"{name} is down:\n{proc.log_tail()}"
