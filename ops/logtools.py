"""Reading the log directly, for auditors: one ticket's raw events."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from shared.domain.events import Envelope, InvalidRecord
from shared.platform.bus import partitions_of
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS


async def ticket_events(settings: Settings, ticket_id: str) -> list[str]:
    """Every record keyed by `ticket_id` in ticket.events, in log order, as JSON lines (the
    CloudEvent in structured form plus where it sits in the log). Only the ticket's own partition
    is read: the key decides it, as it did for the producer."""
    topic = settings.topic(TICKET_EVENTS)
    reader = AIOKafkaConsumer(**settings.kafka(), group_id=None, isolation_level="read_committed")
    await reader.start()
    try:
        partitions = await partitions_of(reader, topic)
        key = ticket_id.encode()
        tp = TopicPartition(topic, DefaultPartitioner()(key, partitions, partitions))
        end = (await reader.end_offsets([tp]))[tp]
        reader.assign([tp])
        reader.seek(tp, 0)
        lines: list[str] = []
        while end and await reader.position(tp) < end:
            batch = await reader.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                if record.offset >= end:
                    break
                if record.key != key:
                    continue
                try:
                    body = Envelope.from_kafka(record.key, record.value, list(record.headers or ())).to_json()
                except InvalidRecord as exc:
                    body = {"invalid": exc.reason, "value": (record.value or b"").decode("utf-8", "replace")}
                lines.append(
                    json.dumps(
                        {"partition": record.partition, "offset": record.offset, "event": body}, ensure_ascii=False
                    )
                )
        return lines
    finally:
        await reader.stop()
