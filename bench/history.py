"""Benchmark support: a shop after a year. Writes the history of `--tickets` closed tickets to the
log before the services first start, so they fold it as history (no new events, no mail, as a
service joining an existing log does), then waits until every consumer is past it.

    make clean && make infra
    .venv/bin/mesa signing init && .venv/bin/mesa topics create && .venv/bin/mesa signing cutover
    .venv/bin/python -m bench.history write --tickets 1000000
    make up                                     # every service folds the year, as history
    .venv/bin/python -m bench.history wait      # until every consumer is past it
    .venv/bin/python -m bench.stack --clients 50 --tickets 3000

Each ticket: opened by one of 2,000 requesters (its text sealed with their key, as intake writes
it), SLA's targets, assigned to one of 40 agents, an agent's comment, resolved, closed: six
events, spread over the year before now, signed by their owners in relay-sized batches.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.relays import write
from bench.replay import CATEGORIES, requesters, seal_as
from shared.domain import privacy as pv
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.bus import partitions_of
from shared.platform.settings import Settings
from shared.platform.topology import STATIONS

EVENTS_PER_TICKET = 6


def year(tickets: int, keys: dict[str, bytes], now: datetime) -> Iterator[Envelope]:
    """`tickets` closed tickets, evenly over the year before `now`, each history in order."""
    start = now - timedelta(days=365)
    step = timedelta(days=365) / max(tickets, 1)
    people = list(keys.items())
    for i in range(tickets):
        tid = f"T-Y{i:07d}"
        at = start + i * step
        ref, key = people[i % len(people)]
        agent = f"hist{i % 40:02d}"
        payloads: list[ev.Payload] = [
            ev.TicketOpened(
                ticket_id=tid,
                requester=ref,
                subject=f"Pedido {i} sin llegar",
                description="El seguimiento no se mueve desde hace días",
                category=CATEGORIES[i % len(CATEGORIES)],
                impact="medium",
                urgency="medium",
                priority="P3",
            ),
            ev.TicketSlaTargetsSet(
                ticket_id=tid,
                priority="P3",
                first_response_due=at + timedelta(hours=8),
                resolution_due=at + timedelta(days=3),
            ),
            ev.TicketAssigned(ticket_id=tid, agent_id=agent, level=1, reason="history"),
            ev.TicketCommented(ticket_id=tid, author=agent, author_role="agent", body="Lo miramos con la agencia"),
            ev.TicketResolved(ticket_id=tid, agent_id=agent, summary="Entregado"),
            ev.TicketClosed(ticket_id=tid, by=ref, reason="confirmed"),
        ]
        for k, plain in enumerate(payloads):
            sealed = pv.rewrite(plain, text=partial(seal_as, key, ref))
            actor = f"requester:{ref}" if k in (0, 5) else "system"
            yield Envelope.new(sealed, source="history", subject=tid, time=at + timedelta(hours=k), actor=actor)


async def behind(settings: Settings) -> tuple[int, int]:
    """(records every consumer of every service still has to apply, consumers seen)."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = []
        for station in STATIONS:
            try:
                rows += await conn.fetch(
                    f"SELECT consumer, topic, partition, next_offset FROM {station.name}.inbox_offsets"
                )
            except asyncpg.UndefinedTableError:
                continue
    finally:
        await conn.close()
    reader = AIOKafkaConsumer(**settings.kafka(), group_id=None)
    await reader.start()
    try:
        topics = {r["topic"] for r in rows}
        ends: dict[TopicPartition, int] = {}
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
            ends.update(await reader.end_offsets(tps))
    finally:
        await reader.stop()
    left = sum(max(0, ends.get(TopicPartition(r["topic"], r["partition"]), 0) - r["next_offset"]) for r in rows)
    return left, len({r["consumer"] for r in rows})


async def wait(settings: Settings, consumers: int) -> None:
    started = time.monotonic()
    first: int | None = None
    while True:
        left, seen = await behind(settings)
        first = left if first is None else first
        took = time.monotonic() - started
        rate = (first - left) / took if took > 0 else 0.0
        print(f"{took:7.0f} s  {seen} consumers, {left:,} records still to fold ({rate:,.0f}/s)", flush=True)
        if seen >= consumers and left == 0:
            return
        await asyncio.sleep(10)


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    if args.command == "write":
        keys = await requesters(settings, 2_000)
        took = await write(settings, year(args.tickets, keys, datetime.now(UTC)))
        n = args.tickets * EVENTS_PER_TICKET
        print(f"wrote {args.tickets:,} tickets ({n:,} events) in {took:.0f} s ({n / took:,.0f} events/s)")
    else:
        await wait(settings, args.consumers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["write", "wait"])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--consumers", type=int, default=14, help="how many consumers `wait` expects to see")
    asyncio.run(main(parser.parse_args()))
