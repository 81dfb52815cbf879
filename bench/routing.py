"""Benchmark: assignments per second from a backlog of ticket.opened events.

    .venv/bin/python -m bench.routing [--tickets 20000]

For one and for two routing processes: start them on a private topic prefix and database (so
they adopt the empty partitions), stop them, produce the backlog, start them again and time
until every ticket has its owner. The same backlog read by a bare aiokafka consumer in the same
run is the ceiling. Needs Kafka and PostgreSQL (`make infra`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.corner import private_corner
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.settings import Settings
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS
from tests.kafka_tools import produce
from tests.support import Proc, free_port

CATEGORIES = ["order_status", "payment", "account", "hardware", "software", "network"]
AGENTS = 60  # 60 x capacity 200 = 12,000: most of a 20,000 backlog is assigned, the rest queued


async def scenario(tickets: int, instances: int, log_dir: str) -> tuple[float, float]:
    async with private_corner("r") as (settings, env):
        return await _run(settings, env, tickets, instances, log_dir)


async def _run(
    settings: Settings, env: dict[str, str], tickets: int, instances: int, log_dir: str
) -> tuple[float, float]:
    procs = []
    try:
        procs = [
            Proc(
                "services.routing",
                env | {"ROUTING_PORT": str(free_port())},
                __import__("pathlib").Path(log_dir),
                f"r{i}",
            )
            for i in range(instances)
        ]
        for p in procs:
            p.port = int(p.env["ROUTING_PORT"])
            p.start()
        for p in procs:
            await p.ready(90)
        now = datetime.now(UTC)
        team = [
            Envelope.new(
                ev.AgentRegistered(
                    agent_id=f"agent{i}",
                    name=f"Agent {i}",
                    email=f"a{i}@x",
                    skills=tuple(CATEGORIES),
                    level=1 + i % 3,
                    capacity=200,
                ),
                source="bench",
                subject=f"agent{i}",
                time=now,
            )
            for i in range(AGENTS)
        ]
        await produce(settings, settings.topic(AGENT_EVENTS), team)
        conn = await asyncpg.connect(env["DATABASE_URL"])
        while await conn.fetchval("SELECT count(*) FROM routing.agents") < AGENTS:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        for p in procs:
            p.stop()
        rng = random.Random(1)
        backlog = [
            Envelope.new(
                ev.TicketOpened(
                    ticket_id=f"T-{i}",
                    requester="r",
                    subject="s",
                    description="d",
                    category=rng.choice(CATEGORIES),
                    impact="low",
                    urgency="low",
                    priority="P4",
                ),
                source="bench",
                subject=f"T-{i}",
                time=now,
            )
            for i in range(tickets)
        ]
        await produce(settings, settings.topic(TICKET_EVENTS), backlog)
        raw = await raw_read(settings, tickets)
        start = time.perf_counter()
        for p in procs:
            p.start()
        # a decision is an assignment, or a place in the queue when capacity runs out
        decided = "SELECT count(*) FROM routing.tickets WHERE owner IS NOT NULL OR waiting_since IS NOT NULL"
        first = None
        while (done := await conn.fetchval(decided)) < tickets:
            if first is None and done > 0:
                first = time.perf_counter()  # the instances are up: startup is not routing
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - (first or start)
        print(f"  {instances} instance(s): startup {(first or start) - start:.1f}s, then {elapsed:.1f}s for {tickets}")
        await conn.close()
        return tickets / elapsed, raw
    finally:
        for p in procs:
            p.stop()


async def raw_read(settings: Settings, n: int) -> float:
    consumer = AIOKafkaConsumer(
        settings.topic(TICKET_EVENTS),
        **settings.kafka(),
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, start = 0, time.perf_counter()
        while seen < n:
            seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=1000)).values())
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


async def main(tickets: int) -> None:
    log_dir = f"/tmp/mesa-bench-{uuid.uuid4().hex[:6]}"
    os.makedirs(log_dir)
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores; backlog {tickets} ticket.opened")
    for n in (1, 2):
        rate, raw = await scenario(tickets, n, log_dir)
        print(f"{n} routing instance(s): {rate:,.0f} decisions/s; bare consumer {raw:,.0f} records/s;", end=" ")
        print(f"ratio {raw / rate:,.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().tickets))
