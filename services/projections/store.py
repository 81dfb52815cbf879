"""The projections' tables: the write side (a batch's tickets read once and written once, the
timeline appended in one statement, the roster) and the read side the query API and the web share
(who may list what, agents with their load)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from services.projections.domain import TicketView
from services.projections.listing import COUNT_UP_TO, Query, encode_cursor, page, sort_value, where
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Priority
from shared.domain.principal import Principal
from shared.domain.privacy import scrub
from shared.domain.ticket import OPEN_STATUSES, PRIORITY_WEIGHT, Ticket

_OPEN = [s.value for s in OPEN_STATUSES]

_COLUMNS = (
    "id, requester, subject, description, status, category, priority, owner, level, version, state, opened_at,"
    " updated_at, first_response_due, resolution_due, first_response_at, sla_state, breached, feedback_rating,"
    " feedback_comment, queued_at, resolved_at, tags, order_id, merged_into, conversation_public,"
    " conversation_internal"
)


async def tickets(conn: asyncpg.Connection, ids: list[str]) -> dict[str, TicketView]:
    """The views of these tickets, locked for this transaction."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM tickets WHERE id = ANY($1::text[]) FOR UPDATE", ids)
    return {
        r["id"]: TicketView(
            ticket=Ticket.model_validate_json(r["state"]),
            description=r["description"],
            opened_at=r["opened_at"],
            updated_at=r["updated_at"],
            first_response_due=r["first_response_due"],
            resolution_due=r["resolution_due"],
            first_response_at=r["first_response_at"],
            sla_state=r["sla_state"],
            breached=list(r["breached"]),
            feedback_rating=r["feedback_rating"],
            feedback_comment=r["feedback_comment"],
            queued_at=r["queued_at"],
            resolved_at=r["resolved_at"],
            conversation_public=r["conversation_public"],
            conversation_internal=r["conversation_internal"],
        )
        for r in rows
    }


async def save(conn: asyncpg.Connection, views: list[TicketView]) -> None:
    """Each changed ticket once."""
    await conn.executemany(
        f"INSERT INTO tickets({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14,"
        " $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27) ON CONFLICT (id) DO UPDATE SET status = $5,"
        " category = $6,"
        " priority = $7, owner = $8, level = $9, version = $10, state = $11::jsonb, updated_at = $13,"
        " first_response_due = $14, resolution_due = $15, first_response_at = $16, sla_state = $17, breached = $18,"
        " feedback_rating = $19, feedback_comment = $20, queued_at = $21, resolved_at = $22,"
        " requester = $2, subject = $3, description = $4, tags = $23, order_id = $24, merged_into = $25,"
        " conversation_public = $26, conversation_internal = $27",
        [
            (
                t.id,
                t.requester,
                t.subject,
                v.description,
                t.status.value,
                t.category.value,
                t.priority.value,
                t.owner,
                t.level,
                t.version,
                t.model_dump_json(),
                v.opened_at,
                v.updated_at,
                v.first_response_due,
                v.resolution_due,
                v.first_response_at,
                v.sla_state,
                v.breached,
                v.feedback_rating,
                v.feedback_comment,
                v.queued_at,
                v.resolved_at,
                list(t.tags),
                t.order_id,
                t.merged_into,
                v.conversation_public,
                v.conversation_internal,
            )
            for v in views
            for t in (v.ticket,)
        ],
    )


# the two vectors search reads: the subject weighs most; Spanish and English stems of everything.
# Staff's vector is the requester's plus the internal notes: each text is stemmed once per
# language (the same words as stemming it all again, with the notes' positions after the rest),
# which halves what PostgreSQL spends on a ticket's words (`OFFSET 0` keeps the planner from
# pulling the subquery up and writing `pub` out, stemmed again, where it is used).
def _words_from(source: str) -> str:
    """The statement that writes the search words of the tickets `source` gives (id, subject,
    description, the public conversation, the internal one)."""
    return f"""
INSERT INTO ticket_words(ticket_id, search_public, search_all)
SELECT id, pub, pub || to_tsvector('spanish', internal) || to_tsvector('english', internal)
FROM {source} AS w(id, subject, description, public, internal),
LATERAL (SELECT setweight(to_tsvector('spanish', subject), 'A') || setweight(to_tsvector('english', subject), 'A')
    || to_tsvector('spanish', description || E'\\n' || public)
    || to_tsvector('english', description || E'\\n' || public) AS pub OFFSET 0) p
ON CONFLICT (ticket_id) DO UPDATE SET search_public = excluded.search_public, search_all = excluded.search_all
"""


_WORDS = _words_from("unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])")
_ALL_WORDS = _words_from("(SELECT id, subject, description, conversation_public, conversation_internal FROM tickets)")


async def save_words(conn: asyncpg.Connection, views: list[TicketView]) -> None:
    """The search words of tickets whose words changed (opened, a comment, an erasure): one statement."""
    if views:
        columns = zip(*((v.ticket.id, *v.words) for v in views), strict=True)
        await conn.execute(_WORDS, *(list(c) for c in columns))


async def all_words(pool: asyncpg.Pool) -> None:
    """Every ticket's search words from its row, in one statement: how a rebuild ends (its fold
    left them, `in_bulk_replay`), each ticket stemmed once rather than at each of its writes."""
    async with pool.acquire() as conn:
        await conn.execute(_ALL_WORDS)


def timeline_row(env: Envelope, t: Ticket) -> tuple[Any, ...]:
    return (t.id, t.version, env.id, env.type, env.time, env.source, env.actor, env.data.model_dump_json())


_TIMELINE = ["ticket_id", "seq", "event_id", "type", "time", "source", "actor", "data"]
# COPY costs PostgreSQL about 0.25 ms to set up: worth it for a replay's thousands of rows, not
# for the handful a live batch brings, which one INSERT of arrays writes for a tenth of that.
COPY_FROM_ROWS = 200


async def append_timeline(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    if len(rows) < COPY_FROM_ROWS:
        await conn.execute(
            f"INSERT INTO timeline({', '.join(_TIMELINE)}) SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[],"
            " $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::jsonb[])",
            *(list(column) for column in zip(*rows, strict=True)),
        )
        return
    # COPY needs the schema named: this connection's (its search_path's first)
    schema = await conn.fetchval("SELECT current_schema()")
    await conn.copy_records_to_table("timeline", records=rows, columns=_TIMELINE, schema_name=schema)


async def scrub_timeline(conn: asyncpg.Connection, ticket_id: str, sub: str, ref: str) -> None:
    rows = await conn.fetch("SELECT seq, type, actor, data FROM timeline WHERE ticket_id = $1", ticket_id)
    changes = []
    for r in rows:
        payload, actor = scrub(ev.model_for(r["type"]).model_validate_json(r["data"]), r["actor"], sub, ref)
        changes.append((ticket_id, r["seq"], actor, payload.model_dump_json()))
    await conn.executemany(
        "UPDATE timeline SET actor = $3, data = $4::jsonb WHERE ticket_id = $1 AND seq = $2", changes
    )


async def link(conn: asyncpg.Connection, ticket_id: str, other: str, *, unlinked: bool) -> None:
    """Both ways: a relation named on one ticket is read from either."""
    pairs = [(ticket_id, other), (other, ticket_id)]
    if unlinked:
        await conn.executemany("DELETE FROM ticket_links WHERE ticket_id = $1 AND other = $2", pairs)
    else:
        await conn.executemany("INSERT INTO ticket_links VALUES ($1, $2) ON CONFLICT DO NOTHING", pairs)


async def set_fields(conn: asyncpg.Connection, ticket_id: str, values: dict[str, str], cleared: list[str]) -> None:
    if values:
        await conn.executemany(
            "INSERT INTO ticket_fields VALUES ($1, $2, $3) ON CONFLICT (ticket_id, field) DO UPDATE SET value = $3",
            [(ticket_id, k, v) for k, v in values.items()],
        )
    if cleared:
        await conn.execute(
            "DELETE FROM ticket_fields WHERE ticket_id = $1 AND field = ANY($2::text[])", ticket_id, cleared
        )


async def erase_fields(conn: asyncpg.Connection, ticket_id: str) -> None:
    """A requester's erasure takes what they may have typed into fields too."""
    await conn.execute("DELETE FROM ticket_fields WHERE ticket_id = $1", ticket_id)


async def fields_of(conn: asyncpg.Connection | asyncpg.Pool, ticket_id: str) -> dict[str, str]:
    rows = await conn.fetch("SELECT field, value FROM ticket_fields WHERE ticket_id = $1 ORDER BY field", ticket_id)
    return {r["field"]: r["value"] for r in rows}


# -- macros and custom fields (workspace.events) -------------------------------------------------


async def workspace_event(conn: asyncpg.Connection, env: Envelope) -> None:
    match env.data:
        case ev.MacroSaved() as m:
            await conn.execute(
                "INSERT INTO macros VALUES ($1, $2, $3, $4::jsonb)"
                " ON CONFLICT (id) DO UPDATE SET owner = $2, name = $3, payload = $4::jsonb",
                m.macro_id,
                m.owner,
                m.name,
                m.model_dump_json(),
            )
        case ev.MacroRemoved() as m:
            await conn.execute("DELETE FROM macros WHERE id = $1", m.macro_id)
        case ev.FieldDefined() as f:
            await conn.execute(
                "INSERT INTO field_defs VALUES ($1, $2::jsonb) ON CONFLICT (id) DO UPDATE SET payload = $2::jsonb",
                f.field_id,
                f.model_dump_json(),
            )
        case ev.FieldRemoved() as f:
            await conn.execute("DELETE FROM field_defs WHERE id = $1", f.field_id)
        case ev.ReviewOpened() as r:
            await conn.execute(
                "INSERT INTO reviews VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb) ON CONFLICT (id) DO NOTHING",
                r.review_id,
                r.period_from,
                r.period_to,
                env.time,
                r.scheduled,
                r.by,
                list(r.sample),
                r.seed,
                r.figures.model_dump_json(),
            )
        case ev.FindingRecorded() as f:
            await conn.execute(
                "INSERT INTO findings VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING",
                f.finding_id,
                f.review_id,
                f.text,
                list(f.tickets),
                f.by,
                env.time,
            )
        case ev.ActionPlanned() as a:
            await conn.execute(
                "INSERT INTO actions VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $8, NULL)"
                " ON CONFLICT (id) DO NOTHING",
                a.action_id,
                a.finding_id,
                a.what,
                a.owner,
                a.due,
                list(a.tickets),
                a.by,
                env.time,
            )
        case ev.ActionUpdated() as a:
            if await conn.fetchval(
                "INSERT INTO action_notes VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true",
                a.action_id,
                env.time,
                a.status,
                a.note,
                a.by,
                env.id,
            ):
                await conn.execute(
                    "UPDATE actions SET status = $2, updated_at = $3,"
                    " done_at = CASE WHEN $2 = 'done' THEN $3 ELSE done_at END WHERE id = $1",
                    a.action_id,
                    a.status,
                    env.time,
                )


async def macros_for(conn: asyncpg.Connection | asyncpg.Pool, agent_id: str) -> list[ev.MacroSaved]:
    """The shared macros and `agent_id`'s own, by name."""
    rows = await conn.fetch(
        "SELECT payload FROM macros WHERE owner IS NULL OR owner = $1 ORDER BY owner NULLS FIRST, name", agent_id
    )
    return [ev.MacroSaved.model_validate_json(r["payload"]) for r in rows]


async def macro_known(pool: asyncpg.Pool, macro_id: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM macros WHERE id = $1", macro_id))


async def field_definitions(conn: asyncpg.Connection | asyncpg.Pool) -> list[ev.FieldDefined]:
    rows = await conn.fetch("SELECT payload FROM field_defs ORDER BY id")
    return [ev.FieldDefined.model_validate_json(r["payload"]) for r in rows]


# -- the roster ---------------------------------------------------------------------------------


async def agent_event(conn: asyncpg.Connection, env: Envelope) -> None:
    d = env.data
    match d:
        case ev.AgentRegistered():
            await conn.execute(
                "INSERT INTO agents(id, name, email, skills, level, capacity, availability, languages, teams,"
                " proficiency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
                " ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, skills = $4, level = $5, capacity = $6,"
                " availability = $7, languages = $8, teams = $9, proficiency = $10::jsonb, removed = false",
                d.agent_id,
                d.name,
                d.email,
                [s.value for s in d.skills],
                d.level,
                d.capacity,
                d.availability,
                list(d.languages),
                list(d.teams),
                json.dumps({k.value: v for k, v in d.proficiency.items()}),
            )
        case ev.AgentUpdated():
            await conn.execute(
                "UPDATE agents SET skills = coalesce($2, skills), level = coalesce($3, level),"
                " capacity = coalesce($4, capacity), languages = coalesce($5, languages), teams = coalesce($6, teams),"
                " proficiency = coalesce($7::jsonb, proficiency) WHERE id = $1",
                d.agent_id,
                [s.value for s in d.skills] if d.skills is not None else None,
                d.level,
                d.capacity,
                list(d.languages) if d.languages is not None else None,
                list(d.teams) if d.teams is not None else None,
                json.dumps({k.value: v for k, v in d.proficiency.items()}) if d.proficiency is not None else None,
            )
        case ev.AgentAvailabilityChanged():
            await conn.execute("UPDATE agents SET availability = $2 WHERE id = $1", d.agent_id, d.availability)
        case ev.AgentRemoved():
            await conn.execute("UPDATE agents SET removed = true, availability = 'offline' WHERE id = $1", d.agent_id)


# -- the read side ------------------------------------------------------------------------------


TICKET_WITH_OWNER = "SELECT t.*, a.name AS owner_name FROM tickets t LEFT JOIN agents a ON a.id = t.owner"


async def teammates(conn: asyncpg.Connection | asyncpg.Pool, agent_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT b.id FROM agents a JOIN agents b ON a.teams && b.teams WHERE a.id = $1", agent_id
    )
    return [r["id"] for r in rows]


def visibility(who: Principal, team: list[str], first_arg: int) -> tuple[str, list[Any]]:
    """A WHERE condition (and its arguments, numbered from `first_arg`) for what `who` may list."""
    if who.reads_all:
        return "true", []
    if who.role == "requester":
        return f"requester = ${first_arg}", [who.sub]
    if who.role == "agent":
        return f"(owner IS NULL OR owner = ${first_arg} OR owner = ANY(${first_arg + 1}::text[]))", [who.sub, team]
    return "false", []


async def agents_with_load(conn: asyncpg.Connection | asyncpg.Pool) -> list[asyncpg.Record]:
    """Every agent with `load` (open tickets weighted by priority, what capacity is counted in, as
    routing counts it) and `open_tickets`, by name."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT a.*, count(t.id) AS open_tickets,"
        " coalesce(sum(CASE t.priority WHEN 'P1' THEN $2::int WHEN 'P2' THEN $3::int"
        " WHEN 'P3' THEN $4::int WHEN 'P4' THEN $5::int END), 0) AS load"
        " FROM agents a LEFT JOIN tickets t ON t.owner = a.id AND t.status = ANY($1::text[])"
        " WHERE NOT a.removed GROUP BY a.id ORDER BY a.id",
        _OPEN,
        *(PRIORITY_WEIGHT[p] for p in (Priority.P1, Priority.P2, Priority.P3, Priority.P4)),
    )
    return rows


async def ticket_with_timeline(
    conn: asyncpg.Connection, ticket_id: str
) -> tuple[asyncpg.Record | None, list[asyncpg.Record]]:
    """A ticket's row (with its owner's name) and its timeline; call inside one snapshot."""
    row = await conn.fetchrow(f"{TICKET_WITH_OWNER} WHERE t.id = $1", ticket_id)
    if row is None:
        return None, []
    events = await conn.fetch(
        "SELECT seq, event_id, type, time, source, actor, data FROM timeline WHERE ticket_id = $1 ORDER BY seq",
        ticket_id,
    )
    return row, events


# A list's row: the ticket without its words (the conversations and their indexes stay in the
# database), its owner's name, what falls due next, and whether a warning was given.
_LISTED = (
    "SELECT t.id, t.requester, t.subject, t.status, t.category, t.priority, t.owner, t.level, t.version,"
    " t.opened_at, t.updated_at, t.first_response_due, t.resolution_due, t.first_response_at, t.sla_state,"
    " t.breached, t.queued_at, t.tags, t.order_id, t.merged_into, t.next_due_at, a.name AS owner_name,"
    " CASE WHEN t.first_response_at IS NULL THEN least(t.first_response_due, t.resolution_due)"
    " ELSE t.resolution_due END AS next_due,"
    " EXISTS (SELECT 1 FROM timeline w WHERE w.ticket_id = t.id AND w.type = 'ticket.sla_warning') AS warned"
    " FROM tickets t LEFT JOIN agents a ON a.id = t.owner"
)


async def listing(
    pool: asyncpg.Pool, who: Principal, team: list[str], q: Query
) -> tuple[int, list[asyncpg.Record], str | None]:
    """(how many match, counted up to COUNT_UP_TO; one page of them; the cursor of the next page
    or None) of the tickets `who` may list (services/projections/listing.py)."""
    seen, args = visibility(who, team, 1)
    clause = where(q, seen, args, requester=who.role == "requester")
    counted = list(args)
    tail, after = page(q, clause, args)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        total: int = await conn.fetchval(
            f"SELECT count(*) FROM (SELECT 1 FROM tickets t WHERE {clause} LIMIT {COUNT_UP_TO}) m", *counted
        )
        rows = list(await conn.fetch(f"{_LISTED} WHERE {clause}{f' AND {after}' if after else ''} {tail}", *args))
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    cursor = encode_cursor(sort_value(q, rows[-1]), rows[-1]["id"]) if more and rows else None
    return total, rows, cursor


async def merged_into(conn: asyncpg.Connection, ticket_id: str) -> list[asyncpg.Record]:
    """The duplicates closed into this ticket, the first merged first."""
    return list(await conn.fetch("SELECT * FROM tickets WHERE merged_into = $1 ORDER BY opened_at", ticket_id))


async def linked(conn: asyncpg.Connection, ticket_id: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            "SELECT t.* FROM ticket_links l JOIN tickets t ON t.id = l.other WHERE l.ticket_id = $1 ORDER BY t.id",
            ticket_id,
        )
    )


async def requesters_others(
    conn: asyncpg.Connection, requester: str, but: str, limit: int = 20
) -> list[asyncpg.Record]:
    """The requester's other tickets, the last changed first."""
    return list(
        await conn.fetch(
            "SELECT * FROM tickets WHERE requester = $1 AND id <> $2 ORDER BY updated_at DESC LIMIT $3",
            requester,
            but,
            limit,
        )
    )


async def requesters_tickets(pool: asyncpg.Pool, who: Principal) -> list[asyncpg.Record]:
    """A requester's tickets, the last changed first."""
    seen, args = visibility(who, [], 1)
    return list(await pool.fetch(f"{TICKET_WITH_OWNER} WHERE {seen} ORDER BY t.updated_at DESC LIMIT 200", *args))


async def agent_exists(pool: asyncpg.Pool, agent_id: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM agents WHERE id = $1", agent_id))


async def open_queue(pool: asyncpg.Pool, agent_id: str) -> list[asyncpg.Record]:
    """An agent's open tickets, the one due first at the top (`next_due`)."""
    return list(
        await pool.fetch(
            "SELECT t.*, a.name AS owner_name, CASE WHEN first_response_at IS NULL"
            " THEN least(first_response_due, resolution_due) ELSE resolution_due END AS next_due"
            " FROM tickets t LEFT JOIN agents a ON a.id = t.owner WHERE owner = $1 AND status = ANY($2::text[])"
            " ORDER BY next_due NULLS LAST, opened_at",
            agent_id,
            _OPEN,
        )
    )


async def reader_facts(pool: asyncpg.Pool, ticket_id: str) -> asyncpg.Record | None:
    """What the access rule needs of a ticket, and its version."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT requester, owner, version FROM tickets WHERE id = $1", ticket_id
    )
    return row


async def agent_names(pool: asyncpg.Pool, *, active: bool = False) -> dict[str, str]:
    """Agents' names by id (`active`: those on the roster, by name)."""
    if active:
        rows = await pool.fetch("SELECT id, name FROM agents WHERE NOT removed ORDER BY name")
    else:
        rows = await pool.fetch("SELECT id, name FROM agents")
    return {r["id"]: r["name"] for r in rows}
