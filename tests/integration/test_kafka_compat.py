"""aiokafka 0.14 against the broker we pin (deploy/kafka/pom.xml): every protocol call Mesa uses.

Kafka 4 removed old protocol versions (KIP-896); this is the proof that our client still speaks
to it: idempotent produce with acks=all, group consumption, commit, seek, offset listing, topic
creation and config description.
"""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.platform.topics import TopicSpec, delete_topics, ensure_topics
from tests.conftest import Isolated


async def test_every_protocol_call_mesa_uses(isolated: Isolated) -> None:
    s = isolated.settings
    name = s.topic(f"compat-{uuid.uuid4().hex[:6]}")
    spec = TopicSpec(name, 3, {"retention.ms": "-1"})
    assert await ensure_topics(s, [spec]) == [name]
    assert await ensure_topics(s, [spec]) == []  # idempotent

    admin = AIOKafkaAdminClient(**s.kafka())
    await admin.start()
    try:
        [resource] = (await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)]))[0].resources
        configs = {entry[0]: entry[1] for entry in resource[4]}
        assert configs["retention.ms"] == "-1"
    finally:
        await admin.close()

    producer = AIOKafkaProducer(**s.kafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(30):
            await producer.send_and_wait(name, f"v{i}".encode(), key=f"k{i % 5}".encode(), headers=[("ce_id", b"x")])
    finally:
        await producer.stop()

    group = f"compat-{uuid.uuid4().hex[:6]}"
    consumer = AIOKafkaConsumer(
        name,
        **s.kafka(),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        seen = 0
        while seen < 30:
            for tp, recs in (await consumer.getmany(timeout_ms=1000)).items():
                seen += len(recs)
                assert recs[0].headers[0] == ("ce_id", b"x")
                await consumer.commit({tp: recs[-1].offset + 1})
        assert seen == 30
        tps = [TopicPartition(name, p) for p in range(3)]
        ends = await consumer.end_offsets(tps)
        assert sum(ends.values()) == 30
        assert set((await consumer.beginning_offsets(tps)).values()) == {0}
        for tp in tps:
            assert await consumer.committed(tp) == ends[tp]
        busiest = max(tps, key=lambda tp: ends[tp])
        consumer.seek(busiest, 0)
        again = await consumer.getmany(busiest, timeout_ms=2000)
        assert again[busiest][0].offset == 0
    finally:
        await consumer.stop()
        await delete_topics(s, [name])
