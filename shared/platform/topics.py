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

from shared.platform.settings import Settings

TICKET_EVENTS = "ticket.events"
TICKET_REQUESTS = "ticket.requests"
AGENT_EVENTS = "agent.events"
WORKSPACE_EVENTS = "workspace.events"
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
        # Macros and custom fields: small, and their history is their state, as the roster's.
        TopicSpec(settings.topic(WORKSPACE_EVENTS), 1, forever),
        # Who read which ticket: kept forever, for auditors.
        TopicSpec(settings.topic(AUDIT_ACCESS), min(n, 3), forever),
    ]
    # Dead letters wait for a human, for a while: they may hold what someone sent (sealed, but
    # a DLQ is not a second log), so they are kept MESA_DLQ_RETENTION_DAYS (default 14).
    dlq = {"retention.ms": str(int(settings.dlq_retention_days * 24 * 3600 * 1000))}
    specs += [TopicSpec(s.name + DLQ_SUFFIX, min(n, 3), dlq) for s in list(specs)]
    # The auditor's signed chain heads: small, kept forever, one partition (one readable sequence).
    specs.append(TopicSpec(settings.topic(AUDIT_CHECKPOINTS), 1, forever))
    return specs


def replication(brokers: int) -> tuple[int, dict[str, str]]:
    """Copies of each partition on a cluster of `brokers` nodes, and the topic settings that go
    with them: three copies once there are three nodes, and then a write is acknowledged (acks=all)
    only when two have it. One node may die and lose nothing acknowledged; with two down, writes
    stop (NOT_ENOUGH_REPLICAS) rather than rest on one disk."""
    if brokers >= 3:
        return 3, {"min.insync.replicas": "2"}
    return max(1, brokers), {"min.insync.replicas": "1"}


async def ensure_topics(settings: Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics and set the configuration of those that exist (a retention
    changed since they were made); return the names created. An operator's task (`admin`):
    services only use the topics. Replication follows the cluster's size (`replication`)."""
    specs = specs if specs is not None else topic_specs(settings)
    admin = AIOKafkaAdminClient(**settings.kafka())
    await admin.start()
    try:
        copies, durability = replication(len((await admin.describe_cluster())["brokers"]))
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        present = [s for s in specs if s.name in existing]
        if present:
            await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, s.name, s.config | durability) for s in present]
            )
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(s.name, s.partitions, copies, topic_configs=s.config | durability) for s in missing]
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


def signed_topics(settings: Settings) -> list[str]:
    """The topics whose records Mesa's services sign (shared.platform.signing)."""
    return [settings.topic(t) for t in (TICKET_EVENTS, AGENT_EVENTS, AUDIT_ACCESS)]


async def end_offsets(settings: Settings, topics: list[str]) -> dict[str, dict[int, int]]:
    """Each partition's end offset, per topic (topics that do not exist are left out)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(**settings.kafka(), group_id=None)
    await reader.start()
    try:
        cluster = await reader._client.fetch_all_metadata()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]
        ends = await reader.end_offsets(tps) if tps else {}
    finally:
        await reader.stop()
    out: dict[str, dict[int, int]] = {}
    for tp, end in ends.items():
        out.setdefault(tp.topic, {})[tp.partition] = int(end)
    return out


async def delete_topics(settings: Settings, names: list[str]) -> None:
    """Remove topics (tests clean up after themselves); missing ones are ignored."""
    admin = AIOKafkaAdminClient(**settings.kafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            await admin.delete_topics(doomed)
    finally:
        await admin.close()


@dataclass(frozen=True)
class PartitionState:
    topic: str
    partition: int
    leader: int  # -1: none (every replica is down)
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def under_replicated(self) -> bool:
        return len(self.isr) < len(self.replicas)


@dataclass(frozen=True)
class ClusterState:
    nodes: dict[int, str]  # node id -> host:port, the nodes that answer
    controller: int
    partitions: list[PartitionState]


async def cluster_state(settings: Settings, topics: list[str] | None = None) -> ClusterState:
    """The nodes that answer and, for Mesa's topics (or `topics`), each partition's leader and
    replicas in sync: what `make status` shows of a cluster."""
    admin = AIOKafkaAdminClient(**settings.kafka())
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        names = topics if topics is not None else [s.name for s in topic_specs(settings)]
        present = set(await admin.list_topics())
        described = await admin.describe_topics([n for n in names if n in present]) if present else []
    finally:
        await admin.close()
    parts = [
        PartitionState(t["topic"], p["partition"], p["leader"], tuple(p["replicas"]), tuple(p["isr"]))
        for t in described
        for p in t["partitions"]
    ]
    return ClusterState(
        {b["node_id"]: f"{b['host']}:{b['port']}" for b in cluster["brokers"]},
        cluster["controller_id"],
        sorted(parts, key=lambda p: (p.topic, p.partition)),
    )
