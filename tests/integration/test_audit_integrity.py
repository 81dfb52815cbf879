"""The auditor's hash chain on the real log: verify passes on it, and names the exact offset when
a copy of the log has one event altered, removed or two swapped, or the chain table is edited."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.audit.chain import Finding
from services.audit.verify import verify
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.topics import TICKET_EVENTS, TopicSpec, ensure_topics
from tests.conftest import Isolated
from tests.kafka_tools import inbox_caught_up, produce, read_all
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(180)
PARTITIONS = 3


def opened(i: int) -> Envelope:
    tid = f"T-A{i:04d}"
    payload = ev.TicketOpened(
        ticket_id=tid,
        requester=f"r{i}@example.com",
        subject=f"Pedido {i}",
        description="No ha llegado",
        category="order_status",
        impact="low",
        urgency="low",
        priority="P4",
    )
    return Envelope.new(payload, source="test", subject=tid, time=datetime.now(UTC))


async def copy_log(iso: Isolated, name: str, change: dict[tuple[int, int], str]) -> str:
    """ticket.events copied record by record into `name`, partition for partition, except:
    'alter' rewrites the payload, 'drop' leaves the record out, 'swap' exchanges it with the next."""
    topic = iso.settings.topic(name)
    await ensure_topics(iso.settings, [TopicSpec(topic, PARTITIONS)])
    records = await read_all(iso.settings, iso.settings.topic(TICKET_EVENTS))
    by_partition: dict[int, list] = {}  # type: ignore[type-arg]
    for r in records:
        by_partition.setdefault(r.partition, []).append(r)
    producer = AIOKafkaProducer(**iso.settings.kafka(), acks="all")
    await producer.start()
    try:
        for partition, rs in sorted(by_partition.items()):
            out = []
            i = 0
            while i < len(rs):
                what = change.get((partition, rs[i].offset))
                if what == "drop":
                    i += 1
                    continue
                if what == "swap":
                    out += [rs[i + 1], rs[i]]
                    i += 2
                    continue
                value = rs[i].value
                if what == "alter":
                    body = json.loads(value)
                    body["subject"] = "Pedido cambiado a mano"
                    value = json.dumps(body).encode()
                out.append(dataclasses.replace(rs[i], value=value))
                i += 1
            for r in out:
                await producer.send(topic, value=r.value, key=r.key, headers=list(r.headers), partition=partition)
        await producer.flush()
    finally:
        await producer.stop()
    return topic


async def test_verify_passes_on_the_log_and_names_each_tampered_offset(fresh: Isolated) -> None:
    log_topic = fresh.settings.topic(TICKET_EVENTS)
    await produce(fresh.settings, log_topic, [opened(i) for i in range(240)])
    port = free_port()
    env = {**fresh.env, "AUDIT_PORT": str(port), "MESA_AUDIT_CHECKPOINT_EVERY": "25"}
    env["MESA_AUDIT_CHECKPOINT_INTERVAL_S"] = "0.3"
    auditor = Proc("services.audit", env, fresh.log_dir, "audit", port).start()
    try:
        await auditor.ready()
        await eventually(lambda: inbox_caught_up(fresh.settings, "audit", "audit-chain", [log_topic]), what="the chain")

        async def heads_signed() -> bool:
            conn = await asyncpg.connect(fresh.settings.database_url)
            try:
                return bool(
                    await conn.fetchval(
                        "SELECT bool_and(EXISTS (SELECT 1 FROM audit.checkpoints k WHERE k.partition = c.partition"
                        ' AND k."offset" = c.last)) FROM (SELECT partition, max("offset") AS last FROM audit.chain'
                        " GROUP BY partition) c"
                    )
                )
            finally:
                await conn.close()

        await eventually(heads_signed, what="a signed checkpoint of every head")
    finally:
        auditor.stop()

    report = await verify(fresh.settings)
    assert report.ok, report.findings
    assert (report.events, report.recorded, report.unaudited) == (240, 240, 0)
    assert report.checkpoints >= 240 // 25

    # partitions and offsets that exist in this run's log
    sizes = {p: len([r for r in await read_all(fresh.settings, log_topic) if r.partition == p]) for p in range(3)}
    assert all(n > 10 for n in sizes.values()), sizes

    altered = await copy_log(fresh, "copy.altered", {(0, 7): "alter"})
    [signature, chain] = (await verify(fresh.settings, altered)).findings
    assert chain == Finding(0, 7, "altered", "the event at offset 7 differs from the one recorded")
    # and intake's signature no longer holds: whoever altered it could not sign as intake
    assert (signature.partition, signature.offset, signature.kind) == (0, 7, "signature")
    assert "(intake) does not verify" in signature.detail
    removed = await copy_log(fresh, "copy.removed", {(1, 5): "drop"})
    [finding] = (await verify(fresh.settings, removed)).findings
    assert (finding.partition, finding.offset, finding.kind) == (1, 5, "missing")
    swapped = await copy_log(fresh, "copy.swapped", {(2, 3): "swap"})
    [finding] = (await verify(fresh.settings, swapped)).findings
    assert (finding.partition, finding.offset, finding.kind) == (2, 3, "reordered")
    intact = await copy_log(fresh, "copy.intact", {})
    assert (await verify(fresh.settings, intact)).ok

    # whoever edits the recorded chain to match a forged log cannot re-sign its checkpoints
    conn = await asyncpg.connect(fresh.settings.database_url)
    try:
        await conn.execute(
            "UPDATE audit.chain SET digest = sha256('forged'::bytea) WHERE partition = 0 AND \"offset\" = 7"
        )
    finally:
        await conn.close()
    kinds = {(f.partition, f.kind) for f in (await verify(fresh.settings)).findings}
    assert (0, "chain") in kinds and (0, "altered") in kinds
