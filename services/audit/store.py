"""The auditor's tables: the chain (one link per record of each partition), the signed
checkpoints of its head, and the access log's reads. Every statement the auditor makes is here."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def head(conn: asyncpg.Connection, topic: str, partition: int) -> bytes | None:
    """The partition's last link (None before its first record)."""
    found: bytes | None = await conn.fetchval(
        'SELECT head FROM chain WHERE topic = $1 AND partition = $2 ORDER BY "offset" DESC LIMIT 1', topic, partition
    )
    return found


async def link(conn: asyncpg.Connection, topic: str, partition: int, offset: int, digest: bytes, head: bytes) -> None:
    await conn.execute(
        'INSERT INTO chain(topic, partition, "offset", digest, head) VALUES ($1, $2, $3, $4, $5)',
        topic,
        partition,
        offset,
        digest,
        head,
    )


async def checkpoint(
    conn: asyncpg.Connection, topic: str, partition: int, offset: int, head: bytes, time: str, signature: bytes
) -> bool:
    """A signed checkpoint; False when that offset had one already."""
    done = await conn.fetchval(
        'INSERT INTO checkpoints(topic, partition, "offset", head, time, signature) VALUES ($1, $2, $3, $4, $5, $6)'
        " ON CONFLICT DO NOTHING RETURNING 1",
        topic,
        partition,
        offset,
        head,
        time,
        signature,
    )
    return bool(done)


async def unsigned_heads(conn: asyncpg.Connection) -> list[tuple[str, int, int, bytes]]:
    """(topic, partition, offset, head) of every partition whose head moved since its last checkpoint."""
    rows = await conn.fetch(
        'SELECT DISTINCT ON (c.topic, c.partition) c.topic, c.partition, c."offset", c.head FROM chain c'
        ' ORDER BY c.topic, c.partition, c."offset" DESC'
    )
    out = []
    for r in rows:
        last = await conn.fetchval(
            'SELECT max("offset") FROM checkpoints WHERE topic = $1 AND partition = $2', r["topic"], r["partition"]
        )
        if last is None or last < r["offset"]:
            out.append((r["topic"], r["partition"], r["offset"], r["head"]))
    return out


async def chain_of(
    conn: asyncpg.Connection, schema: str, topic: str
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """The recorded chain of a topic, in order, and its checkpoints (for `mesa audit verify`)."""
    rows = await conn.fetch(
        f'SELECT partition, "offset", digest, head FROM {schema}.chain WHERE topic = $1 ORDER BY partition, "offset"',
        topic,
    )
    signed = await conn.fetch(f"SELECT * FROM {schema}.checkpoints WHERE topic = $1", topic)
    return list(rows), list(signed)


async def read(conn: asyncpg.Connection, event_id: UUID, ticket_id: str, reader: str, via: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO access_reads(event_id, ticket_id, reader, via, at) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING",
        event_id,
        ticket_id,
        reader,
        via,
        at,
    )


async def reads(
    pool: asyncpg.Pool, ticket_id: str | None, reader: str | None, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """Reads of tickets, newest first (each filter optional)."""
    rows = await pool.fetch(
        "SELECT ticket_id, reader, via, at FROM access_reads WHERE ($1::text IS NULL OR ticket_id = $1)"
        " AND ($2::text IS NULL OR reader = $2) AND ($3::timestamptz IS NULL OR at >= $3)"
        " ORDER BY at DESC LIMIT $4",
        ticket_id,
        reader,
        since,
        limit,
    )
    return [{**dict(r), "at": r["at"].isoformat()} for r in rows]
