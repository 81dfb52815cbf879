"""Benchmark: rebuilding the projections from the log, next to a bare consumer of the same log.

    .venv/bin/python -m bench.replay [--events 1000000] [--together]

On a private topic prefix and database: writes `--events` ticket events (opened, targets set,
assigned, commented, resolved: five per ticket) to ticket.events, each when it happens in a shop
that opens a ticket a second (`SPREAD`: a ticket's comment two hours after it was opened, its
resolution the next day, other tickets' events between them), or with `--together` each
ticket's five one after the other (how rounds before 2026-12-01's thirteenth measured); then in
the same run
1. bare: a plain aiokafka consumer reads every record (no decoding, no database): the ceiling;
2. replay: `ops.replay.rebuild` folds them into a shadow projections schema, as
   `mesa replay projections` does.
Prints events/s for both and the ratio; docs/benchmarks.md keeps the results.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import os
import platform
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import partial

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.corner import private_corner
from bench.machine import reference_loop_s
from bench.relays import write
from ops import replay
from shared.domain import privacy as pv
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.bus import partitions_of
from shared.platform.keyring import Keyring
from shared.platform.runtime import tune_gc
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS

CATEGORIES = ["hardware", "software", "network", "order_status", "payment"]


def seal_as(key: bytes, ref: str, value: str, place: pv.Place) -> str:
    return pv.seal(key, ref, value, place)


# When each of a ticket's five events happens after it was opened, in a shop that opens a ticket
# a second: the first three at once, a comment two hours later, the resolution the next day. So
# in the log a ticket's events lie far apart (the comment 7,200 tickets on, the resolution 86,400),
# with other tickets' events between them, as an auditor's replay meets them.
SPREAD = (timedelta(0), timedelta(seconds=1), timedelta(seconds=5), timedelta(hours=2), timedelta(days=1))
TOGETHER = tuple(timedelta(minutes=k) for k in range(5))  # each ticket's history in one piece


def history(n: int, keys: dict[str, bytes], *, spread: bool = False) -> Iterator[Envelope]:
    """`n` events, five per ticket, as intake writes them: requesters by pseudonym, the text sealed
    with their keys (`keys`: pseudonym -> data key). In the log's order: each ticket's five
    together, or (`spread`) each when it happens (`SPREAD`), other tickets' in between."""
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    people = list(keys.items())
    tickets = n // 5
    after = SPREAD if spread else TOGETHER

    def event(i: int, k: int) -> Envelope:
        tid = f"T-B{i:07d}"
        at = t0 + timedelta(seconds=i)
        ref, key = people[i % len(people)]
        agent = f"agente{i % 40}"
        plain: ev.Payload
        match k:
            case 0:
                plain = ev.TicketOpened(
                    ticket_id=tid,
                    requester=ref,
                    subject=f"Incidencia {i}",
                    description="Generada para el benchmark de replay",
                    category=CATEGORIES[i % 5],
                    impact="medium",
                    urgency="medium",
                    priority="P3",
                )
            case 1:
                plain = ev.TicketSlaTargetsSet(
                    ticket_id=tid,
                    priority="P3",
                    first_response_due=at + timedelta(hours=8),
                    resolution_due=at + timedelta(days=3),
                )
            case 2:
                plain = ev.TicketAssigned(ticket_id=tid, agent_id=agent, level=1, reason="bench")
            case 3:
                plain = ev.TicketCommented(ticket_id=tid, author=agent, author_role="agent", body="Revisando")
            case _:
                plain = ev.TicketResolved(ticket_id=tid, agent_id=agent, summary="Resuelto")
        p = pv.rewrite(plain, text=partial(seal_as, key, ref))  # sealed in its place, as intake does
        actor = f"requester:{ref}" if k == 0 else "system"
        return Envelope.new(p, source="bench", subject=tid, time=at + after[k], actor=actor)

    if not spread:
        for i in range(tickets):
            yield from (event(i, k) for k in range(5))
        return

    # each stage's events come in ticket order, so the log is their merge by time
    def stage(k: int) -> Iterator[Envelope]:
        return (event(i, k) for i in range(tickets))

    yield from heapq.merge(*(stage(k) for k in range(5)), key=lambda env: env.time)


async def requesters(settings: Settings, count: int) -> dict[str, bytes]:
    """`count` requesters with keys in the keys schema (what projections open events with)."""
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    assert pool is not None
    try:
        ring = await Keyring.open(pool, settings)
        keys = {}
        for i in range(count):
            ref = await ring.ref_for(f"c{i}@example.com", create=True)
            assert ref is not None
            found = await ring.entry(ref)
            assert found is not None
            keys[ref] = found[1]
        return keys
    finally:
        await pool.close()


async def bare(settings: Settings) -> tuple[int, float]:
    topic = settings.topic(TICKET_EVENTS)
    reader = AIOKafkaConsumer(
        **settings.kafka(),
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=5000,
        fetch_max_bytes=64 * 2**20,
        max_partition_fetch_bytes=8 * 2**20,
    )
    await reader.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
        ends = await reader.end_offsets(tps)
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        todo = {tp for tp in tps if ends[tp] > 0}
        n = 0
        start = time.perf_counter()
        while todo:
            batch = await reader.getmany(*todo, timeout_ms=1000)
            for _tp, records in batch.items():
                n += len(records)
            for tp in list(todo):
                if await reader.position(tp) >= ends[tp]:
                    todo.discard(tp)
        return n, time.perf_counter() - start
    finally:
        await reader.stop()


async def main(n: int, workers: list[int], spread: bool) -> None:
    async with private_corner("replay") as (settings, _env):
        keys = await requesters(settings, 2_000)
        took = await write(settings, history(n, keys, spread=spread))
        shape = "each ticket's events spread over a day" if spread else "each ticket's events together"
        print(f"wrote {n:,} events ({shape}) in {took:.1f} s ({n / took:,.0f}/s)")
        tune_gc()  # as `mesa replay` does; the bare consumer gets it too, for a fair ratio
        read, bare_s = await bare(settings)
        print(f"bare aiokafka consumer: {read:,} records in {bare_s:.1f} s = {read / bare_s:,.0f} records/s")
        for count in workers:
            start = time.perf_counter()
            shadow = await replay.rebuild(settings, "projections", workers=count)
            replay_s = time.perf_counter() - start
            await shadow.close()
            await replay.drop(settings, shadow)
            rate = shadow.read / replay_s
            print(
                f"replay projections, {count} worker(s): {shadow.read:,} events in {replay_s:.1f} s"
                f" = {rate:,.0f} events/s"
            )
            print(f"ratio: {100 * rate / (read / bare_s):.1f}% of the bare consumer")
        print(
            f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()},"
            f" reference loop {reference_loop_s()} s (bench.machine)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="replay processes, one run each")
    parser.add_argument(
        "--together",
        action="store_true",
        help="each ticket's five events one after the other (the shape of the rounds before 2026-12-01's thirteenth)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.events, args.workers, spread=not args.together))
