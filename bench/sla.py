"""Benchmark: a burst of due SLA timers among many open tickets.

    .venv/bin/python -m bench.sla [--tickets 100000] [--due 10000] [--instances 1]

Seeds `--tickets` open clocks, each with a resolution-breach timer; `--due` of them fall due
within one second, a few seconds from now, the rest tomorrow. Then runs the SLA timer loop on the
real clock (with `--instances` loops competing through SKIP LOCKED) and the outbox relay, and
reads the breaches back from Kafka. Reports the time to fire the burst and the lag from each
timer's due time to its event's timestamp on the log (p50, p99). Needs `make infra`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.corner import private_corner
from services.sla.handlers import Sla
from services.sla.loops import timer_loop
from services.sla.policy import load_policy
from services.sla.service import MIGRATIONS
from shared.domain.events import Envelope
from shared.platform import db
from shared.platform.bus import start_producer
from shared.platform.clock import SystemClock
from shared.platform.outbox import OutboxRelay
from shared.platform.settings import Settings
from shared.platform.signing import load_signer
from shared.platform.topics import TICKET_EVENTS
from tests.kafka_tools import end_offsets, read_all


async def seed(pool: asyncpg.Pool, tickets: int, due: int, burst_at: datetime) -> None:
    tomorrow = burst_at + timedelta(days=1)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO tickets(id, opened_at, last_event, last_event_at)"
            " SELECT 'T-' || g, $1, 'ticket.opened', $1 FROM generate_series(1, $2) g",
            burst_at - timedelta(hours=1),
            tickets,
        )
        await conn.execute(
            "INSERT INTO clocks(ticket_id, priority, targets_event_id, calendar, first_response_due, resolution_due,"
            " first_target, resolution_target, first_response_at)"
            " SELECT 'T-' || g, 'P1', gen_random_uuid(), '24x7', $1, CASE WHEN g <= $3"
            " THEN $2::timestamptz + (g % 1000) * interval '1 millisecond' ELSE $4::timestamptz END,"
            " interval '1 hour', interval '4 hours', $1"
            " FROM generate_series(1, $5) g",
            burst_at - timedelta(minutes=30),
            burst_at,
            due,
            tomorrow,
            tickets,
        )
        await conn.execute(
            "UPDATE tickets t SET timer_kinds = '{breach:resolution}', timer_dues = ARRAY[c.resolution_due],"
            " next_due = c.resolution_due FROM clocks c WHERE c.ticket_id = t.id"
        )


async def main(tickets: int, due: int, instances: int) -> None:
    async with private_corner("s") as (settings, _env):
        await _run(settings, tickets, due, instances)


async def _run(settings: Settings, tickets: int, due: int, instances: int) -> None:
    pool = await db.create_pool(settings.database_url, "sla", max_size=6)
    await db.migrate(pool, "sla", MIGRATIONS)
    producer = await start_producer(settings, "bench-sla")
    tasks: list[asyncio.Task[None]] = []
    try:
        burst_at = datetime.now(UTC) + timedelta(seconds=8)
        t = time.perf_counter()
        await seed(pool, tickets, due, burst_at)
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores")
        print(f"seeded {tickets} open clocks with timers in {time.perf_counter() - t:.1f}s; {due} due within 1 s")
        relay = OutboxRelay(
            pool,
            producer,
            "sla",
            load_signer(settings.signing_folder / "sla.key", "sla"),
            batch_size=500,
            poll_seconds=0.2,
        )
        slas = [Sla(settings, pool, SystemClock(), load_policy()) for _ in range(instances)]
        tasks = [asyncio.create_task(relay.run())] + [asyncio.create_task(timer_loop(s, 0.2)) for s in slas]
        topic = settings.topic(TICKET_EVENTS)
        while sum((await end_offsets(settings, topic)).values()) < due:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        records = await read_all(settings, topic)
        lags = []
        stamps = []
        for r in records:
            env = Envelope.from_kafka(r.key, r.value, list(r.headers))
            on_log = datetime.fromtimestamp(r.timestamp / 1000, UTC)
            lags.append((on_log - env.data.due).total_seconds())  # type: ignore[attr-defined]
            stamps.append(on_log)
        burst = (max(stamps) - burst_at).total_seconds()
        q = statistics.quantiles(lags, n=100)
        print(
            f"{instances} timer loop(s): {due} breaches on the log {burst:.1f}s after the first came due "
            f"({due / burst:,.0f}/s); lag due -> log p50 {q[49]:.2f}s, p99 {q[98]:.2f}s, max {max(lags):.2f}s"
        )
        left = await pool.fetchval("SELECT count(*) FROM tickets WHERE next_due IS NOT NULL")
        assert left == tickets - due, left
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=1)
    a = parser.parse_args()
    asyncio.run(main(a.tickets, a.due, a.instances))
