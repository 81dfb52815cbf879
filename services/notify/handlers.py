"""Notify's consumers: who should hear about an event, in which words (services/notify/audience.py),
queued in the consumer's transaction in the ledger (services/notify/ledger.py), keyed by (event,
recipient, channel). Sending is the delivery loop's (services/notify/delivery.py).

A restart or a replay never sends twice: history queues nothing, and a queued message is sent by
the loop that locks its row.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

import asyncpg

from services.notify import audience, ledger
from services.notify.audience import Audience, TicketFacts
from services.notify.delivery import Deliverer
from services.notify.targets import allow_list
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.domain.ticket import Ticket, evolve
from shared.platform.clock import Clock
from shared.platform.consumer import Delivery
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.settings import Settings

NOTHING_KNOWN = ledger.Known(state=None, facts=None, preferences=None)
NAME = "notify"
TICKETS_CONSUMER = "notify-tickets"
# notify's own outcomes on the ticket's log: live, the ledger wrote each one as it settled the
# message (so the consumer passes them over unread); history teaches a rebuilt schema what was sent
OWN_OUTCOMES: tuple[type[Payload], ...] = (ev.NotificationSent, ev.NotificationFailed)
AGENTS_CONSUMER = "notify-agents"
WORKSPACE_CONSUMER = "notify-workspace"


def audience_of(settings: Settings) -> Audience:
    return Audience(
        public_url=settings.public_url,
        user_domain=settings.user_email_domain,
        supervisors=tuple(a.strip() for a in settings.supervisors.split(",") if a.strip()),
        staff_language=settings.default_language,
        auditors=tuple(a.strip() for a in settings.auditors.split(",") if a.strip()),
    )


class Notify:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock, keyring: Keyring) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.keyring = keyring
        self.audience = audience_of(settings)
        self.deliverer = Deliverer(settings, pool, clock, Letters(keyring), self.audience)
        self.webhook_hosts = allow_list(settings.webhook_allow_hosts)

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        if isinstance(env.data, ev.AgentRegistered):
            # assignments that arrived before this registration: their mails can go now
            for event_id, agent_id, ticket_id, reason in await ledger.register_agent(conn, env.data):
                if (t := await ledger.ticket(conn, ticket_id)) is not None:
                    await ledger.queue_many(conn, await self._for_owner(conn, event_id, t, agent_id, reason))

    async def on_workspace_event(self, conn: asyncpg.Connection, env: Envelope, d: Delivery) -> None:
        """Clause 12: a period's audit to the supervisors and auditors; an action to its owner."""
        if d.replaying:
            return
        now = self.clock.now()
        match env.data:
            case ev.ReviewOpened() as r:
                for m in audience.audit_review(r, self.audience):
                    await ledger.queue_staff(conn, env.id, m, now)
            case ev.ActionPlanned() as p:
                owner = await ledger.staff(conn, p.owner)
                if owner is not None:
                    await ledger.queue_staff(conn, env.id, audience.action_assigned(p, owner, self.audience), now)

    async def on_ticket_events(self, conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        """A partition's batch: the tickets it touches read in one statement, each one's state
        written once. An erasure splits the batch: what follows it is opened without the key it
        shredded, as if it came alone."""
        segment: list[tuple[Envelope, Delivery]] = []
        for sealed, d in items:
            if isinstance(sealed.data, OWN_OUTCOMES):
                # notify's own outcomes: live, the ledger wrote this one as it settled the message;
                # history (a schema rebuilt from the log) learns from it what was already sent. They
                # change no ticket fact notify keeps, so neither the ticket's row nor its key is read.
                if d.replaying:
                    opened = await self.keyring.open_envelope(sealed, conn=conn)
                    assert isinstance(opened.data, ev.NotificationSent | ev.NotificationFailed)
                    await ledger.outcome(conn, opened.data, opened.time)
                continue
            segment.append((sealed, d))
            if isinstance(sealed.data, ev.TicketRequesterErased):
                await self._segment(conn, segment)
                segment = []
        await self._segment(conn, segment)

    async def _segment(self, conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        if not items:
            return
        envs = await self.keyring.open_envelopes([sealed for sealed, _ in items], conn=conn)
        known = await ledger.known_many(conn, list(dict.fromkeys(env.subject for env in envs)))
        subs = await ledger.subscribers(conn) if not all(d.replaying for _, d in items) else []
        changed: dict[str, tuple[Ticket | None, datetime | None, str | None]] = {}
        told: list[ledger.Queued] = []  # queued together at the end, in order
        for (sealed, d), env in zip(items, envs, strict=True):
            data = env.data
            match data:
                case ev.TicketOpened():
                    assert isinstance(sealed.data, ev.TicketOpened)
                    await ledger.opened(conn, data, sealed.data.requester)
                    known |= self._reread(known, await ledger.known_many(conn, [env.subject]))
                case ev.TicketRequesterErased():
                    await ledger.queue_many(conn, told)  # erasing covers what was queued before it
                    told = []
                    if await ledger.erase(conn, data):
                        self.keyring.forget(data.requester)
                    known |= self._reread(known, await ledger.known_many(conn, [env.subject]))
            k = known.get(env.subject, NOTHING_KNOWN)
            owner = data.agent_id if isinstance(data, ev.TicketAssigned) else None
            after = evolve(k.state, env)
            if after is not None or owner is not None:  # written once per ticket, at the end
                state, due, was_owner = changed.get(env.subject, (None, None, None))
                changed[env.subject] = (after or state, ledger.resolution_due(env) or due, owner or was_owner)
                facts = replace(k.facts, owner=owner) if k.facts is not None and owner else k.facts
                known[env.subject] = replace(k, state=after or k.state, facts=facts)
            if not d.replaying:
                told += await self._tell(conn, env, k, ledger.subscribed(subs, env.type))
        await ledger.queue_many(conn, told)
        await ledger.save_states(conn, [(tid, *change) for tid, change in changed.items()])

    @staticmethod
    def _reread(known: dict[str, ledger.Known], fresh: dict[str, ledger.Known]) -> dict[str, ledger.Known]:
        """A ticket read again after a write to its row: its facts anew, its state as this batch
        folded it so far (written at the batch's end)."""
        return {
            tid: replace(k, state=known[tid].state) if tid in known and known[tid].state is not None else k
            for tid, k in fresh.items()
        }

    async def _tell(
        self, conn: asyncpg.Connection, env: Envelope, k: ledger.Known, webhooks: list[str]
    ) -> list[ledger.Queued]:
        """What one live event says to whom (`k`: the ticket as it was before the event); the
        webhooks queued now, the mails returned for the batch to queue."""
        data = env.data
        await ledger.queue_webhooks(conn, env, webhooks, self.clock.now())
        if isinstance(data, ev.TicketOpened):
            return []  # the requester hears once the targets are set (ticket.sla_targets_set)
        t = k.facts
        if t is None:
            return []
        if isinstance(data, ev.TicketAssigned):
            return await self._for_owner(conn, env.id, replace(t, owner=data.agent_id), data.agent_id, data.reason)
        owner_staff = await ledger.staff(conn, t.owner) if _needs_owner(data) else None
        return [
            (env.id, env.subject, m, self.clock.now())
            for m in audience.messages(env, t, k.preferences, owner_staff, self.audience)
        ]

    async def _for_owner(
        self, conn: asyncpg.Connection, event_id: UUID, t: TicketFacts, agent_id: str, reason: str
    ) -> list[ledger.Queued]:
        agent = await ledger.staff(conn, agent_id)
        if agent is None:
            await ledger.await_agent(conn, event_id, agent_id, t.id, reason)
            return []
        return [(event_id, t.id, audience.assigned(t, agent, reason, self.audience), self.clock.now())]


def _needs_owner(data: object) -> bool:
    """Only these go to the owner: other events spare the lookup."""
    return isinstance(data, ev.TicketSlaWarning | ev.TicketSlaBreached | ev.TicketCustomerReplied | ev.TicketReopened)
