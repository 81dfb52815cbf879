"""Routing's handlers. A decision happens when a ticket needs an owner (opened, escalated,
reopened, its owner went offline or was removed, a supervisor moved it) or when capacity frees
up (an agent joins, comes online, finishes a ticket). A decision updates the roster and emits
`ticket.assigned` or `ticket.queued` in one transaction, with the candidate agents' rows locked:
two routing instances never push one agent over capacity nor assign one ticket twice.

On a replay the decisions already in the log are folded instead of made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg
from prometheus_client import Gauge

from services.routing.domain import Agent, Choice, Need, choose, queue_key, queue_reason, weight
from shared import db, outbox
from shared.clock import Clock
from shared.consumer import Delivery
from shared.events import Envelope, Payload
from shared.events import catalogue as ev
from shared.events.catalogue import Priority, Shift
from shared.events.envelope import derived_id
from shared.logging import get_logger
from shared.settings import Settings
from shared.topics import TICKET_EVENTS

NAME = "routing"
TICKETS_CONSUMER = "routing-tickets"
AGENTS_CONSUMER = "routing-agents"
Emitted = list[tuple[str, Envelope]]
log = get_logger(__name__)

AGENT_LOAD = Gauge("mesa_agent_load", "Weighted load of an agent's open tickets", ["agent"])
AGENT_OPEN = Gauge("mesa_agent_open_tickets", "Open tickets an agent owns", ["agent"])
AGENT_CAPACITY = Gauge("mesa_agent_capacity", "Most weighted load an agent takes", ["agent"])
QUEUED = Gauge("mesa_tickets_queued", "Tickets waiting for an owner", ["level"])


class Rejected(Exception):
    """A manual reassignment that cannot be done (unknown agent, closed ticket ...)."""


# Every decision reads the candidate agents' rows; their JSON columns change only when an agent's
# profile does, so each distinct text is parsed once (read-only views: the cache shares them).
@functools.lru_cache(maxsize=4096)
def _proficiency(raw: str) -> Mapping[str, int]:
    return MappingProxyType(json.loads(raw))


@functools.lru_cache(maxsize=4096)
def _shift(raw: str) -> Shift:
    return Shift.model_validate_json(raw)


def _agent(r: asyncpg.Record) -> Agent:
    shift = _shift(r["shift"]) if r["shift"] else None
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
        shift=shift,
    )


class Routing:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.topic = settings.topic(TICKET_EVENTS)
        self.reassign_waiting_after = timedelta(seconds=settings.routing_reassign_waiting_after_s)

    # -- ticket.events ----------------------------------------------------------------------

    async def on_ticket_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        data = env.data
        live = not d.replaying
        tid = env.subject
        match data:
            case ev.TicketOpened():
                # a new row comes back (locked, as ours): _assign need not read it again
                row = await conn.fetchrow(
                    "INSERT INTO tickets(id, category, priority, weight, language) VALUES ($1, $2, $3, $4, $5)"
                    " ON CONFLICT (id) DO NOTHING RETURNING *",
                    tid,
                    data.category.value,
                    data.priority.value,
                    weight(data.priority),
                    data.language,
                )
                return await self._assign(conn, tid, env, row=row) if live else []
            case ev.TicketCategorized():
                await self._reprioritise(conn, tid, data.category.value, data.priority)
            case ev.TicketAssigned():
                # another instance's decision, or history: ours were applied when made
                await self._apply_assignment(conn, tid, data.agent_id, data.level, env.time)
            case ev.TicketQueued():
                await conn.execute(
                    "UPDATE tickets SET waiting_since = coalesce(waiting_since, $2) WHERE id = $1 AND owner IS NULL",
                    tid,
                    env.time,
                )
            case ev.TicketUnassigned():
                await self._release(conn, tid, keep_open=True)
                return await self._assign(conn, tid, env, previous=data.agent_id) if live else []
            case ev.TicketEscalated():
                await conn.execute("UPDATE tickets SET level = greatest(level, $2) WHERE id = $1", tid, data.to_level)
                if live:
                    previous = await conn.fetchval("SELECT owner FROM tickets WHERE id = $1", tid)
                    await self._release(conn, tid, keep_open=True)
                    return await self._assign(conn, tid, env, previous=previous)
            case ev.TicketInfoRequested():
                await conn.execute("UPDATE tickets SET waiting_on_customer = true WHERE id = $1", tid)
            case ev.TicketCustomerReplied():
                await conn.execute("UPDATE tickets SET waiting_on_customer = false WHERE id = $1", tid)
            case ev.TicketResolved():
                await conn.execute("UPDATE tickets SET waiting_on_customer = false WHERE id = $1", tid)
                if await self._release(conn, tid, keep_open=True, keep_owner=True) and live:
                    return await self._drain(conn, env)
            case ev.TicketResolutionRejected():
                await self._recount(conn, tid)  # back to work for the same owner
            case ev.TicketClosed():
                if await self._release(conn, tid, keep_open=False, keep_owner=True) and live:
                    return await self._drain(conn, env)
            case ev.TicketReopened():
                await conn.execute("UPDATE tickets SET open = true WHERE id = $1", tid)
                if live:
                    owner = await conn.fetchval("SELECT owner FROM tickets WHERE id = $1", tid)
                    return await self._assign(conn, tid, env, prefer=owner)
        return []

    # -- agent.events -----------------------------------------------------------------------

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        data = env.data
        live = not d.replaying
        match data:
            case ev.AgentRegistered():
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
                    json.dumps({k.value: v for k, v in data.proficiency.items()}),
                    data.level,
                    data.capacity,
                    data.availability,
                    list(data.languages),
                    list(data.teams),
                    data.shift.model_dump_json() if data.shift else None,
                    env.time,
                    env.id,
                )
            case ev.AgentUpdated():
                await conn.execute(
                    "UPDATE agents SET skills = coalesce($2, skills), proficiency = coalesce($3::jsonb, proficiency),"
                    " level = coalesce($4, level), capacity = coalesce($5, capacity),"
                    " languages = coalesce($6, languages), teams = coalesce($7, teams),"
                    " shift = coalesce($8::jsonb, shift) WHERE id = $1",
                    data.agent_id,
                    [s.value for s in data.skills] if data.skills is not None else None,
                    json.dumps({k.value: v for k, v in data.proficiency.items()})
                    if data.proficiency is not None
                    else None,
                    data.level,
                    data.capacity,
                    list(data.languages) if data.languages is not None else None,
                    list(data.teams) if data.teams is not None else None,
                    data.shift.model_dump_json() if data.shift else None,
                )
            case ev.AgentAvailabilityChanged():
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
                if live and data.availability == "offline":
                    return await self._take_from(conn, data.agent_id, env, include_waiting=False)
            case ev.AgentRemoved():
                await conn.execute(
                    "UPDATE agents SET removed = true, availability = 'offline',"
                    " away_since = coalesce(away_since, $2), away_event_id = coalesce(away_event_id, $3) WHERE id = $1",
                    data.agent_id,
                    env.time,
                    env.id,
                )
                if live:
                    return await self._take_from(conn, data.agent_id, env, include_waiting=True)
            case _:
                return []
        return await self._drain(conn, env) if live else []

    # -- decisions --------------------------------------------------------------------------

    def _envelope(
        self,
        payload: Payload,
        ticket_id: str,
        cause: Envelope | None,
        seq: int,
        event_id: UUID | None,
        time: datetime,
    ) -> Envelope:
        # `time` is the decision's instant: the one the state change used, so a replay agrees
        return Envelope.new(
            payload,
            source=NAME,
            subject=ticket_id,
            time=time,
            cause=cause,
            seq=seq,
            event_id=event_id,
        )

    def _emit(self, env: Envelope) -> Emitted:
        """A decision, applied here already: whoever enqueues it marks it applied by the tickets
        consumer (`applied_by`), so the copy read back is skipped."""
        return [(self.topic, env)]

    async def _candidates(self, conn: asyncpg.Connection, need: Need) -> list[Agent]:
        # read without locks; the chosen agent's capacity is taken with a conditional UPDATE
        rows = await conn.fetch(
            "SELECT * FROM agents WHERE NOT removed AND availability = 'online' AND $1 = ANY(skills)"
            " AND level >= $2 AND load + $3 <= capacity ORDER BY id",
            need.category,
            need.level,
            need.weight,
        )
        return [_agent(r) for r in rows]

    async def _assign(
        self,
        conn: asyncpg.Connection,
        ticket_id: str,
        cause: Envelope | None,
        *,
        prefer: str | None = None,
        previous: str | None = None,
        seq: int = 0,
        event_id: UUID | None = None,
        row: asyncpg.Record | None = None,
    ) -> Emitted:
        t = row or await conn.fetchrow("SELECT * FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None or not t["open"] or (t["owner"] is not None and t["counted"]):
            return []
        need = Need(t["category"], t["level"], Priority(t["priority"]), t["language"])
        now = self.clock.now()
        candidates = await self._candidates(conn, need)
        choice: Choice | None = None
        if prefer:
            kept = choose([a for a in candidates if a.id == prefer], need, now)
            if kept is not None:
                choice = Choice(
                    kept.agent_id,
                    kept.level,
                    "previous owner",
                    "reopened: back to its previous owner; " + kept.reason,
                    kept.candidates,
                )
        choice = choice or choose(candidates, need, now)
        while choice is not None and not await self._take(conn, choice.agent_id, t["weight"], now, ticket_id, need):
            # another instance filled this agent since we read the roster: choose among the rest
            candidates = [a for a in candidates if a.id != choice.agent_id]
            choice = choose(candidates, need, now)
        if choice is None:
            if t["waiting_since"] is not None:
                return []  # already queued
            everyone = [_agent(r) for r in await conn.fetch("SELECT * FROM agents WHERE NOT removed")]
            queued = ev.TicketQueued(
                ticket_id=ticket_id,
                level=need.level,
                category=need.category,
                reason=queue_reason(everyone, need, now),
            )
            env = self._envelope(queued, ticket_id, cause, seq, event_id, now)
            await conn.execute("UPDATE tickets SET waiting_since = $2 WHERE id = $1", ticket_id, env.time)
            return self._emit(env)
        payload = ev.TicketAssigned(
            ticket_id=ticket_id,
            agent_id=choice.agent_id,
            level=need.level,
            reason=choice.reason[:2000],
            previous_agent_id=previous or (t["owner"] if t["owner"] != choice.agent_id else None),
            criterion=choice.criterion,
            candidates=choice.candidates,
            weight=need.weight,
        )
        return self._emit(self._envelope(payload, ticket_id, cause, seq, event_id, now))

    async def _take(
        self, conn: asyncpg.Connection, agent_id: str, weight: int, when: datetime, ticket_id: str, need: Need
    ) -> bool:
        """Give the ticket to the agent if its `weight` still fits their capacity and they can
        still take work: their load and the ticket's owner in one statement. The agent's row
        lock is held to commit, so concurrent instances serialise per agent."""
        taken = await conn.fetchval(
            "WITH took AS (UPDATE agents SET load = load + $2, open_count = open_count + 1,"
            " last_assigned_at = greatest(last_assigned_at, $3)"
            " WHERE id = $1 AND NOT removed AND availability = 'online' AND load + $2 <= capacity RETURNING id)"
            " UPDATE tickets SET owner = took.id, counted = true, open = true, waiting_since = NULL,"
            " level = greatest(level, $5) FROM took WHERE tickets.id = $4 RETURNING 1",
            agent_id,
            weight,
            when,
            ticket_id,
            need.level,
        )
        return taken is not None

    async def _apply_assignment(
        self, conn: asyncpg.Connection, ticket_id: str, agent_id: str, level: int, when: datetime
    ) -> None:
        t = await conn.fetchrow("SELECT owner, counted, weight FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None:
            return
        if t["counted"] and t["owner"]:
            await conn.execute(
                "UPDATE agents SET load = load - $2, open_count = open_count - 1 WHERE id = $1",
                t["owner"],
                t["weight"],
            )
        # ticket.events and agent.events are separate logs: on a replay an assignment can be read
        # before its agent's registration. The load waits on a placeholder the registration fills in.
        await conn.execute(
            "INSERT INTO agents(id, name, email, skills, level, capacity, availability)"
            " VALUES ($1, '', '', '{}', 1, 1, 'offline') ON CONFLICT (id) DO NOTHING",
            agent_id,
        )
        await conn.execute(
            "UPDATE agents SET load = load + $2, open_count = open_count + 1,"
            " last_assigned_at = greatest(last_assigned_at, $3) WHERE id = $1",
            agent_id,
            t["weight"],
            when,
        )
        await conn.execute(
            "UPDATE tickets SET owner = $2, counted = true, open = true, waiting_since = NULL,"
            " level = greatest(level, $3) WHERE id = $1",
            ticket_id,
            agent_id,
            level,
        )

    async def _release(
        self, conn: asyncpg.Connection, ticket_id: str, *, keep_open: bool, keep_owner: bool = False
    ) -> bool:
        """Take the ticket out of its owner's load; True when that freed capacity."""
        t = await conn.fetchrow("SELECT owner, counted, weight FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None:
            return False
        freed = bool(t["counted"] and t["owner"])
        if freed:
            await conn.execute(
                "UPDATE agents SET load = load - $2, open_count = open_count - 1 WHERE id = $1",
                t["owner"],
                t["weight"],
            )
        await conn.execute(
            "UPDATE tickets SET counted = false, open = $2, owner = CASE WHEN $3 THEN owner ELSE NULL END,"
            " waiting_since = NULL WHERE id = $1",
            ticket_id,
            keep_open,
            keep_owner,
        )
        return freed

    async def _recount(self, conn: asyncpg.Connection, ticket_id: str) -> None:
        t = await conn.fetchrow("SELECT owner, counted, weight FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None or t["counted"] or t["owner"] is None:
            return
        await conn.execute(
            "UPDATE agents SET load = load + $2, open_count = open_count + 1 WHERE id = $1",
            t["owner"],
            t["weight"],
        )
        await conn.execute("UPDATE tickets SET counted = true, open = true WHERE id = $1", ticket_id)

    async def _reprioritise(self, conn: asyncpg.Connection, ticket_id: str, category: str, priority: Priority) -> None:
        t = await conn.fetchrow("SELECT owner, counted, weight FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
        if t is None:
            return
        new = weight(priority)
        if t["counted"] and t["owner"] and new != t["weight"]:
            await conn.execute("UPDATE agents SET load = load + $2 WHERE id = $1", t["owner"], new - t["weight"])
        await conn.execute(
            "UPDATE tickets SET category = $2, priority = $3, weight = $4 WHERE id = $1",
            ticket_id,
            category,
            priority.value,
            new,
        )

    async def _drain(self, conn: asyncpg.Connection, cause: Envelope) -> Emitted:
        """Give queued tickets (highest level first, most urgent, oldest) to whoever can take them."""
        rows = await conn.fetch(
            "SELECT id, level, priority, waiting_since FROM tickets"
            " WHERE waiting_since IS NOT NULL AND open AND owner IS NULL FOR UPDATE SKIP LOCKED"
        )
        waiting = sorted(rows, key=lambda r: queue_key(r["level"], r["priority"], r["waiting_since"]))
        out: Emitted = []
        for i, row in enumerate(waiting):
            got = await self._assign(conn, row["id"], cause, seq=i + 1)
            out += [e for e in got if e[1].type == "ticket.assigned"]
        return out

    async def _take_from(
        self, conn: asyncpg.Connection, agent_id: str, cause: Envelope, *, include_waiting: bool
    ) -> Emitted:
        """Reassign an agent's open tickets (those waiting on the customer only if asked)."""
        rows = await conn.fetch(
            "SELECT id FROM tickets WHERE owner = $1 AND counted AND open"
            + ("" if include_waiting else " AND NOT waiting_on_customer")
            + " ORDER BY priority, id",
            agent_id,
        )
        out: Emitted = []
        for row in rows:
            await self._release(conn, row["id"], keep_open=True)
            seq = int(hashlib.sha256(row["id"].encode()).hexdigest()[:8], 16)
            out += await self._assign(conn, row["id"], cause, previous=agent_id, seq=seq)
        return out

    # -- by hand and by time -----------------------------------------------------------------

    async def reassign(self, ticket_id: str, agent_id: str, reason: str, by: str) -> Envelope:
        """A supervisor moves a ticket to a given agent (capacity is theirs to judge)."""
        async with self.pool.acquire() as conn, conn.transaction():
            t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1 FOR UPDATE", ticket_id)
            if t is None or not t["open"]:
                raise Rejected(f"ticket {ticket_id} is unknown or closed")
            a = await conn.fetchrow("SELECT * FROM agents WHERE id = $1 AND NOT removed FOR UPDATE", agent_id)
            if a is None:
                raise Rejected(f"agent {agent_id} is unknown or removed")
            payload = ev.TicketAssigned(
                ticket_id=ticket_id,
                agent_id=agent_id,
                level=t["level"],
                reason=f"reassigned by {by}: {reason}"[:2000],
                previous_agent_id=t["owner"],
                criterion="manual",
                weight=t["weight"],
                by=by,
            )
            env = Envelope.new(payload, source=NAME, subject=ticket_id, time=self.clock.now(), actor=by)
            await self._apply_assignment(conn, ticket_id, agent_id, t["level"], env.time)
            await outbox.enqueue_all(conn, [(self.topic, env)], applied_by=TICKETS_CONSUMER)
            return env

    async def sweep_long_absences(self, now: datetime) -> int:
        """Tickets waiting on the customer keep their owner while the owner is away or offline,
        unless the absence lasts longer than the configured time: then they move too."""
        moved = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT t.id, a.id AS agent, a.away_event_id, a.away_since"
                " FROM tickets t JOIN agents a ON a.id = t.owner"
                " WHERE t.counted AND t.open AND t.waiting_on_customer AND a.availability <> 'online'"
                " AND a.away_since <= $1 ORDER BY t.id LIMIT 100 FOR UPDATE OF t SKIP LOCKED",
                now - self.reassign_waiting_after,
            )
            for r in rows:
                await self._release(conn, r["id"], keep_open=True)
                # same absence, same ticket: same event id, however often the sweep runs
                eid = derived_id(
                    r["away_event_id"],
                    "ticket.assigned",
                    int(hashlib.sha256(r["id"].encode()).hexdigest()[:8], 16),
                    r["away_since"],
                )
                emitted = await self._assign(conn, r["id"], None, previous=r["agent"], event_id=eid)
                await outbox.enqueue_all(conn, emitted or (), applied_by=TICKETS_CONSUMER)
                moved += len(emitted or ())
        return moved

    async def drain_queue(self, now: datetime) -> int:
        """Offer queued tickets again: a shift that started frees capacity without any event."""
        assigned = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT id, level, priority, waiting_since FROM tickets"
                " WHERE waiting_since IS NOT NULL AND open AND owner IS NULL FOR UPDATE SKIP LOCKED"
            )
            for r in sorted(rows, key=lambda r: queue_key(r["level"], r["priority"], r["waiting_since"])):
                # one id per (ticket, stay in the queue), however many sweeps find it
                stay = uuid5(NAMESPACE_URL, f"mesa:queue:{r['id']}:{r['waiting_since'].isoformat()}")
                eid = derived_id(stay, "ticket.assigned", 0, r["waiting_since"])
                emitted = await self._assign(conn, r["id"], None, event_id=eid)
                await outbox.enqueue_all(conn, emitted or (), applied_by=TICKETS_CONSUMER)
                assigned += len(emitted or ())
        return assigned

    async def sweep_loop(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.drain_queue(self.clock.now())
                await self.sweep_long_absences(self.clock.now())
            except db.TRANSIENT as exc:
                log.warning("routing sweep retry", error=str(exc))
            await asyncio.sleep(interval)

    async def metrics_loop(self, interval: float = 5.0) -> None:
        """Refresh the roster gauges from the shared tables (every instance reports the same)."""
        while True:
            try:
                for r in await self.pool.fetch("SELECT id, load, open_count, capacity, removed FROM agents"):
                    if r["removed"]:
                        for g in (AGENT_LOAD, AGENT_OPEN, AGENT_CAPACITY):
                            with contextlib.suppress(KeyError):
                                g.remove(r["id"])
                        continue
                    AGENT_LOAD.labels(r["id"]).set(r["load"])
                    AGENT_OPEN.labels(r["id"]).set(r["open_count"])
                    AGENT_CAPACITY.labels(r["id"]).set(r["capacity"])
                queued = await self.pool.fetch(
                    "SELECT level, count(*) AS n FROM tickets WHERE waiting_since IS NOT NULL AND open GROUP BY level"
                )
                counts = {r["level"]: r["n"] for r in queued}
                for level in (1, 2, 3):
                    QUEUED.labels(str(level)).set(counts.get(level, 0))
            except db.TRANSIENT as exc:
                log.warning("routing metrics retry", error=str(exc))
            await asyncio.sleep(interval)

    async def roster(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch("SELECT * FROM agents WHERE NOT removed ORDER BY id")
        out = []
        for r in rows:
            row = dict(r)
            row["proficiency"] = json.loads(r["proficiency"])
            row["shift"] = json.loads(r["shift"]) if r["shift"] else None
            row.pop("away_event_id", None)
            out.append(row)
        return out
