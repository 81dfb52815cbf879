"""Routing's tables: the roster (`agents`) and what routing knows of each ticket (`tickets`), read
as typed values (services/routing/domain.py) and written back, a ticket and the loads it moves
in one statement.

A ticket's row is locked (FOR UPDATE) by whoever changes it; an agent's capacity is taken with a
conditional UPDATE (`take`), so two routing instances never push one agent over capacity nor
assign one ticket twice.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

import asyncpg

from services.routing.domain import Agent, Load, Need, Ticket
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Shift


# Every decision reads the candidate agents' rows; their JSON columns change only when an agent's
# profile does, so each distinct text is parsed once (read-only views: the cache shares them).
@functools.lru_cache(maxsize=4096)
def _proficiency(raw: str) -> Mapping[str, int]:
    return MappingProxyType(json.loads(raw))


@functools.lru_cache(maxsize=4096)
def _shift(raw: str) -> Shift:
    return Shift.model_validate_json(raw)


def _agent(r: asyncpg.Record) -> Agent:
    return Agent(
        id=r["id"],
        skills=frozenset(r["skills"]),
        level=r["level"],
        capacity=r["capacity"],
        load=r["load"],
        availability=r["availability"],
        proficiency=_proficiency(r["proficiency"]),
        languages=frozenset(r["languages"]),
        last_assigned_at=r["last_assigned_at"],
        shift=_shift(r["shift"]) if r["shift"] else None,
    )


_TICKET = "id, category, priority, weight, language, level, owner, counted, open, waiting_on_customer, waiting_since"


def _ticket(r: asyncpg.Record) -> Ticket:
    return Ticket(*(r[n] for n in _TICKET.split(", ")))


# -- tickets ----------------------------------------------------------------------------------


async def insert_ticket(conn: asyncpg.Connection, t: Ticket) -> Ticket | None:
    """A new ticket, locked as ours; None when it is known already."""
    row = await conn.fetchrow(
        f"INSERT INTO tickets(id, category, priority, weight, language) VALUES ($1, $2, $3, $4, $5)"
        f" ON CONFLICT (id) DO NOTHING RETURNING {_TICKET}",
        t.id,
        t.category,
        t.priority,
        t.weight,
        t.language,
    )
    return _ticket(row) if row else None


async def ticket(conn: asyncpg.Connection, ticket_id: str) -> Ticket | None:
    """The ticket, its row locked for this transaction."""
    row = await conn.fetchrow(f"SELECT {_TICKET} FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
    return _ticket(row) if row else None


def _net(loads: Iterable[Load]) -> dict[str, Load]:
    out: dict[str, Load] = {}
    for change in loads:
        had = out.get(change.agent_id, Load(change.agent_id, 0, 0))
        out[change.agent_id] = Load(change.agent_id, had.load + change.load, had.open_count + change.open_count)
    return out


async def save(
    conn: asyncpg.Connection,
    t: Ticket,
    loads: Sequence[Load] = (),
    *,
    assignee: str | None = None,
    when: datetime | None = None,
) -> None:
    """The ticket as `t`, and the loads it moved, in one statement. `assignee` gets it at `when`:
    their row is made if the roster has not told of them yet (on a replay ticket.events can run
    ahead of agent.events; the registration fills the placeholder in)."""
    net = _net(loads)
    got = net.pop(assignee, Load(assignee, 0, 0)) if assignee else None
    others = [c for c in net.values() if c.load or c.open_count]
    await conn.execute(
        "WITH d AS (SELECT * FROM unnest($12::text[], $13::int[], $14::int[]) AS d(id, load, n)),"
        " down AS (UPDATE agents SET load = agents.load + d.load, open_count = agents.open_count + d.n"
        " FROM d WHERE agents.id = d.id),"
        " up AS (INSERT INTO agents(id, name, email, skills, level, capacity, availability, load, open_count,"
        " last_assigned_at) SELECT $15, '', '', '{}', 1, 1, 'offline', $16, $17, $18::timestamptz"
        " WHERE $15::text IS NOT NULL"
        " ON CONFLICT (id) DO UPDATE SET load = agents.load + excluded.load,"
        " open_count = agents.open_count + excluded.open_count,"
        " last_assigned_at = greatest(agents.last_assigned_at, excluded.last_assigned_at))"
        " UPDATE tickets SET category = $2, priority = $3, weight = $4, language = $5, level = $6, owner = $7,"
        " counted = $8, open = $9, waiting_on_customer = $10, waiting_since = $11 WHERE id = $1",
        t.id,
        t.category,
        t.priority,
        t.weight,
        t.language,
        t.level,
        t.owner,
        t.counted,
        t.open,
        t.waiting_on_customer,
        t.waiting_since,
        [c.agent_id for c in others],
        [c.load for c in others],
        [c.open_count for c in others],
        got.agent_id if got else None,
        got.load if got else 0,
        got.open_count if got else 0,
        when,
    )


async def set_waiting_on_customer(conn: asyncpg.Connection, ticket_id: str, waiting: bool) -> None:
    await conn.execute("UPDATE tickets SET waiting_on_customer = $2 WHERE id = $1", ticket_id, waiting)


async def set_level(conn: asyncpg.Connection, ticket_id: str, level: int) -> None:
    await conn.execute("UPDATE tickets SET level = greatest(level, $2) WHERE id = $1", ticket_id, level)


async def queued_since(conn: asyncpg.Connection, ticket_id: str, at: datetime, *, keep: bool = True) -> None:
    """In the queue from `at` (`keep`: unless it was already, or has an owner now)."""
    if keep:
        await conn.execute(
            "UPDATE tickets SET waiting_since = coalesce(waiting_since, $2) WHERE id = $1 AND owner IS NULL",
            ticket_id,
            at,
        )
    else:
        await conn.execute("UPDATE tickets SET waiting_since = $2 WHERE id = $1", ticket_id, at)


async def take(conn: asyncpg.Connection, agent_id: str, t: Ticket, when: datetime) -> bool:
    """Give the ticket to the agent if its weight still fits their capacity and they can still
    take work: their load and the ticket's owner in one statement. The agent's row lock is held
    to commit, so concurrent instances serialise per agent."""
    taken = await conn.fetchval(
        "WITH took AS (UPDATE agents SET load = load + $2, open_count = open_count + 1,"
        " last_assigned_at = greatest(last_assigned_at, $3)"
        " WHERE id = $1 AND NOT removed AND availability = 'online' AND load + $2 <= capacity RETURNING id)"
        " UPDATE tickets SET owner = took.id, counted = true, open = true, waiting_since = NULL,"
        " level = greatest(level, $5) FROM took WHERE tickets.id = $4 RETURNING 1",
        agent_id,
        t.weight,
        when,
        t.id,
        t.level,
    )
    return taken is not None


async def queue(conn: asyncpg.Connection) -> list[Ticket]:
    """Tickets waiting for an owner that no other transaction holds, locked."""
    rows = await conn.fetch(
        f"SELECT {_TICKET} FROM tickets WHERE waiting_since IS NOT NULL AND open AND owner IS NULL"
        " FOR UPDATE SKIP LOCKED"
    )
    return [_ticket(r) for r in rows]


async def owned_by(conn: asyncpg.Connection, agent_id: str, *, include_waiting: bool) -> list[str]:
    rows = await conn.fetch(
        "SELECT id FROM tickets WHERE owner = $1 AND counted AND open"
        + ("" if include_waiting else " AND NOT waiting_on_customer")
        + " ORDER BY priority, id",
        agent_id,
    )
    return [r["id"] for r in rows]


async def long_absences(
    conn: asyncpg.Connection, away_before: datetime, limit: int = 100
) -> list[tuple[Ticket, str, UUID, datetime]]:
    """Tickets waiting on the customer whose owner has been away since before `away_before`:
    (ticket, owner, the event that made them leave, since when), the tickets locked."""
    rows = await conn.fetch(
        f"SELECT {', '.join('t.' + c for c in _TICKET.split(', '))}, a.id AS agent, a.away_event_id, a.away_since"
        " FROM tickets t JOIN agents a ON a.id = t.owner"
        " WHERE t.counted AND t.open AND t.waiting_on_customer AND a.availability <> 'online'"
        " AND a.away_since <= $1 ORDER BY t.id LIMIT $2 FOR UPDATE OF t SKIP LOCKED",
        away_before,
        limit,
    )
    return [(_ticket(r), r["agent"], r["away_event_id"], r["away_since"]) for r in rows]


# -- the roster -------------------------------------------------------------------------------


async def candidates(conn: asyncpg.Connection, need: Need) -> list[Agent]:
    """Who could take it now, read without locks: `take` claims the chosen one's capacity."""
    rows = await conn.fetch(
        "SELECT * FROM agents WHERE NOT removed AND availability = 'online' AND $1 = ANY(skills)"
        " AND level >= $2 AND load + $3 <= capacity ORDER BY id",
        need.category,
        need.level,
        need.weight,
    )
    return [_agent(r) for r in rows]


async def everyone(conn: asyncpg.Connection) -> list[Agent]:
    return [_agent(r) for r in await conn.fetch("SELECT * FROM agents WHERE NOT removed")]


async def agent_row(conn: asyncpg.Connection, agent_id: str) -> bool:
    """Whether the agent is on the roster, their row locked."""
    return bool(await conn.fetchval("SELECT true FROM agents WHERE id = $1 AND NOT removed FOR UPDATE", agent_id))


def _proficiency_json(p: Mapping[ev.Category, int]) -> str:
    return json.dumps({k.value: v for k, v in p.items()})


async def register(conn: asyncpg.Connection, data: ev.AgentRegistered, env: Envelope) -> None:
    await conn.execute(
        "INSERT INTO agents(id, name, email, skills, proficiency, level, capacity, availability,"
        " languages, teams, shift, away_since, away_event_id)"
        " VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10, $11::jsonb,"
        " CASE WHEN $8 = 'online' THEN NULL ELSE $12::timestamptz END,"
        " CASE WHEN $8 = 'online' THEN NULL ELSE $13::uuid END)"
        " ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, skills = $4, proficiency = $5::jsonb,"
        " level = $6, capacity = $7, availability = $8, languages = $9, teams = $10, shift = $11::jsonb,"
        " removed = false",
        data.agent_id,
        data.name,
        data.email,
        [s.value for s in data.skills],
        _proficiency_json(data.proficiency),
        data.level,
        data.capacity,
        data.availability,
        list(data.languages),
        list(data.teams),
        data.shift.model_dump_json() if data.shift else None,
        env.time,
        env.id,
    )


async def update(conn: asyncpg.Connection, data: ev.AgentUpdated) -> None:
    await conn.execute(
        "UPDATE agents SET skills = coalesce($2, skills), proficiency = coalesce($3::jsonb, proficiency),"
        " level = coalesce($4, level), capacity = coalesce($5, capacity),"
        " languages = coalesce($6, languages), teams = coalesce($7, teams),"
        " shift = coalesce($8::jsonb, shift) WHERE id = $1",
        data.agent_id,
        [s.value for s in data.skills] if data.skills is not None else None,
        _proficiency_json(data.proficiency) if data.proficiency is not None else None,
        data.level,
        data.capacity,
        list(data.languages) if data.languages is not None else None,
        list(data.teams) if data.teams is not None else None,
        data.shift.model_dump_json() if data.shift else None,
    )


async def availability(conn: asyncpg.Connection, data: ev.AgentAvailabilityChanged, env: Envelope) -> None:
    """Online, away or offline; an absence remembers since when and the event that began it."""
    await conn.execute(
        "UPDATE agents SET availability = $2,"
        " away_since = CASE WHEN $2 = 'online' THEN NULL ELSE coalesce(away_since, $3) END,"
        " away_event_id = CASE WHEN $2 = 'online' THEN NULL ELSE coalesce(away_event_id, $4) END"
        " WHERE id = $1",
        data.agent_id,
        data.availability,
        env.time,
        env.id,
    )


async def remove(conn: asyncpg.Connection, data: ev.AgentRemoved, env: Envelope) -> None:
    await conn.execute(
        "UPDATE agents SET removed = true, availability = 'offline',"
        " away_since = coalesce(away_since, $2), away_event_id = coalesce(away_event_id, $3) WHERE id = $1",
        data.agent_id,
        env.time,
        env.id,
    )


# -- for people and gauges --------------------------------------------------------------------


async def roster(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM agents WHERE NOT removed ORDER BY id")
    out = []
    for r in rows:
        row = dict(r)
        row["proficiency"] = json.loads(r["proficiency"])
        row["shift"] = json.loads(r["shift"]) if r["shift"] else None
        row.pop("away_event_id", None)
        out.append(row)
    return out


async def on_roster(pool: asyncpg.Pool, agent_id: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM agents WHERE id = $1 AND NOT removed", agent_id))


async def loads(pool: asyncpg.Pool) -> list[tuple[str, int, int, int, bool]]:
    """(agent, load, open tickets, capacity, removed) for every agent."""
    rows = await pool.fetch("SELECT id, load, open_count, capacity, removed FROM agents")
    return [(r["id"], r["load"], r["open_count"], r["capacity"], r["removed"]) for r in rows]


async def queued_per_level(pool: asyncpg.Pool) -> dict[int, int]:
    rows = await pool.fetch(
        "SELECT level, count(*) AS n FROM tickets WHERE waiting_since IS NOT NULL AND open GROUP BY level"
    )
    return {r["level"]: r["n"] for r in rows}
