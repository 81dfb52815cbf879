"""Routing's edges. A decision happens when a ticket needs an owner (opened, escalated,
reopened, its owner went offline or was removed, a supervisor moved it) or when capacity frees
up (an agent joins, comes online, finishes a ticket). A decision updates the roster and emits
`ticket.assigned` or `ticket.queued` in one transaction, with the ticket's row locked and the
chosen agent's capacity taken by a conditional UPDATE (services/routing/store.py): two routing
instances never push one agent over capacity nor assign one ticket twice. The rules are pure
(services/routing/domain.py).

On a replay the decisions already in the log are folded instead of made again.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

import asyncpg

from services.routing import domain, store
from services.routing.domain import Ticket
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.events.envelope import derived_id
from shared.platform import outbox
from shared.platform.clock import Clock
from shared.platform.consumer import Delivery
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS

NAME = "routing"
TICKETS_CONSUMER = "routing-tickets"
AGENTS_CONSUMER = "routing-agents"
# The ticket events routing acts on. Four in ten records of ticket.events are notify's outcomes
# and most of the rest are SLA's: passed over unread (shared.platform.consumer, `wants`).
# tests/unit/routing/test_wanted.py checks that every event this package names is here.
TICKET_EVENTS_WANTED: tuple[type[Payload], ...] = (
    ev.TicketOpened,
    ev.TicketCategorized,
    ev.TicketQueued,
    ev.TicketAssigned,
    ev.TicketUnassigned,
    ev.TicketInfoRequested,
    ev.TicketCustomerReplied,
    ev.TicketEscalated,
    ev.TicketResolved,
    ev.TicketResolutionRejected,
    ev.TicketReopened,
    ev.TicketClosed,
    ev.TicketMerged,
)
Emitted = list[tuple[str, Envelope]]


class Rejected(Exception):
    """A manual reassignment that cannot be done (unknown agent, closed ticket ...)."""


def _seq(ticket_id: str) -> int:
    """A stable number per ticket: the reassignments one event causes get distinct ids."""
    return int(hashlib.sha256(ticket_id.encode()).hexdigest()[:8], 16)


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
                opened = domain.opened(tid, data.category.value, data.priority, data.language)
                new = await store.insert_ticket(conn, opened)  # locked as ours
                if not live:
                    return []
                t = new or await store.ticket(conn, tid)
                return await self._assign(conn, t, env) if t is not None else []
            case ev.TicketQueued():
                await store.queued_since(conn, tid, env.time)
            case ev.TicketInfoRequested() | ev.TicketCustomerReplied():
                await store.set_waiting_on_customer(conn, tid, isinstance(data, ev.TicketInfoRequested))
            case ev.TicketEscalated() if not live:
                await store.set_level(conn, tid, data.to_level)
            case (
                ev.TicketCategorized()
                | ev.TicketAssigned()
                | ev.TicketUnassigned()
                | ev.TicketEscalated()
                | ev.TicketResolved()
                | ev.TicketClosed()
                | ev.TicketMerged()
                | ev.TicketResolutionRejected()
                | ev.TicketReopened()
            ):
                t = await store.ticket(conn, tid)
                return await self._change(conn, t, env, live) if t is not None else []
        return []

    async def _change(self, conn: asyncpg.Connection, t: Ticket, env: Envelope, live: bool) -> Emitted:
        """A fact about a known ticket: its row is locked, changed and written once; then, live,
        whatever decision it calls for."""
        data = env.data
        match data:
            case ev.TicketCategorized():
                t, change = domain.reprioritise(t, data.category.value, data.priority)
                await store.save(conn, t, [change] if change else ())
            case ev.TicketAssigned():
                # another instance's decision, or history: ours were applied when made
                t, loads = domain.assigned(t, data.agent_id, data.level)
                await store.save(conn, t, loads, assignee=data.agent_id, when=env.time)
            case ev.TicketUnassigned():
                t, freed = domain.release(t, keep_open=True)
                await store.save(conn, t, [freed] if freed else ())
                return await self._assign(conn, t, env, previous=data.agent_id) if live else []
            case ev.TicketEscalated():
                previous = t.owner
                t, freed = domain.release(replace(t, level=max(t.level, data.to_level)), keep_open=True)
                await store.save(conn, t, [freed] if freed else ())
                return await self._assign(conn, t, env, previous=previous)
            case ev.TicketResolved() | ev.TicketClosed() | ev.TicketMerged():
                resolved = isinstance(data, ev.TicketResolved)
                t, freed = domain.release(t, keep_open=resolved, keep_owner=True)
                if resolved:
                    t = replace(t, waiting_on_customer=False)
                await store.save(conn, t, [freed] if freed else ())
                if freed and live:
                    return await self._drain(conn, env)
            case ev.TicketResolutionRejected():
                t, back = domain.recount(t)  # back to work for the same owner
                await store.save(conn, t, [back] if back else ())
            case ev.TicketReopened():
                t = replace(t, open=True)
                await store.save(conn, t)
                if live:
                    return await self._assign(conn, t, env, prefer=t.owner)
        return []

    # -- agent.events -----------------------------------------------------------------------

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> Emitted:
        data = env.data
        live = not d.replaying
        match data:
            case ev.AgentRegistered():
                await store.register(conn, data, env)
            case ev.AgentUpdated():
                await store.update(conn, data)
            case ev.AgentAvailabilityChanged():
                await store.availability(conn, data, env)
                if live and data.availability == "offline":
                    return await self._take_from(conn, data.agent_id, env, include_waiting=False)
            case ev.AgentRemoved():
                await store.remove(conn, data, env)
                if live:
                    return await self._take_from(conn, data.agent_id, env, include_waiting=True)
            case _:
                return []
        return await self._drain(conn, env) if live else []

    # -- decisions --------------------------------------------------------------------------

    def _envelope(
        self, payload: Payload, ticket_id: str, cause: Envelope | None, seq: int, event_id: UUID | None, time: datetime
    ) -> Envelope:
        # `time` is the decision's instant: the one the state change used, so a replay agrees
        return Envelope.new(payload, source=NAME, subject=ticket_id, time=time, cause=cause, seq=seq, event_id=event_id)

    async def _assign(
        self,
        conn: asyncpg.Connection,
        t: Ticket,
        cause: Envelope | None,
        *,
        prefer: str | None = None,
        previous: str | None = None,
        seq: int = 0,
        event_id: UUID | None = None,
        roster: list[domain.Agent] | None = None,
    ) -> Emitted:
        """An owner for `t` (its row locked by this transaction), or its place in the queue.
        A decision is applied here already: whoever enqueues it marks it applied by the tickets
        consumer (`applied_by`), so the copy read back is skipped. `roster`: the agents as just
        read, for a caller going through many tickets (the choice filters who is eligible)."""
        if not t.open or (t.owner is not None and t.counted):
            return []
        need, now = t.need, self.clock.now()
        candidates = list(roster) if roster is not None else await store.candidates(conn, need)
        choice = domain.pick(candidates, need, now, prefer=prefer)
        while choice is not None and not await store.take(conn, choice.agent_id, t, now):
            # another instance filled this agent since we read the roster: choose among the rest
            candidates = [a for a in candidates if a.id != choice.agent_id]
            choice = domain.choose(candidates, need, now)
        if choice is None:
            if t.waiting_since is not None:
                return []  # already queued
            queued = domain.queued(t, await store.everyone(conn), now)
            env = self._envelope(queued, t.id, cause, seq, event_id, now)
            await store.queued_since(conn, t.id, env.time, keep=False)
            return [(self.topic, env)]
        payload = domain.assignment(t, choice, previous)
        return [(self.topic, self._envelope(payload, t.id, cause, seq, event_id, now))]

    async def _drain(self, conn: asyncpg.Connection, cause: Envelope) -> Emitted:
        """Give queued tickets (highest level first, most urgent, oldest) to whoever can take them."""
        out: Emitted = []
        queue = domain.in_queue_order(await store.queue(conn))
        # the roster read once, not once per queued ticket: tickets nobody can take (a level no one
        # on shift has) stay in the queue, and each freed slot used to query for every one of them
        roster = await store.everyone(conn) if queue else []
        takers = domain.Takers(roster, self.clock.now())
        for i, t in enumerate(queue):
            if not takers.any_for(t):
                continue  # nobody could take it: passed by without a look at each agent
            emitted = await self._assign(conn, t, cause, seq=i + 1, roster=roster)
            got = [e for e in emitted if e[1].type == "ticket.assigned"]
            if got:
                roster = await store.everyone(conn)  # a load changed
                takers = domain.Takers(roster, self.clock.now())
            out += got
        return out

    async def _take_from(
        self, conn: asyncpg.Connection, agent_id: str, cause: Envelope, *, include_waiting: bool
    ) -> Emitted:
        """Reassign an agent's open tickets (those waiting on the customer only if asked)."""
        out: Emitted = []
        for ticket_id in await store.owned_by(conn, agent_id, include_waiting=include_waiting):
            t = await store.ticket(conn, ticket_id)
            if t is None:
                continue
            t, freed = domain.release(t, keep_open=True)
            await store.save(conn, t, [freed] if freed else ())
            out += await self._assign(conn, t, cause, previous=agent_id, seq=_seq(ticket_id))
        return out

    # -- by hand and by time -----------------------------------------------------------------

    async def reassign(self, ticket_id: str, agent_id: str, reason: str, by: str) -> Envelope:
        """A supervisor moves a ticket to a given agent (capacity is theirs to judge)."""
        async with self.pool.acquire() as conn, conn.transaction():
            t = await store.ticket(conn, ticket_id)
            if t is None or not t.open:
                raise Rejected(f"ticket {ticket_id} is unknown or closed")
            if not await store.agent_row(conn, agent_id):
                raise Rejected(f"agent {agent_id} is unknown or removed")
            env = Envelope.new(
                domain.manual(t, agent_id, reason, by), source=NAME, subject=ticket_id, time=self.clock.now(), actor=by
            )
            t, loads = domain.assigned(t, agent_id, t.level)
            await store.save(conn, t, loads, assignee=agent_id, when=env.time)
            await outbox.enqueue_all(conn, [(self.topic, env)], applied_by=TICKETS_CONSUMER)
            return env

    async def sweep_long_absences(self, now: datetime) -> int:
        """Tickets waiting on the customer keep their owner while the owner is away or offline,
        unless the absence lasts longer than the configured time: then they move too."""
        moved = 0
        async with self.pool.acquire() as conn, conn.transaction():
            for t, agent, away_event_id, away_since in await store.long_absences(
                conn, now - self.reassign_waiting_after
            ):
                t, freed = domain.release(t, keep_open=True)
                await store.save(conn, t, [freed] if freed else ())
                # same absence, same ticket: same event id, however often the sweep runs
                eid = derived_id(away_event_id, "ticket.assigned", _seq(t.id), away_since)
                emitted = await self._assign(conn, t, None, previous=agent, event_id=eid)
                await outbox.enqueue_all(conn, emitted, applied_by=TICKETS_CONSUMER)
                moved += len(emitted)
        return moved

    async def drain_queue(self, now: datetime) -> int:
        """Offer queued tickets again: a shift that started frees capacity without any event."""
        assigned = 0
        async with self.pool.acquire() as conn, conn.transaction():
            queue = domain.in_queue_order(await store.queue(conn))
            roster = await store.everyone(conn) if queue else []  # once, as in _drain
            takers = domain.Takers(roster, now)
            for t in queue:
                if not takers.any_for(t):
                    continue
                assert t.waiting_since is not None
                # one id per (ticket, stay in the queue), however many sweeps find it
                stay = uuid5(NAMESPACE_URL, f"mesa:queue:{t.id}:{t.waiting_since.isoformat()}")
                eid = derived_id(stay, "ticket.assigned", 0, t.waiting_since)
                emitted = await self._assign(conn, t, None, event_id=eid, roster=roster)
                await outbox.enqueue_all(conn, emitted, applied_by=TICKETS_CONSUMER)
                if emitted:
                    roster = await store.everyone(conn)
                    takers = domain.Takers(roster, now)
                assigned += len(emitted)
        return assigned
