"""The auditor's tables: the chain (one link per record of each partition), the signed
checkpoints of its head, and the access log's reads. Every statement the auditor makes is here."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def head(conn: asyncpg.Connection, topic: str, partition: int, form: int) -> tuple[bytes | None, int | None]:
    """The partition's last link (None before its first record), and where its links in `form`
    begin (None: none made in it yet)."""
    row = await conn.fetchrow(
        "SELECT (SELECT head FROM heads WHERE topic = $1 AND partition = $2),"
        " (SELECT since FROM chain_forms WHERE topic = $1 AND partition = $2 AND form = $3)",
        topic,
        partition,
        form,
    )
    assert row is not None
    return row[0], row[1]


async def begin_form(conn: asyncpg.Connection, topic: str, partition: int, form: int, since: int) -> None:
    """The partition's links from `since` on are made in `form` (with that first link)."""
    await conn.execute(
        "INSERT INTO chain_forms(topic, partition, form, since) VALUES ($1, $2, $3, $4)", topic, partition, form, since
    )


async def forms_of(conn: asyncpg.Connection, schema: str, topic: str, form: int) -> dict[int, int]:
    """partition -> the offset its links in `form` begin at (for `mesa audit verify`)."""
    rows = await conn.fetch(
        f"SELECT partition, since FROM {schema}.chain_forms WHERE topic = $1 AND form = $2", topic, form
    )
    return {r["partition"]: r["since"] for r in rows}


async def links(
    conn: asyncpg.Connection, topic: str, partition: int, offsets: list[int], digests: list[bytes], chain: list[bytes]
) -> None:
    """A partition's next links, in offset order, and its new head: one statement."""
    await conn.execute(
        'WITH l AS (INSERT INTO chain(topic, partition, "offset", digest, head)'
        " SELECT $1, $2, o, d, h FROM unnest($3::bigint[], $4::bytea[], $5::bytea[]) AS u(o, d, h))"
        ' INSERT INTO heads(topic, partition, "offset", head) VALUES ($1, $2, $6, $7)'
        ' ON CONFLICT (topic, partition) DO UPDATE SET "offset" = excluded."offset", head = excluded.head',
        topic,
        partition,
        offsets,
        digests,
        chain,
        offsets[-1],
        chain[-1],
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
        'SELECT h.topic, h.partition, h."offset", h.head FROM heads h WHERE NOT EXISTS (SELECT 1 FROM checkpoints c'
        ' WHERE c.topic = h.topic AND c.partition = h.partition AND c."offset" >= h."offset")'
    )
    return [(r["topic"], r["partition"], r["offset"], r["head"]) for r in rows]


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
