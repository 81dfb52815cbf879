"""SLA's tables: a ticket's `State` read in two statements (its row, locked; then its clock and
timers) and written back in one, only what changed.

The ticket's row is the lock: the consumer waits for it, the timer loop skips a ticket someone
else holds (it comes back on the next pass), so the two never undo each other's work.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from types import MappingProxyType
from typing import Any

import asyncpg

from services.sla.domain import Clock, State, Ticket

_TICKET = tuple(f.name for f in dataclasses.fields(Ticket))
_CLOCK = tuple(f.name for f in dataclasses.fields(Clock))
# the columns' types, for the parameters of the one INSERT ... SELECT that writes them
_TYPES = {
    **dict.fromkeys(("id", "ticket_id", "last_event", "language", "owner", "priority", "calendar"), "text"),
    **dict.fromkeys(("last_event_at", "opened_at", "first_response_due", "resolution_due"), "timestamptz"),
    **dict.fromkeys(("first_response_at", "next_response_due", "paused_at", "stopped_at"), "timestamptz"),
    **dict.fromkeys(("first_target", "resolution_target", "next_target", "next_remaining", "remaining"), "interval"),
    **dict.fromkeys(("open", "first_breached", "resolution_breached"), "boolean"),
    "level": "integer",
    "targets_event_id": "uuid",
    "fired": "text[]",
}
assert set(_TYPES) == {*_TICKET, *_CLOCK}


def _params(names: tuple[str, ...], first: int) -> str:
    return ", ".join(f"${first + i}::{_TYPES[n]}" for i, n in enumerate(names))


async def load(conn: asyncpg.Connection, ticket_id: str, *, skip_locked: bool = False) -> State | None:
    """The ticket's state, its row locked for this transaction. None: `skip_locked` and someone
    else holds it."""
    row = await conn.fetchrow(
        f"SELECT {', '.join(_TICKET)} FROM tickets WHERE id = $1 FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
        ticket_id,
    )
    if row is None:
        if skip_locked and await conn.fetchval("SELECT true FROM tickets WHERE id = $1", ticket_id):
            return None
        return State()
    ticket = Ticket(**dict(row))
    found = await conn.fetchrow(
        f"SELECT c.ticket_id IS NOT NULL AS has_clock, {', '.join('c.' + n for n in _CLOCK)},"
        " (SELECT coalesce(array_agg(kind), '{}') FROM timers WHERE ticket_id = $1) AS timer_kinds,"
        " (SELECT coalesce(array_agg(due_at), '{}') FROM timers WHERE ticket_id = $1) AS timer_dues"
        " FROM (SELECT $1::text AS id) k LEFT JOIN clocks c ON c.ticket_id = k.id",
        ticket_id,
    )
    assert found is not None
    clock = None
    if found["has_clock"]:
        values = {n: found[n] for n in _CLOCK}
        values["fired"] = tuple(values["fired"])
        clock = Clock(**values)
    kinds, dues = found["timer_kinds"], found["timer_dues"]
    # array_agg of two subqueries over the same rows: one scan order, so they pair up
    timers = dict(zip(kinds, dues, strict=True))
    return State(ticket, clock, MappingProxyType(timers))


_SAVE = f"""
WITH t AS (
    INSERT INTO tickets({", ".join(_TICKET)})
    SELECT {_params(_TICKET, 2)} WHERE $1::boolean
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{n} = excluded.{n}" for n in _TICKET if n != "id")}
), c AS (
    INSERT INTO clocks({", ".join(_CLOCK)})
    SELECT {_params(_CLOCK, 3 + len(_TICKET))} WHERE ${2 + len(_TICKET)}::boolean
    ON CONFLICT (ticket_id) DO UPDATE SET {", ".join(f"{n} = excluded.{n}" for n in _CLOCK if n != "ticket_id")}
), gone AS (
    DELETE FROM timers WHERE ticket_id = ${3 + len(_TICKET) + len(_CLOCK)}::text
    AND kind = ANY(${4 + len(_TICKET) + len(_CLOCK)}::text[])
)
INSERT INTO timers(ticket_id, kind, due_at)
SELECT ${3 + len(_TICKET) + len(_CLOCK)}, kind, due
FROM unnest(${5 + len(_TICKET) + len(_CLOCK)}::text[], ${6 + len(_TICKET) + len(_CLOCK)}::timestamptz[]) AS u(kind, due)
ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = excluded.due_at
"""


async def save(conn: asyncpg.Connection, before: State, after: State) -> None:
    """Write what changed from `before` to `after`, in one statement (none if nothing did)."""
    ticket_changed = after.ticket is not None and after.ticket != before.ticket
    clock_changed = after.clock is not None and after.clock != before.clock
    gone = [k for k in before.timers if k not in after.timers]
    changed: dict[str, datetime] = {k: v for k, v in after.timers.items() if before.timers.get(k) != v}
    if not (ticket_changed or clock_changed or gone or changed):
        return
    ticket_id = after.ticket.id if after.ticket is not None else after.clock.ticket_id if after.clock else ""
    await conn.execute(
        _SAVE,
        ticket_changed,
        *_values(after.ticket, _TICKET),
        clock_changed,
        *_values(after.clock, _CLOCK),
        ticket_id,
        gone,
        list(changed),
        list(changed.values()),
    )


def _values(obj: Ticket | Clock | None, names: tuple[str, ...]) -> list[Any]:
    if obj is None:
        return [None] * len(names)
    values = [getattr(obj, n) for n in names]
    return [list(v) if isinstance(v, tuple) else v for v in values]


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
    """Timers due at `now`, claimed for this transaction (another instance takes others)."""
    rows = await conn.fetch(
        "SELECT ticket_id, kind, due_at FROM timers WHERE due_at <= $1"
        " ORDER BY due_at, kind LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [(r["ticket_id"], r["kind"], r["due_at"]) for r in rows]


async def drop_timers(conn: asyncpg.Connection, ticket_id: str, kinds: list[str]) -> None:
    await conn.execute("DELETE FROM timers WHERE ticket_id = $1 AND kind = ANY($2::text[])", ticket_id, kinds)
