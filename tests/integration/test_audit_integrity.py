"""The auditor's hash chain on the real log: verify passes on it, and names the exact offset when
a copy of the log has one event altered, removed or two swapped, or the chain table is edited.
A chain made in the first canonical form goes on in the second and still verifies."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from services.audit.chain import FORM_FRAMED, FORM_JSON, GENESIS, Checkpoint, Finding, digest, heads, signing_key
from services.audit.verify import verify
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.topics import TICKET_EVENTS, TopicSpec, ensure_topics
from tests.conftest import Isolated
from tests.kafka_tools import inbox_caught_up, produce, read_all
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(180)
AUDIT_ENV = {"MESA_AUDIT_CHECKPOINT_EVERY": "25", "MESA_AUDIT_CHECKPOINT_INTERVAL_S": "0.3"}
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


async def chain_all(iso: Isolated) -> None:
    """Run the auditor until it has chained every record now in the log and signed every head."""
    log_topic = iso.settings.topic(TICKET_EVENTS)
    port = free_port()
    auditor = Proc("services.audit", {**iso.env, **AUDIT_ENV, "AUDIT_PORT": str(port)}, iso.log_dir, "audit", port)
    auditor.start()
    try:
        await auditor.ready()
        await eventually(lambda: inbox_caught_up(iso.settings, "audit", "audit-chain", [log_topic]), what="the chain")

        async def heads_signed() -> bool:
            conn = await asyncpg.connect(iso.settings.database_url)
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


async def test_verify_passes_on_the_log_and_names_each_tampered_offset(fresh: Isolated) -> None:
    log_topic = fresh.settings.topic(TICKET_EVENTS)
    await produce(fresh.settings, log_topic, [opened(i) for i in range(240)])
    await chain_all(fresh)

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


async def as_chained_in_form_one(iso: Isolated) -> dict[int, int]:
    """The chain rewritten as the auditor of before issue 22 made it: every link in form 1, no
    cut-over, each head signed. Returns each partition's count of links."""
    topic = iso.settings.topic(TICKET_EVENTS)
    key = signing_key(iso.settings.audit_signing_key, iso.settings.jwt_secret)
    by_partition: dict[int, list[tuple[int, bytes]]] = {}
    for r in await read_all(iso.settings, topic):
        by_partition.setdefault(r.partition, []).append((r.offset, digest(r.key, r.value, list(r.headers), FORM_JSON)))
    conn = await asyncpg.connect(iso.settings.database_url)
    try:
        async with conn.transaction():
            await conn.execute("DELETE FROM audit.chain_forms; DELETE FROM audit.checkpoints")
            for partition, links in by_partition.items():
                chain = heads([d for _, d in links], GENESIS)
                await conn.executemany(
                    "UPDATE audit.chain SET digest = $4, head = $5"
                    ' WHERE topic = $1 AND partition = $2 AND "offset" = $3',
                    [(topic, partition, o, d, h) for (o, d), h in zip(links, chain, strict=True)],
                )
                last = links[-1][0]
                await conn.execute(
                    "UPDATE audit.heads SET head = $3 WHERE topic = $1 AND partition = $2", topic, partition, chain[-1]
                )
                cp = Checkpoint(topic, partition, last, chain[-1], "2026-11-01T00:00:00+00:00")
                await conn.execute(
                    'INSERT INTO audit.checkpoints(topic, partition, "offset", head, time, signature)'
                    " VALUES ($1, $2, $3, $4, $5, $6)",
                    topic,
                    partition,
                    last,
                    cp.head,
                    cp.time,
                    cp.sign(key),
                )
    finally:
        await conn.close()
    return {p: len(links) for p, links in by_partition.items()}


async def test_a_chain_made_in_form_one_goes_on_in_form_two_and_verifies(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    await produce(fresh.settings, topic, [opened(i) for i in range(60)])
    await chain_all(fresh)
    old = await as_chained_in_form_one(fresh)
    assert len(old) == PARTITIONS and all(n > 5 for n in old.values()), old
    assert (await verify(fresh.settings)).ok  # the old chain, as it was

    await produce(fresh.settings, topic, [opened(i) for i in range(60, 120)])
    await chain_all(fresh)
    conn = await asyncpg.connect(fresh.settings.database_url)
    try:
        rows = await conn.fetch("SELECT partition, form, since FROM audit.chain_forms WHERE topic = $1", topic)
        # each partition went on in form 2 from its first link after the old ones
        assert {r["partition"]: (r["form"], r["since"]) for r in rows} == {p: (FORM_FRAMED, n) for p, n in old.items()}
        report = await verify(fresh.settings)
        assert report.ok, report.findings
        assert (report.events, report.recorded) == (120, 120)

        # the cut-over is part of the record: moved or removed, verify names the first link it moves
        await conn.execute("UPDATE audit.chain_forms SET since = since + 1 WHERE partition = 0")
        [moved] = (await verify(fresh.settings)).findings
        assert (moved.partition, moved.offset, moved.kind) == (0, old[0], "altered")
        await conn.execute("DELETE FROM audit.chain_forms WHERE partition = 1")
        kinds = {(f.partition, f.offset, f.kind) for f in (await verify(fresh.settings)).findings}
        assert kinds == {(0, old[0], "altered"), (1, old[1], "altered")}
    finally:
        await conn.close()
