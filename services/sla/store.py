"""SLA's tables: a ticket's `State` read in two statements (its row with its timers, locked; then
its clock) and written back in one, only what changed.

A ticket's timers are arrays on its row (kinds sorted, their moments alongside) with `next_due`,
the earliest, indexed: the loop asks which tickets are due, and a ticket opened writes one row, not
one per timer (issue 22).

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
_TIMERS = ("timer_kinds", "timer_dues", "next_due")
_TYPES |= {"timer_kinds": "text[]", "timer_dues": "timestamptz[]", "next_due": "timestamptz"}
_ROW = (*_TICKET, *_TIMERS)  # what the tickets row holds


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
        f"SELECT {', '.join(_ROW)} FROM tickets WHERE id = ANY($1::text[]) ORDER BY id"
        f" FOR UPDATE{' SKIP LOCKED' if skip_locked else ''}",
        ids,
    )
    if not rows:
        return {}
    clocks = {
        r["ticket_id"]: r
        for r in await conn.fetch(
            f"SELECT {', '.join(_CLOCK)} FROM clocks WHERE ticket_id = ANY($1::text[])", [r["id"] for r in rows]
        )
    }
    out = {}
    for r in rows:
        clock = None
        if (c := clocks.get(r["id"])) is not None:
            values = {n: c[n] for n in _CLOCK}
            values["fired"] = tuple(values["fired"])
            clock = Clock(**values)
        timers = dict(zip(r["timer_kinds"], r["timer_dues"], strict=True))
        ticket = Ticket(**{n: r[n] for n in _TICKET})
        out[r["id"]] = State(ticket, clock, MappingProxyType(timers))
    return out


_SAVE = f"""
WITH t AS (
    INSERT INTO tickets({", ".join(_ROW)})
    SELECT {_params(_ROW, 2)} WHERE $1::boolean
    ON CONFLICT (id) DO UPDATE SET {", ".join(f"{n} = excluded.{n}" for n in _ROW if n != "id")}
)
INSERT INTO clocks({", ".join(_CLOCK)})
SELECT {_params(_CLOCK, 3 + len(_ROW))} WHERE ${2 + len(_ROW)}::boolean
ON CONFLICT (ticket_id) DO UPDATE SET {", ".join(f"{n} = excluded.{n}" for n in _CLOCK if n != "ticket_id")}
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
    timers_changed = after.timers != before.timers
    # the timers live on the ticket's row: without one (never opened here) they could never fire
    row_changed = after.ticket is not None and (after.ticket != before.ticket or timers_changed)
    clock_changed = after.clock is not None and after.clock != before.clock
    if not (row_changed or clock_changed):
        return None
    kinds = sorted(after.timers)
    dues = [after.timers[k] for k in kinds]
    return (
        row_changed,
        *_values(after.ticket, _TICKET),
        kinds,
        dues,
        min(dues, default=None),
        clock_changed,
        *_values(after.clock, _CLOCK),
    )


def _values(obj: Ticket | Clock | None, names: tuple[str, ...]) -> list[Any]:
    if obj is None:
        return [None] * len(names)
    values = [getattr(obj, n) for n in names]
    return [list(v) if isinstance(v, tuple) else v for v in values]


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> dict[str, list[tuple[str, datetime]]]:
    """Tickets with timers due at `now`, their rows locked for this transaction (another instance
    takes others; one being changed is skipped and comes back on the next pass): each one's due
    timers, the earliest first."""
    rows = await conn.fetch(
        "SELECT id, timer_kinds, timer_dues FROM tickets WHERE next_due <= $1"
        " ORDER BY next_due LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return {
        r["id"]: sorted(
            ((k, at) for k, at in zip(r["timer_kinds"], r["timer_dues"], strict=True) if at <= now),
            key=lambda kind_at: (kind_at[1], kind_at[0]),
        )
        for r in rows
    }
