"""Plain Kafka reads and writes for tests: they check the services from outside, so they use
aiokafka directly rather than the project's bus code."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from shared.domain.events import Envelope, Headers
from shared.domain.events.catalogue import owners_of
from shared.platform.keyring import master_key
from shared.platform.letters import dlq_key, open_letter
from shared.platform.settings import Settings
from shared.platform.signing import Signer, load_signer

RawRecord = tuple[bytes | None, bytes | None, Headers]


def signer_of(settings: Settings, service: str) -> Signer:
    return load_signer(settings.signing_folder / f"{service}.key", service)


def signed(settings: Settings, env: Envelope, as_service: str | None = None) -> RawRecord:
    """`env` as the service that owns its type would publish it (tests stand in for it)."""
    service = as_service or min(owners_of(env.type))
    key, value, headers = env.to_kafka()
    return key, value, signer_of(settings, service).sign(key, value, headers)


async def produce(settings: Settings, topic: str, records: Iterable[Envelope | RawRecord]) -> int:
    """Publish `records`; an envelope is signed by its type's owner, a raw record goes as it is."""
    producer = AIOKafkaProducer(**settings.kafka(), acks="all")
    await producer.start()
    n = 0
    try:
        for item in records:
            key, value, headers = signed(settings, item) if isinstance(item, Envelope) else item
            await producer.send(topic, value=value, key=key, headers=headers)
            n += 1
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(**settings.kafka())
    await consumer.start()
    try:
        parts: set[int] = set()
        for _ in range(100):  # a topic created a moment ago may not be in the metadata yet
            cluster = await consumer._client.fetch_all_metadata()  # fresh, not the client's cache
            parts = cluster.partitions_for_topic(topic) or set()
            if parts:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"topic {topic} has no partitions in the broker's metadata")
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def read_all(settings: Settings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record now in `topic`, partition by partition, in offset order."""
    ends = await end_offsets(settings, topic)
    tps = [TopicPartition(topic, p) for p, end in ends.items() if end > 0]
    if not tps:
        return []  # (and no consumer: aiokafka's stop() of one never assigned can raise CancelledError)
    consumer = AIOKafkaConsumer(**settings.kafka(), enable_auto_commit=False)
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        remaining = {tp: ends[tp.partition] for tp in tps}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, recs in batch.items():
                out.extend(r for r in recs if r.offset < remaining.get(tp, 0))
                if tp in remaining and recs and recs[-1].offset + 1 >= remaining[tp]:
                    del remaining[tp]
        return out
    finally:
        await consumer.stop()


async def inbox_caught_up(settings: Settings, schema: str, consumer: str, topics: Sequence[str]) -> bool:
    """True when `consumer`'s inbox has applied every record now in `topics`."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT topic, partition, next_offset FROM {schema}.inbox_offsets WHERE consumer = $1", consumer
        )
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()
    stored = {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
    for topic in topics:
        for partition, end in (await end_offsets(settings, topic)).items():
            if end > 0 and stored.get((topic, partition), 0) < end:
                return False
    return True


def opened_letter(settings: Settings, record: ConsumerRecord[bytes, bytes]) -> tuple[bytes | None, Headers]:
    """The original (value, headers) a dead letter sealed with the DLQ key keeps."""
    assert header(record, "dlq_sealed") == "dlq", "sealed with a requester's key"
    return open_letter(record.value, list(record.headers), dlq_key(master_key(settings)))


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for k, v in record.headers or ():
        if k == name:
            return bytes(v).decode()
    return None
