"""Dead letters: list them, look at one, re-drive them to where they came from after a fix.

A re-driven record is the original (key, value, headers without the `dlq_*` ones) under a new
CloudEvents id (the consumer recorded the old id as seen when it refused it), with
`dlq_redriven_from` naming the original: the consumer takes it as new work.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.bus import partitions_of
from shared.settings import Settings
from shared.topics import DLQ_SUFFIX, topic_specs


@dataclass(frozen=True)
class Letter:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str:
        return next((v.decode("utf-8", "replace") for k, v in self.headers if k == name), "")

    @property
    def ref(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


def dlq_topics(settings: Settings) -> list[str]:
    return [s.name for s in topic_specs(settings) if s.name.endswith(DLQ_SUFFIX)]


async def read(settings: Settings, topics: list[str] | None = None) -> list[Letter]:
    reader = AIOKafkaConsumer(**settings.kafka(), group_id=None)
    await reader.start()
    letters: list[Letter] = []
    try:
        for topic in topics or dlq_topics(settings):
            tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
            ends = await reader.end_offsets(tps) if tps else {}
            todo = {tp for tp in tps if ends[tp] > 0}
            if not todo:
                continue
            reader.assign(list(todo))
            await reader.seek_to_beginning(*todo)
            while todo:
                batch = await reader.getmany(*todo, timeout_ms=1000)
                for tp, records in batch.items():
                    letters += [
                        Letter(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value, list(r.headers or ()))
                        for r in records
                        if r.offset < ends[tp]
                    ]
                for tp in list(todo):
                    if await reader.position(tp) >= ends[tp]:
                        todo.discard(tp)
    finally:
        await reader.stop()
    return sorted(letters, key=lambda letter: letter.timestamp)


class NotRedrivable(Exception):
    pass


def redriven(letter: Letter) -> tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]:
    """(topic, key, value, headers) to publish again. Only what a consumer refused goes back (a
    message notify gave up on is not a record of any topic: it is re-sent from notify)."""
    origin = letter.header("dlq_topic")
    if not origin:
        raise NotRedrivable(f"{letter.ref} ({letter.header('dlq_code')}) did not come from a topic")
    new_id = str(uuid.uuid4())
    headers = [(k, v) for k, v in letter.headers if not k.startswith("dlq_") and k != "ce_id"]
    value = letter.value
    structured = any(k == "content-type" and v.startswith(b"application/cloudevents+json") for k, v in headers)
    if structured and value:
        try:
            doc = json.loads(value)
            if isinstance(doc, dict):
                doc["id"] = new_id
                value = json.dumps(doc).encode()
        except ValueError:
            pass  # not JSON: it goes back as it was, and is refused again with the same reason
    else:
        headers.append(("ce_id", new_id.encode()))
    headers.append(("dlq_redriven_from", letter.ref.encode()))
    return origin, letter.key, value, headers


async def redrive(settings: Settings, letters: list[Letter]) -> int:
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for letter in letters:
            topic, key, value, headers = redriven(letter)
            await producer.send(topic, value, key=key, headers=headers)
        await producer.flush()
    finally:
        await producer.stop()
    return len(letters)
