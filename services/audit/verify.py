"""`mesa audit verify`: re-read the log, recompute every partition's chain, and check it against
what the auditor recorded and signed. Reports the first event missing, altered, inserted or
reordered in each partition, by offset; a chain table edited after the fact fails its signed
checkpoints. Every record is also checked for who wrote it (shared.platform.signing): one unsigned past
its partition's cut-over, with a signature that does not verify, or signed by a service that
does not own its type is reported by offset, so a record the broker accepted from a principal
that may write the topic but not speak for that service does not pass as history."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.audit import store
from services.audit.chain import (
    FORM_FRAMED,
    GENESIS,
    Checkpoint,
    Finding,
    compare,
    digest,
    form_at,
    heads,
    signing_key,
)
from services.audit.handlers import NAME
from shared.domain.events import InvalidRecord
from shared.platform.bus import partitions_of
from shared.platform.consumer import Record
from shared.platform.settings import Settings
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS


@dataclass
class Report:
    topic: str
    log_topic: str
    partitions: int = 0
    events: int = 0
    recorded: int = 0
    checkpoints: int = 0
    unaudited: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


async def read_digests(
    settings: Settings,
    topic: str,
    on_batch: Callable[[int], None] | None = None,
    check: Callable[[Record], str | None] | None = None,
    findings: list[Finding] | None = None,
    framed_since: dict[int, int] | None = None,
) -> dict[int, list[tuple[int, bytes]]]:
    """(offset, digest) of every record of every partition of `topic`, in log order, each in the
    form its partition's chain was made in at that offset (`framed_since`: partition -> its
    cut-over to form 2); with `check`, what it says of a record (a problem, or None) goes to
    `findings`."""
    cutover = framed_since or {}
    reader = AIOKafkaConsumer(
        **settings.kafka(),
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=5000,
        fetch_max_bytes=64 * 2**20,
    )
    await reader.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(reader, topic)]
        ends = await reader.end_offsets(tps)
        out: dict[int, list[tuple[int, bytes]]] = {tp.partition: [] for tp in tps}
        todo = {tp for tp in tps if ends[tp] > 0}
        if todo:
            reader.assign(list(todo))
            for tp in todo:
                reader.seek(tp, 0)
        while todo:
            batch = await reader.getmany(*todo, timeout_ms=1000)
            for tp, records in batch.items():
                kept = [r for r in records if r.offset < ends[tp]]
                since = cutover.get(tp.partition)
                out[tp.partition] += [
                    (r.offset, digest(r.key, r.value, list(r.headers or ()), form_at(r.offset, since))) for r in kept
                ]
                if check is not None and findings is not None:
                    for r in kept:
                        problem = check(r)
                        if problem is not None:
                            findings.append(Finding(r.partition, r.offset, "signature", problem))
                if on_batch is not None and kept:
                    on_batch(len(kept))
            for tp in list(todo):
                if await reader.position(tp) >= ends[tp]:
                    todo.discard(tp)
                    reader.pause(tp)
        return out
    finally:
        await reader.stop()


async def verify(
    settings: Settings, log_topic: str | None = None, on_batch: Callable[[int], None] | None = None
) -> Report:
    """Check `log_topic` (ticket.events itself, or a copy of it) against the recorded chain."""
    topic = settings.topic(TICKET_EVENTS)
    report = Report(topic, log_topic or topic)
    public = signing_key(settings.audit_signing_key, settings.jwt_secret).public_key()
    conn = await asyncpg.connect(settings.database_url_for(NAME))
    try:
        rows, signed = await store.chain_of(conn, NAME, topic)
        framed_since = await store.forms_of(conn, NAME, topic, FORM_FRAMED)
    finally:
        await conn.close()
    recorded: dict[int, list[tuple[int, bytes, bytes]]] = {}
    for r in rows:
        recorded.setdefault(r["partition"], []).append((r["offset"], bytes(r["digest"]), bytes(r["head"])))
    trust = Trust.load(settings.signing_folder)

    def signed_by_owner(r: Record) -> str | None:
        headers = list(r.headers or ())
        event_type = next((bytes(v).decode("utf-8", "replace") for k, v in headers if k == "ce_type"), "")
        try:  # the cut-over is the log's own (a copy keeps its offsets)
            trust.check(topic, r.partition, r.offset, event_type or "?", r.key, r.value, headers)
        except InvalidRecord as exc:
            return exc.reason
        return None

    log = await read_digests(settings, report.log_topic, on_batch, signed_by_owner, report.findings, framed_since)
    report.partitions = len(log)
    report.events = sum(len(v) for v in log.values())
    report.recorded = len(rows)
    report.checkpoints = len(signed)

    # 1. the recorded chain is what its own digests give, and what the auditor signed
    computed: dict[int, dict[int, bytes]] = {}
    for partition, entries in recorded.items():
        chain = heads([d for _, d, _ in entries], GENESIS)
        computed[partition] = {off: h for (off, _, _), h in zip(entries, chain, strict=True)}
        for (off, _, stored), h in zip(entries, chain, strict=True):
            if stored != h:
                report.findings.append(
                    Finding(partition, off, "chain", "the recorded chain was edited: its head does not follow")
                )
                break
    for cp in signed:
        head = computed.get(cp["partition"], {}).get(cp["offset"])
        checkpoint = Checkpoint(topic, cp["partition"], cp["offset"], bytes(cp["head"]), cp["time"])
        if not checkpoint.verify(public, bytes(cp["signature"])):
            report.findings.append(Finding(cp["partition"], cp["offset"], "checkpoint", "bad signature"))
        elif head != bytes(cp["head"]):
            report.findings.append(
                Finding(
                    cp["partition"], cp["offset"], "checkpoint", "the recorded chain does not reach the signed head"
                )
            )

    # 2. the log read now is the log the auditor chained
    for partition, events in sorted(log.items()):
        mine = [(off, d) for off, d, _ in recorded.get(partition, [])]
        finding = compare(partition, mine, events[: len(mine)] if len(events) > len(mine) else events)
        if finding is not None:
            report.findings.append(finding)
        elif len(events) > len(mine):
            report.unaudited += len(events) - len(mine)
    return report
