"""The Kafka edge: an idempotent producer, group consumers with manual offsets, dead letters.

Producers use `acks=all` and idempotence, so a retried send never duplicates or reorders within
a partition. Consumers never auto-commit: the truth of "what was consumed" is the inbox in
PostgreSQL (see `shared.platform.inbox`); the Kafka commit that follows is only for lag monitoring.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import ConsumerRebalanceListener

from shared.domain.events import Envelope
from shared.platform.settings import Settings


async def start_producer(settings: Settings, client_id: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(
        **settings.kafka(),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
        request_timeout_ms=30_000,
    )
    await producer.start()
    return producer


# aiokafka leaves a partition out of the next fetch while its records have waited less than this
# (its `prefetch_backoff`) to be taken, and sends one fetch at a time to a broker. A consumer that
# lingers this long or more, so, has a fetch of the other partitions held while the records behind
# the ones it holds wait for it: the broker's hold becomes their latency, up to the hold.
PREFETCH_BACKOFF_MS = 100
HELD_FETCH_MS_WHEN_LINGERING = 500  # aiokafka's own default
# A consumer nobody waits on (it lingers a second or more: the auditor) lets the broker hold its
# fetch until this much has come, or the hold is over: a fetch round trip per hold instead of one
# per batch a producer appends. A fifth of the auditor's CPU at 50 tickets/s (issue 22).
PATIENT_LINGER_MS = 1000
PATIENT_FETCH_MIN_BYTES = 1 << 20
# aiokafka's fetcher also wakes on a timer (its `consumer_timeout_ms`, 200 ms) to look over every
# partition held, although what it waits for (a fetch answered, records taken, a seek, a
# rebalance) wakes it anyway: five times a second in every consumer, a fifth of an idle
# service's CPU (issue 22). Once a second is its safety net here.
FETCHER_WAKE_MS = 1_000


def make_consumer(
    settings: Settings, group_id: str, client_id: str, *, max_records: int | None = None, linger_ms: float = 0.0
) -> AIOKafkaConsumer:
    """A group consumer with manual offsets; subscribe it with a rebalance listener. `linger_ms`:
    how long it waits after a poll before taking what arrived meanwhile (`InboxConsumer`)."""
    held = settings.consumer_fetch_wait_ms
    if linger_ms >= PREFETCH_BACKOFF_MS:
        held = min(held, HELD_FETCH_MS_WHEN_LINGERING)
    return AIOKafkaConsumer(
        **settings.kafka(),
        group_id=group_id,
        client_id=client_id,
        enable_auto_commit=False,
        # Only reached for partitions the inbox has never seen (or whose offset retention removed).
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        max_poll_records=max_records or settings.batch_size,
        fetch_max_wait_ms=held,
        fetch_min_bytes=PATIENT_FETCH_MIN_BYTES if linger_ms >= PATIENT_LINGER_MS else 1,
        consumer_timeout_ms=FETCHER_WAKE_MS,
        session_timeout_ms=10_000,
        heartbeat_interval_ms=1_000,
        rebalance_timeout_ms=30_000,
    )


async def publish(producer: AIOKafkaProducer, topic: str, envelope: Envelope) -> None:
    key, value, headers = envelope.to_kafka()
    await producer.send_and_wait(topic, value=value, key=key, headers=headers)


__all__ = [
    "ConsumerRebalanceListener",
    "make_consumer",
    "publish",
    "start_producer",
]


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[int]:
    """The partitions of `topic`, from fresh metadata: a consumer outside any group only knows
    the topics it was assigned, and its cache may predate a topic created a moment ago."""
    cluster = await consumer._client.fetch_all_metadata()
    return sorted(cluster.partitions_for_topic(topic) or ())
