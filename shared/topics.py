"""The topics Mesa uses, and their idempotent creation.

Logical names (`ticket.events`) are mapped to physical ones by `Settings.topic` (a prefix, for
test isolation). `auto.create.topics.enable=false` on the broker: only this module creates them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

from shared.settings import Settings

TICKET_EVENTS = "ticket.events"
TICKET_REQUESTS = "ticket.requests"
AGENT_EVENTS = "agent.events"
AUDIT_CHECKPOINTS = "audit.checkpoints"
AUDIT_ACCESS = "audit.access"
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs(settings: Settings) -> list[TopicSpec]:
    forever = {"retention.ms": "-1"}
    month = {"retention.ms": str(30 * 24 * 3600 * 1000)}
    n = settings.topic_partitions
    specs = [
        TopicSpec(settings.topic(TICKET_EVENTS), n, forever),
        TopicSpec(settings.topic(TICKET_REQUESTS), n, month),
        # The roster is small and its history is its state: keep it forever too.
        TopicSpec(settings.topic(AGENT_EVENTS), min(n, 3), forever),
    ]
    # Dead letters wait for a human: keep them.
    specs += [TopicSpec(s.name + DLQ_SUFFIX, min(n, 3), forever) for s in list(specs)]
    # The auditor's signed chain heads: small, kept forever, one partition (one readable sequence).
    specs.append(TopicSpec(settings.topic(AUDIT_CHECKPOINTS), 1, forever))
    # Who read which ticket: kept forever, for auditors.
    specs.append(TopicSpec(settings.topic(AUDIT_ACCESS), min(n, 3), forever))
    return specs


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics; return the names created. Safe to run from every instance."""
    specs = specs if specs is not None else topic_specs(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, 1, topic_configs=s.config) for s in missing]
        )
        created = []
        for name, code, *rest in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:  # another instance won the race
                raise for_code(code)(f"creating topic {name}: {rest[0] if rest else ''}")
        await _wait_until_known(admin, [s.name for s in missing])
        return created
    finally:
        await admin.close()


async def _wait_until_known(admin: AIOKafkaAdminClient, names: list[str], deadline_s: float = 30) -> None:
    """Creation is acknowledged before every broker's metadata has the topic: wait for it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + deadline_s
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    while True:
        responses = await admin.describe_configs(resources)
        codes = [r[0] for resp in responses for r in resp.resources]
        if all(c == 0 for c in codes):
            return
        if loop.time() > deadline:
            raise TimeoutError(f"topics not visible after {deadline_s}s: {names}")
        await asyncio.sleep(0.05)


async def delete_topics(settings: Settings, names: list[str]) -> None:
    """Remove topics (tests clean up after themselves); missing ones are ignored."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()
