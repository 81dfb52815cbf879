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
    **dict.fromkeys(("id", "ticket_id", "last_event", "language", "owner", "priority", "calendar", "category"), "text"),
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
    found = await load_many(conn, [ticket_id], skip_locked=skip_locked)
    if ticket_id in found:
        return found[ticket_id]
    if skip_locked and await conn.fetchval("SELECT true FROM tickets WHERE id = $1", ticket_id):
        return None
    return State()


async def load_many(conn: asyncpg.Connection, ids: list[str], *, skip_locked: bool = False) -> dict[str, State]:
    """The states of the known tickets among `ids`, their rows locked (in id order, so two
    transactions never wait on each other in a circle; `skip_locked`: those free now). Two
    statements: the lock first, then the clocks and timers in a snapshot taken after it."""
    rows = await conn.fetch(
        f"SELECT {', '.join(_TICKET)} FROM tickets WHERE id = ANY($1::text[]) ORDER BY id"
        f" FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
        ids,
    )
    if not rows:
        return {}
    tickets = {r["id"]: Ticket(**dict(r)) for r in rows}
    found = await conn.fetch(
        f"SELECT k.id, c.ticket_id IS NOT NULL AS has_clock, {', '.join('c.' + n for n in _CLOCK)},"
        " coalesce(tm.kinds, '{}') AS timer_kinds, coalesce(tm.dues, '{}') AS timer_dues"
        " FROM unnest($1::text[]) AS k(id) LEFT JOIN clocks c ON c.ticket_id = k.id"
        " LEFT JOIN (SELECT ticket_id, array_agg(kind ORDER BY kind) AS kinds,"
        " array_agg(due_at ORDER BY kind) AS dues FROM timers WHERE ticket_id = ANY($1::text[])"
        " GROUP BY ticket_id) tm ON tm.ticket_id = k.id",
        list(tickets),
    )
    out = {}
    for r in found:
        clock = None
        if r["has_clock"]:
            values = {n: r[n] for n in _CLOCK}
            values["fired"] = tuple(values["fired"])
            clock = Clock(**values)
        timers = dict(zip(r["timer_kinds"], r["timer_dues"], strict=True))
        out[r["id"]] = State(tickets[r["id"]], clock, MappingProxyType(timers))
    return out


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
    await save_many(conn, [(before, after)])


async def save_many(conn: asyncpg.Connection, changes: list[tuple[State, State]]) -> None:
    """What changed in each ticket, one statement per changed ticket, sent in one round trip."""
    args = [a for before, after in changes if (a := _save_args(before, after)) is not None]
    if len(args) == 1:
        await conn.execute(_SAVE, *args[0])
    elif args:
        await conn.executemany(_SAVE, args)


def _save_args(before: State, after: State) -> tuple[Any, ...] | None:
    ticket_changed = after.ticket is not None and after.ticket != before.ticket
    clock_changed = after.clock is not None and after.clock != before.clock
    gone = [k for k in before.timers if k not in after.timers]
    changed: dict[str, datetime] = {k: v for k, v in after.timers.items() if before.timers.get(k) != v}
    if not (ticket_changed or clock_changed or gone or changed):
        return None
    ticket_id = after.ticket.id if after.ticket is not None else after.clock.ticket_id if after.clock else ""
    return (
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
