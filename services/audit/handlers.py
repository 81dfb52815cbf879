"""The auditor: folds every record of ticket.events into its partition's hash chain, in log
order, and signs a checkpoint of the head every so often (and when the log goes quiet)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from uuid import UUID, uuid5

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import store
from services.audit.chain import FORM, GENESIS, Checkpoint, digest, form_at, heads, signing_key
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform import outbox
from shared.platform.clock import Clock
from shared.platform.consumer import Delivery, Record
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.topics import AUDIT_CHECKPOINTS

log = get_logger(__name__)
NAME = "audit"
CHAIN_CONSUMER = "audit-chain"
ACCESS_CONSUMER = "audit-access"
_NS = UUID("a0d17c4a-5b1e-4f7e-8c39-0e4b9f3a2d61")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A record as it is: every offset is chained, duplicates and unreadable ones included, so
    its identity is its place in the log, not an event id (the consumer runs `by_offset`)."""

    record: Record

    @property
    def id(self) -> UUID:
        """The record's name in traces and dead letters, made when one asks (few do: a uuid5
        for every record was a twentieth of the auditor's time)."""
        return uuid5(_NS, f"{self.record.topic}|{self.record.partition}|{self.record.offset}")


def raw(record: Record) -> RawRecord:
    return RawRecord(record)


class Auditor:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.key: Ed25519PrivateKey = signing_key(settings.audit_signing_key, settings.jwt_secret)
        self.topic = settings.topic(AUDIT_CHECKPOINTS)

    async def on_records(self, conn: asyncpg.Connection, items: list[tuple[RawRecord, Delivery]]) -> None:
        """A batch of records onto their partitions' chains: the head read once, the links and the
        new head written in one statement per partition, whatever the batch's size."""
        by_partition: dict[tuple[str, int], list[Record]] = {}
        for message, _ in items:
            by_partition.setdefault((message.record.topic, message.record.partition), []).append(message.record)
        for (topic, partition), records in by_partition.items():
            records.sort(key=lambda r: r.offset)
            last, since = await store.head(conn, topic, partition, FORM)
            if since is None:  # this partition's first link in today's form (its first ever, or not)
                since = records[0].offset
                await store.begin_form(conn, topic, partition, FORM, since)
            digests = [digest(r.key, r.value, list(r.headers or ()), form_at(r.offset, since)) for r in records]
            chain = heads(digests, last or GENESIS)
            await store.links(conn, topic, partition, [r.offset for r in records], digests, chain)
            every = self.settings.audit_checkpoint_every
            for r, head in zip(records, chain, strict=True):
                if (r.offset + 1) % every == 0:
                    await self._checkpoint(conn, topic, partition, r.offset, head)

    async def _checkpoint(self, conn: asyncpg.Connection, topic: str, partition: int, offset: int, head: bytes) -> None:
        cp = Checkpoint(topic, partition, offset, head, self.clock.now().isoformat())
        signature = cp.sign(self.key)
        if await store.checkpoint(conn, topic, partition, offset, head, cp.time, signature):
            body = json.loads(cp.message()) | {"signature": base64.b64encode(signature).decode()}
            await outbox.enqueue_raw(
                conn,
                self.topic,
                f"{topic}/{partition}".encode(),
                json.dumps(body).encode(),
                [("content-type", b"application/json")],
            )

    async def checkpoint_quiet_partitions(self) -> int:
        """Sign the head of every partition that moved since its last checkpoint."""
        async with self.pool.acquire() as conn, conn.transaction():
            moved = await store.unsigned_heads(conn)
            for topic, partition, offset, head in moved:
                await self._checkpoint(conn, topic, partition, offset, head)
        return len(moved)

    async def on_access(self, conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        d = env.data
        if isinstance(d, ev.TicketRead):
            await store.read(conn, env.id, d.ticket_id, d.reader, d.via, env.time)
