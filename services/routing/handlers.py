"""Routing's handlers. Decisions happen when a ticket needs an owner (opened, escalated,
reopened, or an owner left) or when capacity frees up (an agent joins, comes back, finishes a
ticket). A decision updates the roster and emits `ticket.assigned` in one transaction; the agent
rows are locked, so two routing instances never push one agent over capacity.

On a replay the decisions already in the log are folded instead of made again.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from services.routing.domain import Candidate, choose
from shared import inbox
from shared.clock import Clock
from shared.consumer import Delivery
from shared.events import Envelope
from shared.events import catalogue as ev
from shared.settings import Settings
from shared.topics import TICKET_EVENTS

NAME = "routing"
TICKETS_CONSUMER = "routing-tickets"
AGENTS_CONSUMER = "routing-agents"
Emitted = list[tuple[str, Envelope]]


class Routing:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.topic = settings.topic(TICKET_EVENTS)

    # -- ticket.events ----------------------------------------------------------------------

    async def on_ticket_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        data = env.data
        live = not d.replaying
        match data:
            case ev.TicketOpened():
                await conn.execute(
                    "INSERT INTO tickets(id, category, priority, waiting_since) VALUES ($1, $2, $3, $4)"
                    " ON CONFLICT (id) DO NOTHING",
                    data.ticket_id,
                    data.category.value,
                    data.priority.value,
                    env.time,
                )
                return await self._assign(conn, data.ticket_id, env) if live else []
            case ev.TicketCategorized():
                await conn.execute(
                    "UPDATE tickets SET category = $2, priority = $3 WHERE id = $1",
                    data.ticket_id,
                    data.category.value,
                    data.priority.value,
                )
            case ev.TicketAssigned():
                # only reached on a replay or when another system assigned: ours are pre-applied
                await self._apply_assignment(conn, data.ticket_id, data.agent_id, data.level)
            case ev.TicketUnassigned():
                await self._release(conn, data.ticket_id, keep_open=True)
                await conn.execute(
                    "UPDATE tickets SET waiting_since = $2 WHERE id = $1", data.ticket_id, env.time
                )
                return await self._assign(conn, data.ticket_id, env) if live else []
            case ev.TicketEscalated():
                await conn.execute(
                    "UPDATE tickets SET level = $2 WHERE id = $1", data.ticket_id, data.to_level
                )
                if live:
                    return await self._reassign(conn, data.ticket_id, env)
            case ev.TicketResolved():
                freed = await self._release(conn, data.ticket_id, keep_open=True, keep_owner=True)
                if live and freed:
                    return await self._drain_waiting(conn, env)
            case ev.TicketClosed():
                freed = await self._release(conn, data.ticket_id, keep_open=False, keep_owner=True)
                if live and freed:
                    return await self._drain_waiting(conn, env)
            case ev.TicketReopened():
                row = await conn.fetchrow("SELECT owner FROM tickets WHERE id = $1", data.ticket_id)
                await conn.execute("UPDATE tickets SET open = true WHERE id = $1", data.ticket_id)
                if live and row is not None:
                    return await self._assign(conn, data.ticket_id, env, prefer=row["owner"])
        return []

    # -- agent.events -----------------------------------------------------------------------

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        data = env.data
        match data:
            case ev.AgentRegistered():
                await conn.execute(
                    "INSERT INTO agents(id, name, email, skills, level, capacity, available)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    " ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, skills = $4, level = $5,"
                    " capacity = $6, available = $7",
                    data.agent_id,
                    data.name,
                    data.email,
                    [s.value for s in data.skills],
                    data.level,
                    data.capacity,
                    data.available,
                )
            case ev.AgentUpdated():
                await conn.execute(
                    "UPDATE agents SET skills = coalesce($2, skills), level = coalesce($3, level),"
                    " capacity = coalesce($4, capacity) WHERE id = $1",
                    data.agent_id,
                    [s.value for s in data.skills] if data.skills is not None else None,
                    data.level,
                    data.capacity,
                )
            case ev.AgentAvailabilityChanged():
                await conn.execute(
                    "UPDATE agents SET available = $2 WHERE id = $1", data.agent_id, data.available
                )
            case _:
                return []
        return [] if d.replaying else await self._drain_waiting(conn, env)

    # -- decisions --------------------------------------------------------------------------

    async def _candidates(self, conn: asyncpg.Connection, category: str, level: int) -> list[Candidate]:
        # lock the eligible agents' rows: the load we read is the load we update
        rows = await conn.fetch(
            "SELECT id, skills, level, capacity, load, available FROM agents"
            " WHERE available AND $1 = ANY(skills) AND level >= $2 AND load < capacity"
            " ORDER BY id FOR UPDATE",
            category,
            level,
        )
        return [
            Candidate(r["id"], frozenset(r["skills"]), r["level"], r["capacity"], r["load"], r["available"])
            for r in rows
        ]

    async def _assign(
        self,
        conn: asyncpg.Connection,
        ticket_id: str,
        cause: Envelope,
        prefer: str | None = None,
        seq: int = 0,
        previous: str | None = None,
    ) -> Emitted:
        t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None or not t["open"] or (t["owner"] is not None and t["counted"]):
            return []
        candidates = await self._candidates(conn, t["category"], t["level"])
        choice = None
        if prefer:
            kept = [c for c in candidates if c.id == prefer]
            if kept:
                choice = choose(kept, t["category"], t["level"])
                if choice:
                    choice = type(choice)(
                        choice.agent_id,
                        choice.level,
                        "reopened: back to its previous owner; " + choice.reason,
                    )
        choice = choice or choose(candidates, t["category"], t["level"])
        if choice is None:
            await conn.execute(
                "UPDATE tickets SET waiting_since = coalesce(waiting_since, $2) WHERE id = $1",
                ticket_id,
                cause.time,
            )
            return []
        payload = ev.TicketAssigned(
            ticket_id=ticket_id,
            agent_id=choice.agent_id,
            level=choice.level,
            reason=choice.reason[:300],
            previous_agent_id=previous or (t["owner"] if t["owner"] != choice.agent_id else None),
        )
        env = Envelope.new(
            payload, source=NAME, subject=ticket_id, time=self.clock.now(), cause=cause, seq=seq
        )
        await self._apply_assignment(conn, ticket_id, choice.agent_id, choice.level)
        await inbox.first_seen(conn, TICKETS_CONSUMER, env.id)
        return [(self.topic, env)]

    async def _reassign(self, conn: asyncpg.Connection, ticket_id: str, cause: Envelope) -> Emitted:
        previous = await conn.fetchval("SELECT owner FROM tickets WHERE id = $1", ticket_id)
        await self._release(conn, ticket_id, keep_open=True)
        return await self._assign(conn, ticket_id, cause, previous=previous)

    async def _apply_assignment(
        self, conn: asyncpg.Connection, ticket_id: str, agent_id: str, level: int
    ) -> None:
        t = await conn.fetchrow("SELECT owner, counted FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None:
            return
        if t["counted"] and t["owner"]:
            await conn.execute("UPDATE agents SET load = load - 1 WHERE id = $1", t["owner"])
        await conn.execute("UPDATE agents SET load = load + 1 WHERE id = $1", agent_id)
        await conn.execute(
            "UPDATE tickets SET owner = $2, counted = true, waiting_since = NULL, level = greatest(level, $3)"
            " WHERE id = $1",
            ticket_id,
            agent_id,
            level,
        )

    async def _release(
        self, conn: asyncpg.Connection, ticket_id: str, *, keep_open: bool, keep_owner: bool = False
    ) -> bool:
        """Take the ticket out of its owner's load; True when that freed capacity."""
        t = await conn.fetchrow("SELECT owner, counted FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None:
            return False
        freed = bool(t["counted"] and t["owner"])
        if freed:
            await conn.execute("UPDATE agents SET load = load - 1 WHERE id = $1", t["owner"])
        await conn.execute(
            "UPDATE tickets SET counted = false, open = $2, owner = CASE WHEN $3 THEN owner ELSE NULL END,"
            " waiting_since = NULL WHERE id = $1",
            ticket_id,
            keep_open,
            keep_owner,
        )
        return freed

    async def _drain_waiting(self, conn: asyncpg.Connection, cause: Envelope) -> Emitted:
        """Give waiting tickets (most urgent, then oldest) to whoever can now take them."""
        waiting = await conn.fetch(
            "SELECT id FROM tickets WHERE waiting_since IS NOT NULL AND open"
            " ORDER BY priority, waiting_since LIMIT 50 FOR UPDATE SKIP LOCKED"
        )
        out: Emitted = []
        for i, row in enumerate(waiting):
            out += await self._assign(conn, row["id"], cause, seq=i)
        return out

    async def roster(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM agents ORDER BY id")
        return [dict(r) for r in rows]
