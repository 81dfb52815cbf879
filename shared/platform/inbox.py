"""The inbox: which records a consumer has applied, stored with the state they changed.

`claim_batch` (`claim_batches`: a poll's partitions in one statement) locks the partition's
offset row for the length of the caller's transaction, so two instances that briefly both hold a
partition during a rebalance serialise on it, and the second sees the first's progress and skips;
in the same statement it moves the position past the batch (the caller's transaction makes that
one with the state) and records the batch's event ids, so a repeated event id (the same event at
another offset) is a no-op.

`history_end` is the partition's end offset when the consumer first met it. Records below it are
history (a replay after a dropped schema, or a service joining an existing log): handlers fold
them into state but do not act on them again: no new events, no emails.
"""

from __future__ import annotations

from uuid import UUID

import asyncpg

from shared.platform.durability import LAZY_COMMIT

Position = tuple[int, int]  # (next_offset, history_end)


async def adopt_partitions(
    pool: asyncpg.Pool,
    consumer: str,
    ends: dict[tuple[str, int], int],
    starts: dict[tuple[str, int], int] | None = None,
) -> dict[tuple[str, int], Position]:
    """Create rows for partitions met for the first time, with their current end offset as
    `history_end`, and move any position below its partition's first offset (`starts`: records
    the topic's retention deleted, which nobody can read any more) up to it; return the position
    of every partition in `ends`."""
    async with pool.acquire() as conn, conn.transaction():
        for (topic, partition), end in ends.items():
            start = (starts or {}).get((topic, partition), 0)
            await conn.execute(
                "INSERT INTO inbox_offsets(consumer, topic, partition, next_offset, history_end)"
                " VALUES ($1, $2, $3, $5, $4) ON CONFLICT (consumer, topic, partition)"
                " DO UPDATE SET next_offset = greatest(inbox_offsets.next_offset, $5)",
                consumer,
                topic,
                partition,
                end,
                start,
            )
        rows = await conn.fetch(
            "SELECT topic, partition, next_offset, history_end FROM inbox_offsets WHERE consumer = $1",
            consumer,
        )
    return {
        (r["topic"], r["partition"]): (r["next_offset"], r["history_end"])
        for r in rows
        if (r["topic"], r["partition"]) in ends
    }


async def position(pool: asyncpg.Pool, consumer: str, topic: str, partition: int) -> int:
    """The next offset `consumer` applies in (topic, partition), whichever instance holds it (0:
    never met)."""
    found = await pool.fetchval(
        "SELECT next_offset FROM inbox_offsets WHERE consumer = $1 AND topic = $2 AND partition = $3",
        consumer,
        topic,
        partition,
    )
    return int(found or 0)


async def claim_partition(conn: asyncpg.Connection, consumer: str, topic: str, partition: int) -> Position:
    """Lock (consumer, topic, partition) until commit; return its position."""
    await conn.execute(
        "INSERT INTO inbox_offsets(consumer, topic, partition, next_offset) VALUES ($1, $2, $3, 0)"
        " ON CONFLICT DO NOTHING",
        consumer,
        topic,
        partition,
    )
    row = await conn.fetchrow(
        "SELECT next_offset, history_end FROM inbox_offsets"
        " WHERE consumer = $1 AND topic = $2 AND partition = $3 FOR UPDATE",
        consumer,
        topic,
        partition,
    )
    return int(row["next_offset"]), int(row["history_end"])


async def claim_batch(
    conn: asyncpg.Connection,
    consumer: str,
    topic: str,
    partition: int,
    next_offset: int,
    offsets: list[int],
    event_ids: list[UUID],
) -> tuple[Position, set[UUID]]:
    """Lock the partition's position and advance it to `next_offset` (never backwards), and record
    the events (`event_ids`, at `offsets`) at or past the position it had, in one round trip:
    (the position before, the ids not applied before)."""
    row = await conn.fetchrow(
        "WITH before AS (SELECT next_offset, history_end FROM inbox_offsets"
        " WHERE consumer = $1 AND topic = $2 AND partition = $3 FOR UPDATE),"
        " moved AS (UPDATE inbox_offsets o SET next_offset = greatest(o.next_offset, $4) FROM before"
        " WHERE o.consumer = $1 AND o.topic = $2 AND o.partition = $3),"
        " fresh AS (INSERT INTO inbox_events(consumer, event_id)"
        " SELECT $1, r.id FROM unnest($5::bigint[], $6::uuid[]) AS r(off, id), before WHERE r.off >= before.next_offset"
        " ON CONFLICT DO NOTHING RETURNING event_id)"
        " SELECT before.next_offset, before.history_end, array(SELECT event_id FROM fresh) AS fresh,"
        f" {LAZY_COMMIT} FROM before",
        consumer,
        topic,
        partition,
        next_offset,
        offsets,
        event_ids,
    )
    if row is None:  # a partition never met before (normally adopted on assignment)
        await conn.execute(f"SELECT {LAZY_COMMIT}")
        position = await claim_partition(conn, consumer, topic, partition)
        await advance(conn, consumer, topic, partition, max(position[0], next_offset))
        ids = [i for o, i in zip(offsets, event_ids, strict=True) if o >= position[0]]
        return position, await first_seen_many(conn, consumer, ids)
    return (int(row["next_offset"]), int(row["history_end"])), set(row["fresh"])


async def claim_batches(
    conn: asyncpg.Connection,
    consumer: str,
    batches: list[tuple[str, int, int]],
    records: list[tuple[str, int, int, UUID]],
) -> tuple[dict[tuple[str, int], Position], set[UUID]]:
    """`claim_batch` for a poll's partitions at once, in one round trip: `batches` are (topic,
    partition, next_offset), `records` (topic, partition, offset, event id). The rows are locked
    in (topic, partition) order, as every instance does. Returns the position each partition had
    and the ids not applied before; a partition without a row yet is left out of both (claim it
    with `claim_batch`)."""
    rows = await conn.fetch(
        "WITH want AS (SELECT * FROM unnest($2::text[], $3::int[], $4::bigint[]) AS w(topic, partition, next_offset)),"
        " before AS (SELECT o.topic, o.partition, o.next_offset, o.history_end FROM inbox_offsets o"
        " JOIN want w ON w.topic = o.topic AND w.partition = o.partition WHERE o.consumer = $1"
        " ORDER BY o.topic, o.partition FOR UPDATE OF o),"
        " moved AS (UPDATE inbox_offsets o SET next_offset = greatest(o.next_offset, w.next_offset)"
        " FROM want w JOIN before b ON b.topic = w.topic AND b.partition = w.partition"
        " WHERE o.consumer = $1 AND o.topic = w.topic AND o.partition = w.partition),"
        " fresh AS (INSERT INTO inbox_events(consumer, event_id)"
        " SELECT $1, r.id FROM unnest($5::text[], $6::int[], $7::bigint[], $8::uuid[]) AS r(topic, partition, off, id)"
        " JOIN before b ON b.topic = r.topic AND b.partition = r.partition WHERE r.off >= b.next_offset"
        " ON CONFLICT DO NOTHING RETURNING event_id)"
        " SELECT b.topic, b.partition, b.next_offset, b.history_end, array(SELECT event_id FROM fresh) AS fresh,"
        f" {LAZY_COMMIT} FROM before b",
        consumer,
        [t for t, _, _ in batches],
        [p for _, p, _ in batches],
        [o for _, _, o in batches],
        [t for t, _, _, _ in records],
        [p for _, p, _, _ in records],
        [o for _, _, o, _ in records],
        [i for _, _, _, i in records],
    )
    positions = {(r["topic"], r["partition"]): (int(r["next_offset"]), int(r["history_end"])) for r in rows}
    return positions, set(rows[0]["fresh"]) if rows else set()


async def advance(conn: asyncpg.Connection, consumer: str, topic: str, partition: int, next_offset: int) -> None:
    await conn.execute(
        "UPDATE inbox_offsets SET next_offset = $4 WHERE consumer = $1 AND topic = $2 AND partition = $3",
        consumer,
        topic,
        partition,
        next_offset,
    )


async def first_seen_many(conn: asyncpg.Connection, consumer: str, event_ids: list[UUID]) -> set[UUID]:
    """Record `event_ids` as applied, in one round trip; returns those that were not before.
    (Also how history marks what a consumer's own decisions already applied, see `applied_by`.)"""
    if not event_ids:
        return set()
    rows = await conn.fetch(
        "INSERT INTO inbox_events(consumer, event_id) SELECT $1, unnest($2::uuid[])"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        event_ids,
    )
    return {r["event_id"] for r in rows}
