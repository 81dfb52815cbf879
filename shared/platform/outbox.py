"""The outbox: events inserted in the state change's transaction, published by a relay.

The relay signs each event as this service (`shared.platform.signing`), sends rows in id order with the
idempotent producer, waits for every ack, then deletes them. One relay per schema is active at
a time (an advisory lock), which keeps per-ticket order; the others wait as hot standbys. A crash
after the send and before the delete re-sends those rows on restart: consumers drop the
duplicates by event id (the inbox).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Gauge, Histogram

from shared.domain.events import Envelope, Headers
from shared.platform import db, tracing
from shared.platform.durability import DURABLE_COMMIT
from shared.platform.faults import fault_point
from shared.platform.logging import get_logger
from shared.platform.signing import Signer

log = get_logger(__name__)

PUBLISHED = Counter("mesa_outbox_published_total", "Outbox rows published to Kafka", ["schema"])
RELAY_BATCH = Histogram("mesa_outbox_batch_seconds", "Time to publish one outbox batch", ["schema"])
RELAY_ERRORS = Counter(
    "mesa_outbox_relay_errors_total", "Relay batches that failed and will be retried", ["schema", "error"]
)
BACKLOG = Gauge("mesa_outbox_backlog", "Rows in the outbox, not yet published", ["schema"])
OLDEST = Gauge("mesa_outbox_oldest_seconds", "Age of the oldest row in the outbox (0 when empty)", ["schema"])


def channel(schema: str) -> str:
    return f"mesa_outbox_{schema}"  # the same name _INSERT builds in SQL


async def enqueue(conn: asyncpg.Connection, topic: str, envelope: Envelope) -> None:
    """Add `envelope` to the outbox, inside the caller's transaction."""
    await enqueue_all(conn, [(topic, envelope)])


async def enqueue_raw(
    conn: asyncpg.Connection, topic: str, key: bytes | None, value: bytes | None, headers: Headers
) -> None:
    """Add a ready-made record (a dead letter, say) to the outbox."""
    await _insert(conn, [(topic, key, value, headers, None)], None)


async def enqueue_all(
    conn: asyncpg.Connection, items: Iterable[tuple[str, Envelope]], *, applied_by: str | None = None
) -> None:
    """`enqueue` each item, in order, in one round trip. `applied_by`: the consumer (of the same
    schema) that already applied these events when it decided them: they are recorded in its
    inbox in the same statement, so the copies it reads back from the log are skipped."""
    rows = []
    for topic, envelope in _stamped(items):
        key, value, headers = envelope.to_kafka()
        rows.append((topic, key, value, headers, envelope.id))
    await _insert(conn, rows, applied_by)


def _stamped(items: Iterable[tuple[str, Envelope]]) -> Iterable[tuple[str, Envelope]]:
    """Events enqueued under a sampled span (a request's, a consumer's record's) carry it, so
    their trace goes on in the relay and in every consumer (shared.platform.tracing)."""
    if not tracing.enabled():
        return items
    here = tracing.current_traceparent()
    if not tracing.sampled(here):
        return items
    return [(t, e if e.traceparent == here else e.model_copy(update={"traceparent": here})) for t, e in items]


# Ends every statement that writes the outbox: a wake-up for the relay (delivered at commit, once
# per channel) and a commit that waits for the disk (shared.platform.durability), if rows were written.
_WAKE_AND_WAIT = (
    f" SELECT pg_notify('mesa_outbox_' || current_schema(), ''), {DURABLE_COMMIT} FROM (SELECT 1 FROM rows LIMIT 1) one"
)


async def enqueue_with(
    conn: asyncpg.Connection, change: str, args: Sequence[Any], items: Iterable[tuple[str, Envelope]]
) -> None:
    """`change` (one UPDATE or INSERT, parameters $1..$len(args)) and the outbox rows for
    `items` as a single statement: atomic without a transaction around it, so one round trip
    where BEGIN, the change, the rows and COMMIT took four."""
    rows = [(topic, *env.to_kafka(), env.id) for topic, env in _stamped(items)]
    n = len(args)
    statement = (
        f"WITH change AS ({change}),"
        " rows AS (INSERT INTO outbox(topic, key, value, headers, event_id) SELECT * FROM"
        f" unnest(${n + 1}::text[], ${n + 2}::bytea[], ${n + 3}::bytea[], ${n + 4}::jsonb[], ${n + 5}::uuid[])"
        " RETURNING event_id)" + _WAKE_AND_WAIT
    )
    await conn.execute(statement, *args, *_columns(rows))


# One round trip: the rows, the inbox marks, the relay's wake-up and the commit's wait.
_INSERT = (
    "WITH rows AS (INSERT INTO outbox(topic, key, value, headers, event_id)"
    " SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::jsonb[], $5::uuid[]) RETURNING event_id),"
    " seen AS (INSERT INTO inbox_events(consumer, event_id) SELECT $6::text, event_id FROM rows"
    " WHERE $6::text IS NOT NULL AND event_id IS NOT NULL ON CONFLICT DO NOTHING)" + _WAKE_AND_WAIT
)


async def _insert(
    conn: asyncpg.Connection,
    rows: Sequence[tuple[str, bytes | None, bytes | None, Headers, UUID | None]],
    applied_by: str | None,
) -> None:
    if not rows:
        return
    await conn.execute(_INSERT, *_columns(rows), applied_by)


def _columns(rows: Sequence[tuple[str, bytes | None, bytes | None, Headers, UUID | None]]) -> tuple[list[Any], ...]:
    # base64: header values are bytes, and a dead letter keeps whatever bytes the sender put there
    return (
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [json.dumps([[k, base64.b64encode(v).decode()] for k, v in r[3]]) for r in rows],
        [r[4] for r in rows],
    )


async def measure_backlog(pool: asyncpg.Pool, schema: str) -> None:
    """The outbox's backlog for /metrics: an outbox that stops draining (the broker away, the
    relay stuck) shows as rows that grow old (docs/ops.md, "Outbox not draining")."""
    row = await pool.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age FROM outbox"
    )
    BACKLOG.labels(schema).set(row["n"])
    OLDEST.labels(schema).set(float(row["age"]))


RETRY_S = 1.0  # after a failed batch (the broker or the database away), however long the idle poll


class OutboxRelay:
    """Publishes a schema's outbox to Kafka until stopped."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        schema: str,
        signer: Signer,
        *,
        batch_size: int = 500,
        poll_seconds: float = 1.0,
        linger_seconds: float = 0.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._schema = schema
        self._signer = signer
        self._batch = batch_size
        self._poll = poll_seconds
        self._linger = linger_seconds
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    async def run(self) -> None:
        listener: asyncpg.Connection | None = None
        try:
            while not self._stopping:
                # cleared before the batch reads the outbox: a commit it cannot see notifies after
                # this, so its wake-up is kept for the next turn
                self._wake.clear()
                try:
                    if listener is None:
                        listener = await self._listen()
                    sent = await self.publish_batch()
                except db.TRANSIENT as exc:
                    RELAY_ERRORS.labels(self._schema, type(exc).__name__).inc()
                    log.warning("outbox relay retry", error=str(exc))
                    sent = 0
                    # the database may have restarted: listen again on a fresh connection, or
                    # wake-ups would fall back to polling for good
                    if listener is not None:
                        await self._unlisten(listener)
                        listener = None
                    await asyncio.sleep(min(self._poll, RETRY_S))
                if sent < self._batch:
                    # drained, as far as the batch could see: no second look that would find
                    # nothing (a transaction each, per wake-up, for every relay); what committed
                    # since has woken us already, or will
                    with suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll)
                        # woken by a commit: let the commits right behind it join the batch (one
                        # transaction and one produce request for many rows instead of one each)
                        await asyncio.sleep(self._linger)
        finally:
            if listener is not None:
                await self._unlisten(listener)

    async def _listen(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await self._pool.acquire()
        try:
            await conn.add_listener(channel(self._schema), self._on_notify)
        except BaseException:
            await self._pool.release(conn)
            raise
        return conn

    async def _unlisten(self, conn: asyncpg.Connection) -> None:
        with suppress(Exception):
            await conn.remove_listener(channel(self._schema), self._on_notify)
        with suppress(Exception):
            await self._pool.release(conn)

    def stop(self) -> None:
        self._stopping = True

    @staticmethod
    def _open_spans(
        rows: Sequence[asyncpg.Record], headers: list[list[tuple[str, bytes]]], ours: list[int]
    ) -> list[Any]:
        """A PRODUCER span per event of a sampled trace; its record names the span instead of
        the span that made the event (before signing: the signature covers it)."""
        spans = []
        for i in ours:
            span = tracing.start_publish(rows[i]["topic"], str(rows[i]["event_id"]), headers[i])
            if span is not None:
                headers[i] = tracing.with_traceparent(headers[i], span)
                spans.append(span)
        return spans

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def publish_batch(self) -> int:
        """Publish one batch; return how many rows went out (0 when idle or not the leader).
        Every row it can see is on disk: the transaction that wrote it committed synchronously
        (shared.platform.durability)."""
        started = time.perf_counter()
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext($1))", f"{self._schema}.outbox"):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers, event_id FROM outbox ORDER BY id LIMIT $1", self._batch
            )
            if not rows:
                return 0
            headers = [[(k, base64.b64decode(v)) for k, v in json.loads(row["headers"])] for row in rows]
            # the batch's events are ours: signed together, one signature (a dead letter keeps its sender's)
            ours = [i for i, row in enumerate(rows) if row["event_id"] is not None]
            spans = self._open_spans(rows, headers, ours) if tracing.enabled() else []
            if ours:
                signed = self._signer.sign_batch([(rows[i]["key"], rows[i]["value"], headers[i]) for i in ours])
                for i, h in zip(ours, signed, strict=True):
                    headers[i] = h
            try:
                futures = []
                for row, h in zip(rows, headers, strict=True):
                    futures.append(
                        await self._producer.send(row["topic"], value=row["value"], key=row["key"], headers=h)
                    )
                await asyncio.gather(*futures)
            except BaseException as exc:
                tracing.finish(spans, exc)
                raise
            tracing.finish(spans)
            fault_point("relay_after_send")
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", [r["id"] for r in rows])
        self.published += len(rows)
        PUBLISHED.labels(self._schema).inc(len(rows))
        RELAY_BATCH.labels(self._schema).observe(time.perf_counter() - started)
        return len(rows)
