"""SLA: the clock of each ticket, moved by ticket.events, and the timers that fire warnings,
breaches and escalations.

Targets come from the policy file (services/sla/policy.py) and are measured in the business
calendar of the ticket's priority. Waiting on the customer pauses the resolution clock and the
pause is credited exactly (the business time left is kept and counted again from the reply);
resolving stops it the same way, so a reopen continues with the time already spent. Every future
moment SLA must act at is a row in `timers`; the loop claims due rows with SKIP LOCKED.

Events SLA emits are applied when emitted and pre-marked in its inbox; on a replay they are folded
from the log instead (history is never acted on again).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from services.sla.calendar import Calendar
from services.sla.policy import Policy
from shared import db, outbox
from shared.clock import Clock
from shared.consumer import Delivery
from shared.events import Envelope, Payload
from shared.events import catalogue as ev
from shared.events.envelope import derived_id
from shared.logging import get_logger
from shared.settings import Settings
from shared.ticket import MAX_LEVEL
from shared.topics import TICKET_EVENTS

NAME = "sla"
CONSUMER = "sla-tickets"
TARGETS = ("first_response", "resolution")
Emitted = list[tuple[str, Envelope]]
log = get_logger(__name__)


def _human(delta: timedelta) -> str:
    """'2 h 5 min', '7 min', '40 s': the same in Spanish and English."""
    seconds = max(int(delta.total_seconds()), 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h} h {m} min"
    return f"{m} min" if m else f"{s} s"


class Sla:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock, policy: Policy) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.policy = policy
        self.topic = settings.topic(TICKET_EVENTS)

    def _cal(self, name: str) -> Calendar:
        return self.policy.calendar(name) if name in self.policy.calendars else self.policy.calendar("24x7")

    async def _emit(self, conn: asyncpg.Connection, env: Envelope) -> Emitted:
        await self._fold(conn, env)  # applied now: the consumer marks it (`applied_by`) as it enqueues it
        return [(self.topic, env)]

    def _new(self, payload: Payload, ticket_id: str, cause: Envelope) -> Envelope:
        return Envelope.new(payload, source=NAME, subject=ticket_id, time=self.clock.now(), cause=cause)

    # -- ticket.events ----------------------------------------------------------------------

    async def on_ticket_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        await self._fold(conn, env)
        if d.replaying:
            return []
        data = env.data
        tid = env.subject
        match data:
            case ev.TicketOpened():
                spec = self.policy.priorities[data.priority]
                cal = self._cal(spec.calendar)
                payload = ev.TicketSlaTargetsSet(
                    ticket_id=tid,
                    priority=data.priority,
                    first_response_due=cal.add(env.time, spec.first_response),
                    resolution_due=cal.add(env.time, spec.resolution),
                    calendar=spec.calendar,
                    timezone=cal.timezone,
                    first_response_target=spec.first_response,
                    resolution_target=spec.resolution,
                    next_response_target=spec.next_response,
                )
                return await self._emit(conn, self._new(payload, tid, env))
            case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
                return await self._first_response(conn, tid, env)
            case ev.TicketInfoRequested():
                out = await self._first_response(conn, tid, env)
                row = await conn.fetchrow("SELECT paused_at, stopped_at FROM clocks WHERE ticket_id = $1", tid)
                if row and row["paused_at"] is None and row["stopped_at"] is None:
                    out += await self._emit(conn, self._new(ev.TicketSlaPaused(ticket_id=tid, at=env.time), tid, env))
                return out
            case ev.TicketCustomerReplied():
                return await self._resume(conn, tid, env)
            case ev.TicketResolved():
                row = await conn.fetchrow("SELECT * FROM clocks WHERE ticket_id = $1", tid)
                if row is not None and not row["resolution_breached"] and "met" not in row["fired"]:
                    met = ev.TicketSlaMet(ticket_id=tid, due=row["resolution_due"], at=env.time)
                    return await self._emit(conn, self._new(met, tid, env))
            case ev.TicketReopened() | ev.TicketResolutionRejected():
                return await self._resume(conn, tid, env)
            case ev.TicketCategorized():
                return await self._retarget(conn, tid, data.priority, env)
        return []

    async def _retarget(self, conn: asyncpg.Connection, tid: str, new: ev.Priority, cause: Envelope) -> Emitted:
        """A new priority gets the new priority's targets; the time already spent still counts.
        The log keeps both ticket.sla_targets_set events."""
        c = await conn.fetchrow("SELECT * FROM clocks WHERE ticket_id = $1", tid)
        t = await conn.fetchrow("SELECT opened_at FROM tickets WHERE id = $1", tid)
        if c is None or t is None or t["opened_at"] is None or c["priority"] == new.value or c["stopped_at"]:
            return []
        now = cause.time
        old_cal, spec = self._cal(c["calendar"]), self.policy.priorities[new]
        cal = self._cal(spec.calendar)
        left = c["remaining"] if c["paused_at"] is not None else old_cal.elapsed(now, c["resolution_due"])
        spent = max(c["resolution_target"] - left, timedelta(0))
        remaining = max(spec.resolution - spent, timedelta(0))
        first_due = c["first_response_due"] if c["first_response_at"] else cal.add(t["opened_at"], spec.first_response)
        payload = ev.TicketSlaTargetsSet(
            ticket_id=tid,
            priority=new,
            first_response_due=first_due,
            resolution_due=cal.add(now, remaining),
            calendar=spec.calendar,
            timezone=cal.timezone,
            remaining=remaining if c["paused_at"] is not None else None,
            first_response_target=spec.first_response,
            resolution_target=spec.resolution,
            next_response_target=spec.next_response,
        )
        return await self._emit(conn, self._new(payload, tid, cause))

    async def _first_response(self, conn: asyncpg.Connection, tid: str, cause: Envelope) -> Emitted:
        row = await conn.fetchrow("SELECT first_response_at FROM clocks WHERE ticket_id = $1", tid)
        if row is None or row["first_response_at"] is not None:
            return []
        return await self._emit(conn, self._new(ev.TicketSlaFirstResponseMet(ticket_id=tid, at=cause.time), tid, cause))

    async def _resume(self, conn: asyncpg.Connection, tid: str, cause: Envelope) -> Emitted:
        row = await conn.fetchrow("SELECT * FROM clocks WHERE ticket_id = $1", tid)
        if row is None or row["remaining"] is None:
            return []
        due = self._cal(row["calendar"]).add(cause.time, row["remaining"])
        return await self._emit(
            conn, self._new(ev.TicketSlaResumed(ticket_id=tid, at=cause.time, resolution_due=due), tid, cause)
        )

    # -- state ------------------------------------------------------------------------------

    async def _fold(self, conn: asyncpg.Connection, env: Envelope) -> None:
        """Apply a fact to the clock, the ticket and the timers; the same fact twice changes nothing."""
        data = env.data
        tid = env.subject
        # the ticket's row: its last event, and what an opening or an assignment says, in one statement
        opening = data if isinstance(data, ev.TicketOpened) else None
        assigned = data if isinstance(data, ev.TicketAssigned) else None
        await conn.execute(
            "INSERT INTO tickets(id, last_event, last_event_at, opened_at, language, owner, level)"
            " VALUES ($1, $2, $3, $4, coalesce($5, 'es'), $6, greatest(1, $7))"
            " ON CONFLICT (id) DO UPDATE SET last_event = $2, last_event_at = $3,"
            " opened_at = coalesce($4, tickets.opened_at), language = coalesce($5, tickets.language),"
            " owner = coalesce($6, tickets.owner), level = greatest(tickets.level, $7)",
            tid,
            env.type,
            env.time,
            env.time if opening else None,
            opening.language if opening else None,
            assigned.agent_id if assigned else None,
            assigned.level if assigned else 1,
        )
        match data:
            case ev.TicketEscalated():
                await conn.execute("UPDATE tickets SET level = greatest(level, $2) WHERE id = $1", tid, data.to_level)
            case ev.TicketSlaTargetsSet():
                spec = self.policy.priorities[data.priority]
                clock = await conn.fetchrow(
                    "INSERT INTO clocks(ticket_id, priority, targets_event_id, calendar, first_response_due,"
                    " resolution_due, first_target, resolution_target, next_target)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $10)"
                    " ON CONFLICT (ticket_id) DO UPDATE SET priority = $2, targets_event_id = $3, calendar = $4,"
                    " first_response_due = $5, first_target = $7, resolution_target = $8,"
                    # a re-target while paused keeps the clock paused, with the new time left
                    " resolution_due = CASE WHEN clocks.paused_at IS NULL THEN $6 ELSE clocks.resolution_due END,"
                    " remaining = CASE WHEN clocks.paused_at IS NULL THEN clocks.remaining ELSE $9 END,"
                    " next_target = $10 RETURNING *",
                    tid,
                    data.priority.value,
                    env.id,
                    data.calendar,
                    data.first_response_due,
                    data.resolution_due,
                    data.first_response_target or spec.first_response,
                    data.resolution_target or spec.resolution,
                    data.remaining,
                    data.next_response_target if data.next_response_target is not None else spec.next_response,
                )
                await self._schedule(conn, tid, clock=clock, replace_all=True)
            case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
                await self._next_response_cycle(conn, tid, env.time)
            case ev.TicketInfoRequested():
                await self._next_response_cycle(conn, tid, env.time)
            case ev.TicketSlaFirstResponseMet():
                await conn.execute(
                    "UPDATE clocks SET first_response_at = coalesce(first_response_at, $2) WHERE ticket_id = $1",
                    tid,
                    data.at,
                )
                await conn.execute("DELETE FROM timers WHERE ticket_id = $1 AND kind LIKE '%first_response%'", tid)
            case ev.TicketSlaPaused():
                await self._stop_resolution(conn, tid, data.at, paused=True)
                life = self.policy.lifecycle
                await self._timer(conn, tid, "remind", data.at + life.waiting_reminder)
                await self._timer(conn, tid, "autoresolve", data.at + life.auto_resolve_after)
            case ev.TicketResolved():
                await self._stop_resolution(conn, tid, env.time, paused=False)
                await conn.execute("DELETE FROM timers WHERE ticket_id = $1", tid)
                await conn.execute(
                    "UPDATE clocks SET fired = array_remove(fired, 'autoclose') WHERE ticket_id = $1", tid
                )
                await self._timer(conn, tid, "autoclose", env.time + self.policy.lifecycle.auto_close_after)
            case ev.TicketResolutionRejected() | ev.TicketReopened():
                await conn.execute("DELETE FROM timers WHERE ticket_id = $1 AND kind = 'autoclose'", tid)
            case ev.TicketClosed():
                await conn.execute(
                    "UPDATE clocks SET stopped_at = coalesce(stopped_at, $2) WHERE ticket_id = $1", tid, env.time
                )
                await conn.execute("DELETE FROM timers WHERE ticket_id = $1", tid)
                await conn.execute("UPDATE tickets SET open = false WHERE id = $1", tid)
            case ev.TicketSlaResumed():
                c = await conn.fetchrow("SELECT calendar, next_remaining FROM clocks WHERE ticket_id = $1", tid)
                if c is not None and c["next_remaining"] is not None:
                    next_due = self._cal(c["calendar"]).add(data.at, c["next_remaining"])
                    await conn.execute(
                        "UPDATE clocks SET next_response_due = $2, next_remaining = NULL WHERE ticket_id = $1",
                        tid,
                        next_due,
                    )
                await conn.execute(
                    "UPDATE clocks SET paused_at = NULL, stopped_at = NULL, remaining = NULL, resolution_due = $2,"
                    " fired = array_remove(array_remove(fired, 'remind'), 'autoresolve') WHERE ticket_id = $1",
                    tid,
                    data.resolution_due,
                )
                await conn.execute(
                    "DELETE FROM timers WHERE ticket_id = $1 AND kind IN ('remind', 'autoresolve', 'autoclose')", tid
                )
                await conn.execute("UPDATE tickets SET open = true WHERE id = $1", tid)
                await self._schedule(conn, tid)
            case ev.TicketSlaWarning():
                await self._mark(conn, tid, f"warn:{data.target}:{data.fraction}")
            case ev.TicketSlaBreached():
                column = {"first_response": "first_breached", "resolution": "resolution_breached"}.get(data.target)
                if column:
                    await conn.execute(f"UPDATE clocks SET {column} = true WHERE ticket_id = $1", tid)
                await self._mark(conn, tid, f"breach:{data.target}")
            case ev.TicketSlaMet():
                await self._mark(conn, tid, "met")
            case ev.TicketInfoReminder():
                await self._mark(conn, tid, "remind")

    async def _next_response_cycle(self, conn: asyncpg.Connection, tid: str, at: datetime) -> None:
        """A public answer from an agent: the next update is due one next-response target later."""
        c = await conn.fetchrow("SELECT calendar, next_target, stopped_at FROM clocks WHERE ticket_id = $1", tid)
        if c is None or c["next_target"] is None or c["stopped_at"] is not None:
            return
        due = self._cal(c["calendar"]).add(at, c["next_target"])
        await conn.execute(
            "UPDATE clocks SET next_response_due = $2, next_remaining = NULL,"
            " fired = array(SELECT f FROM unnest(fired) f WHERE f NOT LIKE '%next_response%') WHERE ticket_id = $1",
            tid,
            due,
        )
        await conn.execute("DELETE FROM timers WHERE ticket_id = $1 AND kind LIKE '%next_response%'", tid)
        await self._schedule(conn, tid)

    async def _timer(self, conn: asyncpg.Connection, tid: str, kind: str, due: datetime) -> None:
        await conn.execute(
            "INSERT INTO timers(ticket_id, kind, due_at) SELECT $1, $2, $3 FROM clocks"
            " WHERE ticket_id = $1 AND NOT ($2 = ANY(fired))"
            " ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = $3",
            tid,
            kind,
            due,
        )

    async def _mark(self, conn: asyncpg.Connection, tid: str, kind: str) -> None:
        await conn.execute(
            "UPDATE clocks SET fired = array_append(fired, $2) WHERE ticket_id = $1 AND NOT ($2 = ANY(fired))",
            tid,
            kind,
        )
        await conn.execute("DELETE FROM timers WHERE ticket_id = $1 AND kind = $2", tid, kind)

    async def _stop_resolution(self, conn: asyncpg.Connection, tid: str, at: datetime, *, paused: bool) -> None:
        row = await conn.fetchrow("SELECT * FROM clocks WHERE ticket_id = $1", tid)
        if row is None:
            return
        # already paused (a resolution while waiting on the customer): the time left was kept then
        left = row["remaining"]
        if left is None:
            left = self._cal(row["calendar"]).elapsed(at, row["resolution_due"])
        await conn.execute(
            "UPDATE clocks SET remaining = $2,"
            " paused_at = CASE WHEN $3 THEN coalesce(paused_at, $4::timestamptz) ELSE paused_at END,"
            " stopped_at = CASE WHEN $3 THEN stopped_at ELSE coalesce(stopped_at, $4::timestamptz) END"
            " WHERE ticket_id = $1",
            tid,
            left,
            paused,
            at,
        )
        if row["next_response_due"] is not None and row["next_remaining"] is None:
            # waiting on the customer pauses the next-response clock too; resolving ends it
            next_left = self._cal(row["calendar"]).elapsed(at, row["next_response_due"]) if paused else None
            await conn.execute(
                "UPDATE clocks SET next_remaining = $2, next_response_due = CASE WHEN $3 THEN next_response_due END"
                " WHERE ticket_id = $1",
                tid,
                next_left,
                paused,
            )
        await conn.execute(
            "DELETE FROM timers WHERE ticket_id = $1"
            " AND (kind LIKE '%resolution%' OR kind LIKE '%next_response%' OR kind LIKE 'escalate:%')",
            tid,
        )

    async def _schedule(
        self, conn: asyncpg.Connection, tid: str, *, clock: asyncpg.Record | None = None, replace_all: bool = False
    ) -> None:
        """(Re)write the ticket's timers from its clock (`clock`, if just written): what has fired
        stays fired. `replace_all`: new targets, so its other timers go too."""
        c = clock or await conn.fetchrow("SELECT * FROM clocks WHERE ticket_id = $1", tid)
        if c is None or c["stopped_at"] is not None or c["paused_at"] is not None:
            if replace_all:
                await conn.execute("DELETE FROM timers WHERE ticket_id = $1", tid)
            return
        cal = self._cal(c["calendar"])
        plan: dict[str, datetime] = {}
        targets = [("resolution", c["resolution_due"], c["resolution_target"])]
        if c["first_response_at"] is None:
            targets.append(("first_response", c["first_response_due"], c["first_target"]))
        if c["next_response_due"] is not None and c["next_target"] is not None:
            targets.append(("next_response", c["next_response_due"], c["next_target"]))
        for target, due, length in targets:
            for f in self.policy.warn_at:
                plan[f"warn:{target}:{f}"] = cal.subtract(due, length * (1 - f))
            plan[f"breach:{target}"] = due
        for i, step in enumerate(self.policy.escalation):
            plan[f"escalate:{i}"] = (
                cal.add(c["resolution_due"], step.after_overdue) if step.after_overdue else c["resolution_due"]
            )
        todo = [(kind, due) for kind, due in plan.items() if kind not in c["fired"]]
        if todo or replace_all:  # one statement for all of the ticket's timers (there are about ten)
            # (the delete and the upsert touch different rows, so they can share a statement)
            await conn.execute(
                "WITH gone AS (DELETE FROM timers WHERE $4 AND ticket_id = $1 AND NOT (kind = ANY($2::text[])))"
                " INSERT INTO timers(ticket_id, kind, due_at)"
                " SELECT $1, kind, due FROM unnest($2::text[], $3::timestamptz[]) AS t(kind, due)"
                " ON CONFLICT (ticket_id, kind) DO UPDATE SET due_at = excluded.due_at",
                tid,
                [k for k, _ in todo],
                [d for _, d in todo],
                replace_all,
            )

    # -- timers -----------------------------------------------------------------------------

    async def fire_due(self, now: datetime, limit: int = 200) -> int:
        """Emit what is due at `now`; return how many timers fired. Safe on every instance."""
        fired = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT t.ticket_id, t.kind, t.due_at FROM timers t WHERE t.due_at <= $1"
                " ORDER BY t.due_at, t.kind LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit,
            )
            for r in rows:
                await conn.execute("DELETE FROM timers WHERE ticket_id = $1 AND kind = $2", r["ticket_id"], r["kind"])
                payload = await self._timer_event(conn, r["ticket_id"], r["kind"], r["due_at"], now)
                if payload is None:
                    continue
                c = await conn.fetchrow("SELECT targets_event_id FROM clocks WHERE ticket_id = $1", r["ticket_id"])
                # the id follows from the targets and the timer: a second instance, or a restart,
                # that fires the same timer produces the same event
                seq = int.from_bytes(r["kind"].encode()[:8].ljust(8, b"\0")) ^ int(r["due_at"].timestamp())
                env = Envelope.new(
                    payload,
                    source=NAME,
                    subject=r["ticket_id"],
                    time=now,
                    actor=f"system:{NAME}",
                    causationid=str(c["targets_event_id"]),
                    event_id=derived_id(c["targets_event_id"], payload.event_type, seq, r["due_at"]),
                )
                await outbox.enqueue_all(conn, await self._emit(conn, env), applied_by=CONSUMER)
                fired += 1
        return fired

    async def _timer_event(
        self, conn: asyncpg.Connection, tid: str, kind: str, due: datetime, now: datetime
    ) -> Payload | None:
        c = await conn.fetchrow("SELECT * FROM clocks WHERE ticket_id = $1", tid)
        if c is None or kind in c["fired"]:
            return None
        if kind in ("remind", "autoresolve", "autoclose"):
            return await self._lifecycle_event(conn, c, kind)
        if c["stopped_at"] is not None or c["paused_at"] is not None:
            return None
        parts = kind.split(":")
        if parts[0] == "warn":
            target_due = c[f"{parts[1]}_due"]
            return ev.TicketSlaWarning(ticket_id=tid, target=parts[1], due=target_due, fraction=float(parts[2]))
        if parts[0] == "breach":
            target_due = c[f"{parts[1]}_due"]
            return ev.TicketSlaBreached(ticket_id=tid, target=parts[1], due=target_due)
        step = self.policy.escalation[int(parts[1])]
        t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", tid)
        if t is None or not t["open"] or t["level"] >= min(step.to_level, MAX_LEVEL):
            await self._mark(conn, tid, kind)
            return None
        es, en = self._reasons(c, t, now)
        await self._mark(conn, tid, kind)
        return ev.TicketEscalated(
            ticket_id=tid,
            from_level=t["level"],
            to_level=step.to_level,
            reason=es,
            reason_en=en,
            by=f"system:{NAME}",
            target="resolution",
        )

    async def _lifecycle_event(self, conn: asyncpg.Connection, c: asyncpg.Record, kind: str) -> Payload | None:
        tid = c["ticket_id"]
        t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", tid)
        if t is None or not t["open"]:
            return None
        if kind == "autoclose":
            if c["stopped_at"] is None:
                return None  # no longer resolved
            return ev.TicketClosed(ticket_id=tid, by="system", reason="auto")
        if c["paused_at"] is None:
            return None  # the customer answered meanwhile
        if kind == "remind":
            return ev.TicketInfoReminder(ticket_id=tid, asked_at=c["paused_at"])
        span = self.policy.lifecycle.auto_resolve_after
        whole_days = span >= timedelta(days=1) and span % timedelta(days=1) == timedelta(0)
        es_span = f"{span.days} días" if whole_days else _human(span)
        en_span = f"{span.days} days" if whole_days else _human(span)
        summary = (
            f"Resuelto automáticamente: no recibimos respuesta a nuestra pregunta en {es_span}. "
            "Si el problema continúa, puedes reabrir el ticket."
            if t["language"] == "es"
            else f"Resolved automatically: we got no answer to our question in {en_span}. "
            "If the problem continues, you can reopen the ticket."
        )
        return ev.TicketResolved(ticket_id=tid, agent_id="system", summary=summary)

    def _reasons(self, c: asyncpg.Record, t: asyncpg.Record, now: datetime) -> tuple[str, str]:
        zone = ZoneInfo(self._cal(c["calendar"]).timezone)
        due = c["resolution_due"].astimezone(zone).strftime("%d/%m/%Y %H:%M %Z")
        late = now - c["resolution_due"]
        owner = t["owner"] or "sin asignar"
        last = t["last_event_at"].astimezone(zone).strftime("%d/%m/%Y %H:%M %Z")
        es = (
            f"Objetivo de resolución ({c['priority']}) incumplido: vencía el {due} "
            f"y lleva {_human(late)} de retraso. "
            f"Responsable: {owner} (nivel {t['level']}). Último movimiento: {t['last_event']} el {last}. "
            f"Se escala al nivel siguiente según la política de SLA v{self.policy.version}."
        )
        en = (
            f"Resolution target ({c['priority']}) missed: it was due {due} and is {_human(late)} overdue. "
            f"Owner: {t['owner'] or 'unassigned'} (level {t['level']}). Last activity: {t['last_event']} at {last}. "
            f"Escalated one level as SLA policy v{self.policy.version} says."
        )
        return es, en

    async def timer_loop(self, interval: float = 0.5) -> None:
        while True:
            try:
                while await self.fire_due(self.clock.now()):
                    pass
            except db.TRANSIENT as exc:
                log.warning("sla timer retry", error=str(exc))
            await asyncio.sleep(interval)
