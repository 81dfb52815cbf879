"""Benchmark of the delivery path, against the raw limit of the same broker and database.

    .venv/bin/python -m bench.delivery [--events 20000] [--tickets 1000]

Measures, on a private topic prefix and database:
1. raw: a plain aiokafka consumer reading the records (no database): the ceiling;
2. inbox: the shared InboxConsumer folding them into a table, one transaction per partition batch;
3. relay: the outbox relay publishing the same number of rows to Kafka;
4. what trust costs: signing and verifying one record (Ed25519, in process), producing signed
   against unsigned records and reading with the signature check against the raw read, in the
   same run; and SASL/SCRAM, which costs at connection time only (no TLS: nothing per record),
   as the time to open an authenticated connection.
Prints one line per figure; docs/benchmarks.md keeps the results with the machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.domain.events import Envelope
from shared.domain.events.catalogue import TicketCommented
from shared.platform import db, outbox
from shared.platform.consumer import Delivery, InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.outbox import OutboxRelay
from shared.platform.settings import Settings
from shared.platform.signing import Signer, Trust, load_signer
from shared.platform.topics import TICKET_EVENTS, TopicSpec, delete_topics, ensure_topics, topic_specs

SCHEMA = "bench"
TABLE = "CREATE TABLE IF NOT EXISTS folds (ticket_id text PRIMARY KEY, events integer NOT NULL)"


def events(n: int, tickets: int) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        Envelope.new(
            TicketCommented(ticket_id=f"T-{i % tickets}", author="bench", author_role="agent", body=f"nota {i}"),
            source="bench",
            subject=f"T-{i % tickets}",
            time=now,
        )
        for i in range(n)
    ]


def intake_signer(settings: Settings) -> Signer:
    """The bench stands in for intake, the owner of the comments it writes."""
    return load_signer(settings.signing_folder / "intake.key", "intake")


async def produce(settings: Settings, topic: str, evs: list[Envelope], *, sign: bool = True) -> float:
    """`evs` to `topic`, each signed on its own when `sign` (a relay's batch of one: the worst case)."""
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    start = time.perf_counter()
    try:
        signer = intake_signer(settings)
        for e in evs:
            k, v, h = e.to_kafka()
            await producer.send(topic, v, key=k, headers=signer.sign(k, v, h) if sign else h)
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - start


def sign_and_verify(settings: Settings, evs: list[Envelope], batch: int) -> tuple[float, float, float]:
    """Microseconds per record: encode, sign (`batch` records per signature, as a relay does),
    verify (a reader that has not seen the batch's root yet pays one signature per batch)."""
    signer = intake_signer(settings)
    trust = Trust.load(settings.signing_folder)
    t0 = time.perf_counter()
    encoded = [e.to_kafka() for e in evs]
    t1 = time.perf_counter()
    signed = []
    for at in range(0, len(encoded), batch):
        part = encoded[at : at + batch]
        signed += [(k, v, h) for (k, v, _), h in zip(part, signer.sign_batch(part), strict=True)]
    t2 = time.perf_counter()
    for i, (k, v, h) in enumerate(signed):
        trust.check("t", 0, i, "ticket.commented", k, v, h)
    t3 = time.perf_counter()
    n = len(evs) / 1e6
    return (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n


async def sasl_connect(settings: Settings, times: int = 10) -> float:
    """Milliseconds to open an authenticated producer (connection, SCRAM exchange, metadata)."""
    start = time.perf_counter()
    for _ in range(times):
        producer = AIOKafkaProducer(**settings.kafka())
        await producer.start()
        await producer.stop()
    return (time.perf_counter() - start) / times * 1000


async def raw_read(settings: Settings, topic: str, n: int, *, verify: bool = False) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        **settings.kafka(),
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
    )
    await consumer.start()
    check = verified_events(Trust.load(settings.signing_folder)) if verify else None
    try:
        seen, start = 0, time.perf_counter()
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000)
            seen += sum(len(r) for r in batch.values())
            if check is not None:
                for records in batch.values():
                    for r in records:
                        check(r)  # decode + signature + owner, as every consumer does
        return time.perf_counter() - start
    finally:
        await consumer.stop()


async def inbox_fold(settings: Settings, pool: asyncpg.Pool, topic: str, n: int) -> float:
    async def fold(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        await conn.execute(
            "INSERT INTO folds(ticket_id, events) VALUES ($1, 1)"
            " ON CONFLICT (ticket_id) DO UPDATE SET events = folds.events + 1",
            env.subject,
        )

    consumer = InboxConsumer[Envelope](
        settings,
        pool,
        name="bench",
        group_id=f"bench-inbox-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        handler=fold,
        decode=verified_events(Trust.load(settings.signing_folder)),
        letters=Letters(await Keyring.open(pool, settings)),
    )
    task = asyncio.create_task(consumer.run())
    await consumer.joined.wait()
    start = time.perf_counter()
    while (await pool.fetchval("SELECT coalesce(sum(events), 0) FROM folds")) < n:  # noqa: ASYNC110
        await asyncio.sleep(0.05)  # polling the table is the measurement
    elapsed = time.perf_counter() - start
    consumer.stop()
    await task
    return elapsed


async def relay(settings: Settings, pool: asyncpg.Pool, evs: list[Envelope]) -> float:
    topic = settings.topic(TICKET_EVENTS)
    async with pool.acquire() as conn, conn.transaction():
        for e in evs:
            await outbox.enqueue(conn, topic, e)
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        r = OutboxRelay(pool, producer, SCHEMA, intake_signer(settings), batch_size=500)
        start = time.perf_counter()
        while await r.publish_batch():
            pass
        return time.perf_counter() - start
    finally:
        await producer.stop()


async def main(n: int, tickets: int) -> None:
    base = Settings()
    tag = f"bench{uuid.uuid4().hex[:6]}"
    settings = base.model_copy(update={"topic_prefix": f"{tag}."})
    await ensure_topics(settings)
    topic = settings.topic(TICKET_EVENTS)
    pool = await db.create_pool(settings.database_url, SCHEMA, max_size=4)
    try:
        await db.drop_schema(settings.database_url, SCHEMA)
        await pool.close()
        pool = await db.create_pool(settings.database_url, SCHEMA, max_size=4)
        await db.migrate(pool, SCHEMA)
        await pool.execute(TABLE)
        evs = events(n, tickets)
        print(
            f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores,"
            f" python {platform.python_version()}"
        )
        print(f"events: {n} over {tickets} tickets, {settings.topic_partitions} partitions")
        for batch in (1, 10, 100):
            encode, sign, verify = sign_and_verify(settings, evs, batch)
            times = f"{encode:.1f} / {sign:.1f} / {verify:.1f}"
            print(f"encode / sign / verify, {batch:>3} per signature: {times} us per record")
        print(f"SASL/SCRAM-SHA-512 connect:     {await sasl_connect(settings):.1f} ms per producer")
        unsigned_topic = settings.topic("bench.unsigned")
        await ensure_topics(settings, [TopicSpec(unsigned_topic, settings.topic_partitions)])
        t = await produce(settings, unsigned_topic, evs, sign=False)
        print(f"produce unsigned:               {n / t:,.0f} records/s")
        t = await produce(settings, topic, evs)
        print(f"produce (idempotent, acks=all): {n / t:,.0f} records/s, signed")
        t = await raw_read(settings, topic, n)
        print(f"raw consume (no database):      {n / t:,.0f} records/s")
        t = await raw_read(settings, topic, n, verify=True)
        print(f"consume + decode + verify:      {n / t:,.0f} records/s")
        t = await inbox_fold(settings, pool, topic, n)
        print(f"inbox consume + fold:           {n / t:,.0f} records/s")
        t = await relay(settings, pool, evs)
        print(f"outbox relay publish:           {n / t:,.0f} records/s")
    finally:
        await pool.close()
        await db.drop_schema(settings.database_url, SCHEMA)
        await delete_topics(settings, [s.name for s in topic_specs(settings)] + [settings.topic("bench.unsigned")])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--tickets", type=int, default=1_000)
    args = parser.parse_args()
    asyncio.run(main(args.events, args.tickets))
