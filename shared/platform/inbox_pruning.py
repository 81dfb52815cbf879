"""Forgetting applied event ids: `inbox_events` bounded by what can still reach a consumer.

A consumer keeps the id of every event it applied, so that another copy (at another offset) is
a no-op. Copies come from:
1. an outbox relay that stopped between the broker's acknowledgement and its delete: it sends
   those rows again when it starts;
2. a service's own decisions (`applied_by`): marked applied as they enter its outbox, then read
   back from the log once the relay has published them;
3. a publisher outside Mesa sending a request again (Mesa sees no outbox of its own);
4. ops re-driving a dead letter: it carries `dlq_redriven_for`, and only the consumer named there
   applies it (shared.platform.consumer); the others read the original at its own offset.

An id may go once no copy of it is still to come. Each round the pruner takes a candidate for
each consumer:
    H = min(now - keep, the oldest row in any outbox of this database,
            the start of the oldest transaction still open in it) - skew
    E = the end offsets of the consumer's partitions, read after H,
and on a later round, once the consumer's stored positions are past E on every partition, it
deletes the ids the consumer learnt before H.

Why that loses no duplicate, for an id learnt at A < H: the outbox row it came from was created
at c <= A + skew (in the same transaction for an own decision; before the copy was read, for
another's). Had that row still been in an outbox when H was read, or in a transaction still
open, H would be at most c - skew <= A. So it had been deleted, which the relay does only after
the broker acknowledged every copy it sent: every copy is below E, the consumer has read past
E, and it knew the id when it read each one. Requests from outside (3) are covered by `keep`
alone: `MESA_INBOX_KEEP_S` is the window in which such a publisher may retry.

The outboxes are read wherever they live: this database, and every other server a schema is
placed on (`<SERVICE>_DATABASE_URL`, `others`), each in a snapshot of its own. Each server's
`now()` and transactions count against its own rows, and `skew` covers the clocks' difference.
A server that does not answer skips the round: nothing is forgotten on a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import asyncpg
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from shared.platform import db
from shared.platform.logging import get_logger

log = get_logger(__name__)

PRUNED = Counter("mesa_inbox_pruned_total", "Applied event ids forgotten", ["consumer"])
HORIZON = Gauge(
    "mesa_inbox_prune_horizon_seconds", "How far behind now the last horizon the inbox was pruned to is", ["consumer"]
)

CHUNK = 5_000  # ids deleted per statement: short locks, short WAL bursts


@dataclass(frozen=True)
class Candidate:
    """What may be forgotten once the consumer has read past `ends`."""

    horizon: datetime
    ends: Mapping[TopicPartition, int]


def caught_up(ends: Mapping[TopicPartition, int], positions: Mapping[TopicPartition, int]) -> bool:
    """Has the consumer stored a position at or past each end offset (a partition it never met
    counts as 0)?"""
    return all(positions.get(tp, 0) >= end for tp, end in ends.items())


async def outbox_schemas(conn: asyncpg.Connection) -> list[str]:
    """Every schema in this database with an outbox: each a writer whose rows may be sent again."""
    rows = await conn.fetch("SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' ORDER BY 1")
    return [db.check_ident(r["table_schema"]) for r in rows]


async def horizon(conn: asyncpg.Connection, keep_s: float, skew_s: float) -> datetime:
    """H of the module docstring, read in one statement (one snapshot)."""
    oldest_rows = "".join(f", (SELECT min(created_at) FROM {s}.outbox)" for s in await outbox_schemas(conn))
    value = await conn.fetchval(
        "SELECT least(now() - make_interval(secs => $1),"
        " (SELECT min(xact_start) FROM pg_stat_activity WHERE datname = current_database()"
        "  AND backend_type = 'client backend')"
        f"{oldest_rows}) - make_interval(secs => $2)",
        keep_s,
        skew_s,
    )
    assert isinstance(value, datetime)
    return value


async def positions(conn: asyncpg.Connection, consumer: str) -> dict[TopicPartition, int]:
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM inbox_offsets WHERE consumer = $1", consumer)
    return {TopicPartition(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}


async def forget_before(pool: asyncpg.Pool, consumer: str, before: datetime) -> int:
    """Delete the ids `consumer` learnt before `before`, a chunk per statement; how many."""
    total = 0
    while True:
        status = await pool.execute(
            "WITH doomed AS (SELECT event_id FROM inbox_events WHERE consumer = $1 AND applied_at < $2 LIMIT $3)"
            " DELETE FROM inbox_events e USING doomed WHERE e.consumer = $1 AND e.event_id = doomed.event_id",
            consumer,
            before,
            CHUNK,
        )
        deleted = int(status.rsplit(" ", 1)[1])
        total += deleted
        if deleted < CHUNK:
            return total


class LogEnds(Protocol):
    """A consumer that can say where its partitions end now (InboxConsumer)."""

    @property
    def name(self) -> str: ...

    async def log_ends(self) -> dict[TopicPartition, int] | None: ...


class InboxPruner:
    """One per service instance. Instances prune independently: a delete is safe from any of them,
    and a candidate is only ever applied by the instance that took it."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        consumers: Iterable[LogEnds],
        *,
        keep_s: float,
        skew_s: float,
        others: Iterable[str] = (),
    ) -> None:
        self._pool = pool
        self._others = sorted(set(others))
        self._consumers = list(consumers)
        self._keep_s = keep_s
        self._skew_s = skew_s
        self._pending: dict[str, Candidate] = {}

    async def step(self) -> int:
        """Apply the candidates the consumers have caught up with, then take new ones; returns
        how many ids were forgotten."""
        forgotten = 0
        for consumer in self._consumers:
            forgotten += await self._prune(consumer)
        return forgotten

    async def _horizon(self, conn: asyncpg.Connection) -> datetime:
        """H over every server: the earliest of each one's."""
        taken = await horizon(conn, self._keep_s, self._skew_s)
        for dsn in self._others:
            other = await asyncpg.connect(dsn, timeout=10)
            try:
                taken = min(taken, await horizon(other, self._keep_s, self._skew_s))
            finally:
                await other.close()
        return taken

    async def _prune(self, consumer: LogEnds) -> int:
        name = consumer.name
        forgotten = 0
        async with self._pool.acquire() as conn:
            pending = self._pending.get(name)
            if pending is not None and caught_up(pending.ends, await positions(conn, name)):
                forgotten = await forget_before(self._pool, name, pending.horizon)
                del self._pending[name]
                PRUNED.labels(name).inc(forgotten)
                lag = await conn.fetchval("SELECT extract(epoch FROM now() - $1::timestamptz)", pending.horizon)
                HORIZON.labels(name).set(float(lag))
                if forgotten:
                    log.info("inbox pruned", consumer=name, forgotten=forgotten)
            if name not in self._pending:
                taken = await self._horizon(conn)
        if name not in self._pending:  # ends read after H: the order the argument needs
            try:
                ends = await consumer.log_ends()
            except KafkaError as exc:  # the broker is away: take a candidate next round
                log.warning("inbox prune skipped", consumer=name, error=type(exc).__name__)
                ends = None
            if ends is not None:
                self._pending[name] = Candidate(taken, ends)
        return forgotten
