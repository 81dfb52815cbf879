"""SLA's edges: ticket.events in, the due timers, events out. Each loads a ticket's state once
(services/sla/store.py), runs the rules (services/sla/domain.py) and writes once.

Events SLA emits are applied when emitted and pre-marked in its inbox; on a replay they are folded
from the log instead (history is never acted on again).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.sla import domain, store
from services.sla.domain import NAME, State
from services.sla.policy import Policy
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.events.envelope import derived_id
from shared.domain.events.registry import models
from shared.platform import outbox
from shared.platform.clock import Clock
from shared.platform.consumer import Delivery
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS

CONSUMER = "sla-tickets"
EMPTY = State()
# Every event is activity on its ticket (a rule may read it, the escalation reason names the last
# one) except the outcome of a mail the system sent about it: four records in ten of the log,
# passed over unread (`InboxConsumer(wants=...)`).
NOT_ACTIVITY: tuple[type[Payload], ...] = (ev.NotificationSent, ev.NotificationFailed)
TICKET_EVENTS_WANTED: tuple[type[Payload], ...] = tuple(m for m in models().values() if m not in NOT_ACTIVITY)
Emitted = list[tuple[str, Envelope]]


class Sla:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock, policy: Policy) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.policy = policy
        self.topic = settings.topic(TICKET_EVENTS)

    async def on_ticket_events(self, conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> Emitted:
        """A partition's batch: the tickets it touches loaded once (locked), every event folded and
        answered in memory, each changed ticket written once."""
        before = await store.load_many(conn, list(dict.fromkeys(env.subject for env, _ in items)))
        states = dict(before)
        emitted: Emitted = []
        for env, d in items:
            state = domain.evolve(states.get(env.subject, EMPTY), env, self.policy)
            if not d.replaying:
                for payload in domain.decide(state, env, self.policy):
                    out = Envelope.new(payload, source=NAME, subject=env.subject, time=self.clock.now(), cause=env)
                    # applied now: the consumer marks it (`applied_by`) as it enqueues it
                    state = domain.evolve(state, out, self.policy)
                    emitted.append((self.topic, out))
            states[env.subject] = state
        await store.save_many(conn, [(before.get(tid, EMPTY), s) for tid, s in states.items()])
        return emitted

    async def fire_due(self, now: datetime, limit: int = 200) -> int:
        """Emit what is due at `now`; return how many timers fired. Safe on every instance: each
        claims its timers with SKIP LOCKED and skips a ticket another transaction holds."""
        fired = 0
        async with self.pool.acquire() as conn, conn.transaction():
            due = await store.claim_due(conn, now, limit)  # (their rows locked: ours now)
            states = await store.load_many(conn, list(due))
            for ticket_id, timers in due.items():
                before = states[ticket_id]
                state = before
                for kind, at in timers:
                    state, payload = domain.fire(state, kind, now, self.policy)
                    if payload is None:
                        continue
                    env = self._timer_envelope(state, payload, kind, at, now)
                    state = domain.evolve(state, env, self.policy)
                    await outbox.enqueue_all(conn, [(self.topic, env)], applied_by=CONSUMER)
                    fired += 1
                await store.save(conn, before, state)
        return fired

    def _timer_envelope(
        self, state: domain.State, payload: Payload, kind: str, due: datetime, now: datetime
    ) -> Envelope:
        assert state.clock is not None
        targets = state.clock.targets_event_id
        # the id follows from the targets and the timer: a second instance, or a restart, that
        # fires the same timer produces the same event
        seq = int.from_bytes(kind.encode()[:8].ljust(8, b"\0")) ^ int(due.timestamp())
        return Envelope.new(
            payload,
            source=NAME,
            subject=state.clock.ticket_id,
            time=now,
            actor=f"system:{NAME}",
            causationid=str(targets),
            event_id=derived_id(targets, payload.event_type, seq, due),
        )
