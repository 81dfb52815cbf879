"""Intake's tables: tickets (their state, the fold every view agrees on), idempotency keys,
files and which tickets show them, and the roster's teams (for the access rule). Every statement
intake makes is here."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from shared.domain.events import Envelope
from shared.domain.ticket import Ticket


async def ticket(conn: asyncpg.Connection, ticket_id: str, *, lock: bool) -> Ticket | None:
    sql = "SELECT state FROM tickets WHERE id = $1" + (" FOR UPDATE" if lock else "")
    raw = await conn.fetchval(sql, ticket_id)
    return Ticket.model_validate_json(raw) if raw else None


async def tickets(conn: asyncpg.Connection, ids: list[str]) -> dict[str, Ticket]:
    """These tickets, locked for this transaction."""
    rows = await conn.fetch("SELECT id, state FROM tickets WHERE id = ANY($1::text[]) FOR UPDATE", ids)
    return {r["id"]: Ticket.model_validate_json(r["state"]) for r in rows}


async def create(conn: asyncpg.Connection, t: Ticket) -> bool:
    """A new ticket; False when its (random) id is taken, nothing written."""
    return await conn.fetchval(_CREATE, *_save_args(t)) is not None


async def save(conn: asyncpg.Connection, changed: list[Ticket]) -> None:
    if len(changed) == 1:
        await conn.execute(_SAVE, *_save_args(changed[0]))
    elif changed:
        await conn.executemany(_SAVE, [_save_args(t) for t in changed])


async def of_requester(conn: asyncpg.Connection, ref: str) -> list[str]:
    return [r["id"] for r in await conn.fetch("SELECT id FROM tickets WHERE requester = $1 ORDER BY id", ref)]


async def requester_of(conn: asyncpg.Connection | asyncpg.Pool, ticket_id: str) -> str | None:
    found = await conn.fetchval("SELECT requester FROM tickets WHERE id = $1", ticket_id[:64])
    return str(found) if found else None


# -- idempotency keys ---------------------------------------------------------------------------


async def remembered(conn: asyncpg.Connection, key: str) -> tuple[str, str | None] | None:
    """(ticket, request hash) a key opened, the key locked for this transaction (the same key at
    once waits for the first)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"idem:{key}")
    row = await conn.fetchrow("SELECT ticket_id, request_hash FROM idempotency_keys WHERE key = $1", key)
    return (row["ticket_id"], row["request_hash"]) if row else None


async def remember(conn: asyncpg.Connection, key: str, ticket_id: str, request_hash: str | None) -> None:
    await conn.execute(
        "INSERT INTO idempotency_keys(key, ticket_id, request_hash) VALUES ($1, $2, $3)", key, ticket_id, request_hash
    )


# -- files --------------------------------------------------------------------------------------


def refs_of(env: Envelope) -> list[tuple[str, str, bool]]:
    """(ticket, file, internal) for each file an event shows."""
    files = getattr(env.data, "attachments", ())
    internal = bool(getattr(env.data, "internal", False))
    return [(env.subject, a.sha256, internal) for a in files]


async def add_refs(conn: asyncpg.Connection, refs: list[tuple[str, str, bool]]) -> None:
    if refs:
        await conn.executemany(_ADD_REF, refs)


async def shown(conn: asyncpg.Connection, ticket_id: str, files: list[str], *, internal_too: bool) -> set[str]:
    """Which of `files` the ticket already shows (`internal_too`: in internal notes as well)."""
    rows = await conn.fetch(
        "SELECT sha256 FROM attachment_refs WHERE ticket_id = $1 AND sha256 = ANY($2::text[]) AND (NOT internal OR $3)",
        ticket_id,
        files,
        internal_too,
    )
    return {r["sha256"] for r in rows}


async def forget_files(conn: asyncpg.Connection, ids: list[str]) -> None:
    """The files only these tickets show go, and the tickets' links to any file."""
    await conn.execute(
        "DELETE FROM attachments a WHERE a.sha256 IN"
        " (SELECT sha256 FROM attachment_refs WHERE ticket_id = ANY($1::text[]))"
        " AND NOT EXISTS (SELECT 1 FROM attachment_refs r"
        " WHERE r.sha256 = a.sha256 AND NOT (r.ticket_id = ANY($1::text[])))",
        ids,
    )
    await conn.execute("DELETE FROM attachment_refs WHERE ticket_id = ANY($1::text[])", ids)


async def record_upload(conn: asyncpg.Connection | asyncpg.Pool, sha256: str, uploader: str) -> None:
    """A file another system uploaded ahead of the command that shows it (a mail's attachments)."""
    await conn.execute(
        "INSERT INTO uploads(sha256, uploader) VALUES ($1, $2) ON CONFLICT (sha256, uploader) DO UPDATE SET at = now()",
        sha256,
        uploader,
    )


async def uploaded_by(conn: asyncpg.Connection, uploader: str, files: list[str]) -> frozenset[str]:
    """Which of `files` this uploader sent within the last hour: theirs to show on a ticket."""
    rows = await conn.fetch(
        "SELECT sha256 FROM uploads WHERE uploader = $1 AND sha256 = ANY($2::text[]) AND at > now() - $3::interval",
        uploader,
        files,
        ORPHAN_AFTER,
    )
    return frozenset(r["sha256"] for r in rows)


# -- the roster's teams -------------------------------------------------------------------------


async def set_teams(
    conn: asyncpg.Connection, agent_id: str, teams: list[str], *, create: bool, name: str | None = None
) -> None:
    if create:
        await conn.execute(
            "INSERT INTO roster(agent_id, teams, name) VALUES ($1, $2, $3)"
            " ON CONFLICT (agent_id) DO UPDATE SET teams = $2, name = $3",
            agent_id,
            teams,
            name,
        )
    else:
        await conn.execute("UPDATE roster SET teams = $2 WHERE agent_id = $1", agent_id, teams)


async def agent_name(conn: asyncpg.Connection, agent_id: str) -> str | None:
    name: str | None = await conn.fetchval("SELECT name FROM roster WHERE agent_id = $1", agent_id)
    return name


# -- macros and custom fields -------------------------------------------------------------------


async def macro(conn: asyncpg.Connection, macro_id: str) -> tuple[str | None, str] | None:
    """(owner, the macro.saved data as JSON) of a macro, or None."""
    row = await conn.fetchrow("SELECT owner, payload FROM macros WHERE id = $1", macro_id)
    return (row["owner"], row["payload"]) if row else None


async def save_macro(conn: asyncpg.Connection, macro_id: str, owner: str | None, payload: str) -> None:
    await conn.execute(
        "INSERT INTO macros VALUES ($1, $2, $3::jsonb) ON CONFLICT (id) DO UPDATE SET owner = $2, payload = $3::jsonb",
        macro_id,
        owner,
        payload,
    )


async def remove_macro(conn: asyncpg.Connection, macro_id: str) -> None:
    await conn.execute("DELETE FROM macros WHERE id = $1", macro_id)


async def field_defs(conn: asyncpg.Connection) -> list[str]:
    return [r["payload"] for r in await conn.fetch("SELECT payload FROM field_defs ORDER BY id")]


async def field_exists(conn: asyncpg.Connection, field_id: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM field_defs WHERE id = $1", field_id))


async def save_field(conn: asyncpg.Connection, field_id: str, payload: str) -> None:
    await conn.execute(
        "INSERT INTO field_defs VALUES ($1, $2::jsonb) ON CONFLICT (id) DO UPDATE SET payload = $2::jsonb",
        field_id,
        payload,
    )


async def remove_field(conn: asyncpg.Connection, field_id: str) -> None:
    await conn.execute("DELETE FROM field_defs WHERE id = $1", field_id)


async def remove_agent(conn: asyncpg.Connection, agent_id: str) -> None:
    await conn.execute("DELETE FROM roster WHERE agent_id = $1", agent_id)


async def teammates(pool: asyncpg.Pool, agent_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT DISTINCT b.agent_id FROM roster a JOIN roster b ON a.teams && b.teams WHERE a.agent_id = $1",
        agent_id,
    )
    return [r["agent_id"] for r in rows]


ORPHAN_AFTER = timedelta(hours=1)


async def sweep_orphans(pool: asyncpg.Pool, now: datetime) -> int:
    """Delete files no ticket shows that were stored over ORPHAN_AFTER ago (an open that failed
    between storing its files and its commit); return how many."""
    await pool.execute("DELETE FROM uploads WHERE at < $1", now - ORPHAN_AFTER)
    deleted: int = await pool.fetchval(
        "WITH gone AS (DELETE FROM attachments a WHERE a.created_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.sha256 = a.sha256) RETURNING 1)"
        " SELECT count(*) FROM gone",
        now - ORPHAN_AFTER,
    )
    return deleted


async def store_attachment(pool: asyncpg.Pool, sha256: str, content_type: str, content: bytes) -> None:
    await pool.execute(
        "INSERT INTO attachments(sha256, content_type, size, content) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (sha256) DO NOTHING",
        sha256,
        content_type,
        len(content),
        content,
    )


_INSERT = (
    "INSERT INTO tickets(id, requester, status, version, state, updated_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)"
)
_SAVE = (
    _INSERT
    + " ON CONFLICT (id) DO UPDATE SET requester = $2, status = $3, version = $4, state = $5::jsonb, updated_at = $6"
)
# a new ticket: its id is drawn at random, so a clash yields nothing and another is drawn
_CREATE = _INSERT + " ON CONFLICT (id) DO NOTHING RETURNING 1"
_ADD_REF = "INSERT INTO attachment_refs(ticket_id, sha256, internal) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"


def _save_args(ticket: Ticket) -> tuple[object, ...]:
    return (
        ticket.id,
        ticket.requester,
        ticket.status.value,
        ticket.version,
        ticket.model_dump_json(),
        ticket.updated_at,
    )


async def load_attachment(
    pool: asyncpg.Pool, ticket_id: str, sha256: str, *, public_only: bool
) -> tuple[str, bytes] | None:
    """The file if `ticket_id` shows it (in a public event when `public_only`)."""
    row = await pool.fetchrow(
        "SELECT a.content_type, a.content FROM attachments a JOIN attachment_refs r USING (sha256)"
        " WHERE r.ticket_id = $1 AND a.sha256 = $2 AND (NOT $3 OR NOT r.internal) LIMIT 1",
        ticket_id,
        sha256,
        public_only,
    )
    return (row["content_type"], bytes(row["content"])) if row else None
