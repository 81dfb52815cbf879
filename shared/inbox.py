"""The inbox: which records a consumer has applied, stored with the state they changed.

`claim_partition` locks the partition's offset row for the length of the caller's transaction,
so two instances that briefly both hold a partition during a rebalance serialise on it, and the
second sees the first's progress and skips. `first_seen` makes a repeated event id a no-op.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg


async def claim_partition(conn: asyncpg.Connection, consumer: str, topic: str, partition: int) -> int:
    """Lock (consumer, topic, partition) until commit and return its next offset (0 if new)."""
    await conn.execute(
        "INSERT INTO inbox_offsets(consumer, topic, partition, next_offset) VALUES ($1, $2, $3, 0)"
        " ON CONFLICT DO NOTHING",
        consumer,
        topic,
        partition,
    )
    offset: int = await conn.fetchval(
        "SELECT next_offset FROM inbox_offsets WHERE consumer = $1 AND topic = $2 AND partition = $3"
        " FOR UPDATE",
        consumer,
        topic,
        partition,
    )
    return offset


async def advance(
    conn: asyncpg.Connection, consumer: str, topic: str, partition: int, next_offset: int
) -> None:
    await conn.execute(
        "UPDATE inbox_offsets SET next_offset = $4 WHERE consumer = $1 AND topic = $2 AND partition = $3",
        consumer,
        topic,
        partition,
        next_offset,
    )


async def first_seen(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    """Record `event_id` as applied; False when it already was (a duplicate at another offset)."""
    row = await conn.fetchval(
        "INSERT INTO inbox_events(consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
    )
    return row is not None


async def stored_offsets(pool: asyncpg.Pool, consumer: str, topics: list[str]) -> dict[tuple[str, int], int]:
    rows = await pool.fetch(
        "SELECT topic, partition, next_offset FROM inbox_offsets"
        " WHERE consumer = $1 AND topic = ANY($2::text[])",
        consumer,
        topics,
    )
    return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}
