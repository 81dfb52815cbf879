"""SLA handlers: the clock of each ticket, moved by ticket.events, and the timer loop that
records breaches. Events SLA emits are applied when emitted and pre-marked in its inbox."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from services.sla.domain import due_times, resumed_due
from shared import inbox, outbox
from shared.clock import Clock
from shared.consumer import Delivery
from shared.events import Envelope, Payload
from shared.events import catalogue as ev
from shared.events.envelope import derived_id
from shared.logging import get_logger
from shared.settings import Settings
from shared.topics import TICKET_EVENTS

NAME = "sla"
CONSUMER = "sla-tickets"
Emitted = list[tuple[str, Envelope]]
log = get_logger(__name__)


class Sla:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.topic = settings.topic(TICKET_EVENTS)

    async def _emit(self, conn: asyncpg.Connection, env: Envelope) -> Emitted:
        await self._fold(conn, env)
        await inbox.first_seen(conn, CONSUMER, env.id)
        return [(self.topic, env)]

    def _new(self, payload: Payload, ticket_id: str, cause: Envelope) -> Envelope:
        return Envelope.new(payload, source=NAME, subject=ticket_id, time=self.clock.now(), cause=cause)

    async def on_ticket_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        await self._fold(conn, env)
        if d.replaying:
            return []
        data = env.data
        match data:
            case ev.TicketOpened():
                first, resolution = due_times(data.priority, env.time)
                payload = ev.TicketSlaTargetsSet(
                    ticket_id=data.ticket_id,
                    priority=data.priority,
                    first_response_due=first,
                    resolution_due=resolution,
                )
                return await self._emit(conn, self._new(payload, data.ticket_id, env))
            case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
                return await self._first_response(conn, data.ticket_id, env)
            case ev.TicketInfoRequested():
                out = await self._first_response(conn, data.ticket_id, env)
                row = await conn.fetchrow(
                    "SELECT paused_at, stopped_at FROM clocks WHERE ticket_id = $1", data.ticket_id
                )
                if row and row["paused_at"] is None and row["stopped_at"] is None:
                    out += await self._emit(
                        conn,
                        self._new(ev.TicketSlaPaused(ticket_id=data.ticket_id, at=env.time), data.ticket_id, env),
                    )
                return out
            case ev.TicketCustomerReplied() | ev.TicketResolved() | ev.TicketClosed():
                return await self._resume_if_paused(conn, data.ticket_id, env)
        return []

    async def _first_response(self, conn: asyncpg.Connection, ticket_id: str, cause: Envelope) -> Emitted:
        row = await conn.fetchrow("SELECT first_response_at FROM clocks WHERE ticket_id = $1", ticket_id)
        if row is None or row["first_response_at"] is not None:
            return []
        return await self._emit(
            conn,
            self._new(ev.TicketSlaFirstResponseMet(ticket_id=ticket_id, at=cause.time), ticket_id, cause),
        )

    async def _resume_if_paused(self, conn: asyncpg.Connection, ticket_id: str, cause: Envelope) -> Emitted:
        row = await conn.fetchrow("SELECT paused_at, resolution_due FROM clocks WHERE ticket_id = $1", ticket_id)
        if row is None or row["paused_at"] is None:
            return []
        due = resumed_due(row["resolution_due"], row["paused_at"], cause.time)
        payload = ev.TicketSlaResumed(ticket_id=ticket_id, at=cause.time, resolution_due=due)
        return await self._emit(conn, self._new(payload, ticket_id, cause))

    async def _fold(self, conn: asyncpg.Connection, env: Envelope) -> None:
        """Apply a fact to the clock; the same fact twice changes nothing."""
        data = env.data
        tid = env.subject
        match data:
            case ev.TicketSlaTargetsSet():
                await conn.execute(
                    "INSERT INTO clocks(ticket_id, priority, targets_event_id,"
                    " first_response_due, resolution_due)"
                    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ticket_id) DO NOTHING",
                    tid,
                    data.priority.value,
                    env.id,
                    data.first_response_due,
                    data.resolution_due,
                )
            case ev.TicketSlaFirstResponseMet():
                await conn.execute(
                    "UPDATE clocks SET first_response_at = coalesce(first_response_at, $2) WHERE ticket_id = $1",
                    tid,
                    data.at,
                )
            case ev.TicketSlaPaused():
                await conn.execute(
                    "UPDATE clocks SET paused_at = coalesce(paused_at, $2) WHERE ticket_id = $1", tid, data.at
                )
            case ev.TicketSlaResumed():
                await conn.execute(
                    "UPDATE clocks SET paused_at = NULL, resolution_due = $2 WHERE ticket_id = $1",
                    tid,
                    data.resolution_due,
                )
            case ev.TicketSlaBreached():
                column = "first_breached" if data.target == "first_response" else "resolution_breached"
                await conn.execute(f"UPDATE clocks SET {column} = true WHERE ticket_id = $1", tid)
            case ev.TicketResolved() | ev.TicketClosed():
                await conn.execute(
                    "UPDATE clocks SET stopped_at = coalesce(stopped_at, $2) WHERE ticket_id = $1",
                    tid,
                    env.time,
                )
            case ev.TicketReopened():
                await conn.execute("UPDATE clocks SET stopped_at = NULL WHERE ticket_id = $1", tid)

    # -- timers -----------------------------------------------------------------------------

    async def fire_due(self, now: datetime, limit: int = 200) -> int:
        """Record the breaches due at `now`; return how many. Safe to run on every instance."""
        fired = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT * FROM clocks WHERE stopped_at IS NULL AND ("
                " (first_response_at IS NULL AND NOT first_breached AND first_response_due <= $1)"
                " OR (paused_at IS NULL AND NOT resolution_breached AND resolution_due <= $1))"
                " ORDER BY least(first_response_due, resolution_due) LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit,
            )
            for r in rows:
                checks = [
                    (
                        "first_response",
                        r["first_response_due"],
                        r["first_response_at"] is None and not r["first_breached"],
                    ),
                    (
                        "resolution",
                        r["resolution_due"],
                        r["paused_at"] is None and not r["resolution_breached"],
                    ),
                ]
                for seq, (target, due, armed) in enumerate(checks):
                    if not armed or due > now:
                        continue
                    payload = ev.TicketSlaBreached(ticket_id=r["ticket_id"], target=target, due=due)
                    # the id follows from the targets it breaches: a second instance, or a
                    # restart, that fires the same breach produces the same event
                    env = Envelope.new(
                        payload,
                        source=NAME,
                        subject=r["ticket_id"],
                        time=now,
                        correlationid=None,
                        causationid=str(r["targets_event_id"]),
                        event_id=derived_id(r["targets_event_id"], payload.event_type, seq, due),
                    )
                    await self._fold(conn, env)
                    await inbox.first_seen(conn, CONSUMER, env.id)
                    await outbox.enqueue(conn, self.topic, env)
                    fired += 1
        return fired

    async def timer_loop(self, interval: float = 1.0) -> None:
        while True:
            try:
                while await self.fire_due(self.clock.now()):
                    pass
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("sla timer retry", error=str(exc))
            await asyncio.sleep(interval)
