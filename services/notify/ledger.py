"""Notify's tables: what it knows of tickets, agents and preferences, and the ledger of
deliveries, keyed by (event, recipient, channel) so a message is queued once however often its
event is read. Every statement notify makes is here, returning typed values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from services.notify.audience import Message, OpenTicket, Preferences, Staff, TicketFacts
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.privacy import ERASED
from shared.domain.ticket import Ticket


@dataclass(frozen=True)
class Delivery:
    """One row of the ledger: a message (or a webhook call) and how its sending goes."""

    event_id: UUID
    recipient: str
    channel: str
    ticket_id: str
    template: str
    subject: str
    body: str
    attempts: int
    address: str | None

    @classmethod
    def of(cls, r: asyncpg.Record) -> Delivery:
        return cls(*(r[f] for f in cls.__dataclass_fields__))


# -- what notify knows ----------------------------------------------------------------------------


async def opened(conn: asyncpg.Connection, data: ev.TicketOpened, requester_ref: str) -> None:
    await conn.execute(
        "INSERT INTO tickets(id, requester, subject, language, requester_ref) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (id) DO NOTHING",
        data.ticket_id,
        data.requester,
        data.subject,
        data.language,
        requester_ref,
    )


@dataclass(frozen=True)
class Known:
    """What notify keeps of one ticket to handle its events."""

    state: Ticket | None  # the fold, for the digest
    facts: TicketFacts | None
    preferences: Preferences | None


_KNOWN_MANY = (
    "SELECT t.id, t.requester, t.subject, t.language, t.requester_ref, t.owner, t.state,"
    " p.language AS preferred_language, p.periodic_updates"
    " FROM tickets t LEFT JOIN preferences p ON p.requester = t.requester WHERE t.id = ANY($1::text[])"
)


async def known_many(conn: asyncpg.Connection, ticket_ids: list[str]) -> dict[str, Known]:
    """What notify knows of a batch's tickets, in one statement: their facts, their state (a
    pure fold of their events, for the digest: status, priority) and their requesters'
    preferences; the webhooks are `subscribers`'. A ticket notify has no row for is left out."""
    out: dict[str, Known] = {}
    for r in await conn.fetch(_KNOWN_MANY, ticket_ids):
        out[r["id"]] = Known(
            state=Ticket.model_validate_json(r["state"]) if r["state"] else None,
            facts=TicketFacts(*(r[f] for f in ("id", "requester", "subject", "language", "requester_ref", "owner"))),
            preferences=None
            if r["periodic_updates"] is None
            else Preferences(r["preferred_language"], r["periodic_updates"]),
        )
    return out


async def subscribers(conn: asyncpg.Connection) -> list[tuple[str, list[str]]]:
    """Every webhook subscription: (id, the event types it takes, '*' for all)."""
    rows = await conn.fetch("SELECT id, event_types FROM webhook_subscriptions")
    return [(r["id"], list(r["event_types"])) for r in rows]


def subscribed(subs: list[tuple[str, list[str]]], event_type: str) -> list[str]:
    return [sid for sid, types in subs if event_type in types or "*" in types]


async def save_states(
    conn: asyncpg.Connection, rows: list[tuple[str, Ticket | None, datetime | None, str | None]]
) -> None:
    """The batch's folds, one row per ticket, in one statement: (ticket, state, resolution due,
    owner), each None where it did not change."""
    if not rows:
        return
    await conn.execute(
        "UPDATE tickets t SET state = coalesce(u.state, t.state), resolution_due = coalesce(u.due, t.resolution_due),"
        " owner = coalesce(u.owner, t.owner)"
        " FROM unnest($1::text[], $2::jsonb[], $3::timestamptz[], $4::text[]) AS u(id, state, due, owner)"
        " WHERE t.id = u.id",
        [r[0] for r in rows],
        [r[1].model_dump_json() if r[1] is not None else None for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )


def resolution_due(env: Envelope) -> datetime | None:
    return env.data.resolution_due if isinstance(env.data, ev.TicketSlaTargetsSet | ev.TicketSlaResumed) else None


async def ticket(conn: asyncpg.Connection, ticket_id: str) -> TicketFacts | None:
    r = await conn.fetchrow(
        "SELECT id, requester, subject, language, requester_ref, owner FROM tickets WHERE id = $1", ticket_id
    )
    return TicketFacts(*r) if r else None


async def preferences(conn: asyncpg.Connection, requester: str) -> Preferences | None:
    r = await conn.fetchrow("SELECT language, periodic_updates FROM preferences WHERE requester = $1", requester)
    return Preferences(r["language"], r["periodic_updates"]) if r else None


async def staff(conn: asyncpg.Connection, agent_id: str | None) -> Staff | None:
    if not agent_id:
        return None
    r = await conn.fetchrow("SELECT name, email FROM agents WHERE id = $1", agent_id)
    return Staff(r["name"], r["email"]) if r else None


async def register_agent(conn: asyncpg.Connection, data: ev.AgentRegistered) -> list[tuple[UUID, str, str, str]]:
    """The agent as they are now; the assignments that waited for them: (event, agent, ticket,
    reason), taken off the waiting list."""
    await conn.execute(
        "INSERT INTO agents(id, name, email) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET name = $2, email = $3",
        data.agent_id,
        data.name,
        data.email,
    )
    rows = await conn.fetch("DELETE FROM awaiting_agent WHERE agent_id = $1 RETURNING *", data.agent_id)
    return [(r["event_id"], r["agent_id"], r["ticket_id"], r["reason"]) for r in rows]


async def await_agent(conn: asyncpg.Connection, event_id: UUID, agent_id: str, ticket_id: str, reason: str) -> None:
    """An assignment to an agent the roster has not told of yet: mailed once it does."""
    await conn.execute(
        "INSERT INTO awaiting_agent(event_id, agent_id, ticket_id, reason) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT DO NOTHING",
        event_id,
        agent_id,
        ticket_id,
        reason,
    )


async def erase(conn: asyncpg.Connection, data: ev.TicketRequesterErased) -> bool:
    """Nothing of the erased requester stays in the ledger: messages not yet sent are cancelled,
    the words of those sent (and the ticket's lines in agents' digests) become `[erased]`, their
    address and preferences go. False: the ticket is unknown here."""
    t = await conn.fetchrow("SELECT requester, subject FROM tickets WHERE id = $1", data.ticket_id)
    if t is None:
        return False
    await conn.execute(
        "UPDATE deliveries SET body = replace(body, $1, $2), subject = replace(subject, $1, $2)"
        " WHERE template = 'digest' AND $1 <> $2",
        t["subject"],
        ERASED,
    )
    await conn.execute(
        "UPDATE deliveries SET subject = $2, body = $2, address = NULL, last_error = NULL,"
        " status = CASE WHEN status IN ('pending', 'sending') THEN 'cancelled' ELSE status END"
        " WHERE ticket_id = $1",
        data.ticket_id,
        ERASED,
    )
    await conn.execute(
        "UPDATE tickets SET requester = $2, requester_ref = $2, subject = $3 WHERE id = $1",
        data.ticket_id,
        data.requester,
        ERASED,
    )
    if t["requester"] != data.requester:
        await conn.execute("DELETE FROM preferences WHERE requester = $1", t["requester"])
    return True


# -- the ledger ---------------------------------------------------------------------------------


async def queue(conn: asyncpg.Connection, event_id: UUID, ticket_id: str, m: Message, now: datetime) -> None:
    """A message, in its words, due now (nothing if it was queued already)."""
    await queue_many(conn, [(event_id, ticket_id, m, now)])


Queued = tuple[UUID, str, Message, datetime]  # (event, ticket, message, due)


async def queue_many(conn: asyncpg.Connection, items: list[Queued]) -> None:
    """Messages, in their words, in one statement (a consumer's batch: a statement per message was
    a round trip each). The claim sends a ticket's messages in the order of their due times, so
    each is due strictly after the one queued before it, even within one tick of the clock."""
    if not items:
        return
    columns: list[list[Any]] = [[] for _ in range(8)]
    last: datetime | None = None
    for event_id, ticket_id, m, due in items:
        subject, body = m.words()
        last = due if last is None or due > last else last + timedelta(microseconds=1)
        for column, value in zip(
            columns, (event_id, m.to.label, ticket_id, m.template, subject, body, last, m.to.address), strict=True
        ):
            column.append(value)
    await conn.execute(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at, address)"
        " SELECT e, r, 'email', t, tp, s, b, n, a FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
        " $5::text[], $6::text[], $7::timestamptz[], $8::text[]) AS u(e, r, t, tp, s, b, n, a)"
        " ON CONFLICT DO NOTHING",
        *columns,
    )


async def queue_webhooks(conn: asyncpg.Connection, env: Envelope, subscriptions: list[str], now: datetime) -> None:
    """One delivery per matching subscription (`subscribed`). Notification facts are never
    sent to webhooks: each webhook delivery is itself one, and they would feed each other."""
    if env.type.startswith("notification.") or not subscriptions:
        return
    body = json.dumps(env.to_json(), ensure_ascii=False)
    await conn.execute(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at)"
        " SELECT $1, unnest($2::text[]), 'webhook', $3, 'cloudevent', $4, $5, $6 ON CONFLICT DO NOTHING",
        env.id,
        subscriptions,
        env.subject,
        env.type,
        body,
        now,
    )


async def outcome(conn: asyncpg.Connection, data: ev.NotificationSent | ev.NotificationFailed, at: datetime) -> None:
    """The ledger is a fold too: a replay into an empty schema learns what was already sent."""
    sent = isinstance(data, ev.NotificationSent)
    await conn.execute(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, status,"
        " attempts, next_at, sent_at) VALUES ($1, $2, $3, $4, $5, '', '', $6, $7, $8, $9)"
        " ON CONFLICT DO NOTHING",
        UUID(data.about_event_id),
        data.recipient,
        data.channel,
        data.ticket_id,
        data.template if isinstance(data, ev.NotificationSent) else "",
        "sent" if sent else "failed",
        data.attempts if isinstance(data, ev.NotificationFailed) else 1,
        at,
        at if sent else None,
    )


CLAIMS_LOCK = "mesa.notify.claim"
# a message's group: its ticket, else (a digest) its recipient
_GROUP = "{t}.ticket_id, CASE WHEN {t}.ticket_id = '' THEN {t}.recipient ELSE '' END"

_CLAIM = (
    "UPDATE deliveries d SET status = 'sending', next_at = $3 FROM ("
    " SELECT event_id, recipient, channel FROM deliveries c"
    " WHERE status IN ('pending', 'sending') AND next_at <= $1"
    " AND (channel <> 'webhook' OR EXISTS (SELECT 1 FROM webhook_subscriptions w"
    " WHERE w.id = recipient AND w.active))"
    # a group (the ticket, else the recipient) with a message on its way, on this instance or
    # another, waits for it to settle: its messages leave one at a time, in order. NOT IN over
    # the groups on their way is read once and hashed; a NOT EXISTS per candidate walked every
    # message on its way, and the index entries they left, for each row considered (5 ms a
    # claim under load), and a join on them loses the order the claim reads in
    f" AND ({_GROUP.format(t='c')}) NOT IN (SELECT {_GROUP.format(t='s')} FROM deliveries s"
    " WHERE s.status = 'sending' AND s.next_at > $1)"
    " ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) due"
    " WHERE d.event_id = due.event_id AND d.recipient = due.recipient AND d.channel = due.channel"
    " RETURNING d.*"
)


async def claim(pool: asyncpg.Pool, now: datetime, limit: int, lease: timedelta) -> list[Delivery]:
    """Rows due now, marked `sending` under a lease and committed: a sender that dies leaves them
    to be sent again once the lease runs out. Claims take turns (a transaction lock, held for
    the one statement): a claim then sees every row another instance's claim took, and passes
    over their groups (a row under a lock is not seen as `sending` until its claim commits)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", CLAIMS_LOCK)
        rows = await conn.fetch(_CLAIM, now, limit, now + lease)
    return [Delivery.of(r) for r in rows]


async def release(pool: asyncpg.Pool, rows: list[Delivery], now: datetime) -> None:
    """Rows claimed and never attempted, due again at once, in the order they were claimed (a
    microsecond apart): an instance that stops hands them to the next claim instead of holding
    them until their lease runs out."""
    if not rows:
        return
    await pool.execute(
        "UPDATE deliveries d SET status = 'pending', next_at = r.at"
        " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS r(event_id, recipient, channel, at)"
        " WHERE d.event_id = r.event_id AND d.recipient = r.recipient AND d.channel = r.channel"
        " AND d.status = 'sending'",
        [d.event_id for d in rows],
        [d.recipient for d in rows],
        [d.channel for d in rows],
        [now - timedelta(microseconds=len(rows) - 1 - i) for i in range(len(rows))],  # all due by `now`
    )


SENT = (
    "UPDATE deliveries d SET status = 'sent', attempts = u.attempts, sent_at = u.at"
    " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[], $5::timestamptz[])"
    " AS u(event_id, recipient, channel, attempts, at)"
    " WHERE d.event_id = u.event_id AND d.recipient = u.recipient AND d.channel = u.channel"
)


SentMail = tuple[Delivery, int, datetime]  # a row the server accepted: its attempts, and when


def sent_args(outcomes: Sequence[SentMail]) -> tuple[list[Any], ...]:
    """`SENT`'s parameters for many rows: one statement."""
    return (
        [d.event_id for d, _, _ in outcomes],
        [d.recipient for d, _, _ in outcomes],
        [d.channel for d, _, _ in outcomes],
        [attempts for _, attempts, _ in outcomes],
        [at for _, _, at in outcomes],
    )


async def sent(conn: asyncpg.Connection, d: Delivery, attempts: int, at: datetime) -> None:
    await conn.execute(SENT, *sent_args([(d, attempts, at)]))


async def retry(conn: asyncpg.Connection, d: Delivery, attempts: int, error: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = $4, last_error = $5, next_at = $6"
        " WHERE event_id = $1 AND recipient = $2 AND channel = $3",
        d.event_id,
        d.recipient,
        d.channel,
        attempts,
        error[:1000],
        at,
    )


async def given_up(conn: asyncpg.Connection, d: Delivery, attempts: int, error: str) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'failed', attempts = $4, last_error = $5"
        " WHERE event_id = $1 AND recipient = $2 AND channel = $3",
        d.event_id,
        d.recipient,
        d.channel,
        attempts,
        error[:1000],
    )


async def bounced(conn: asyncpg.Connection, event_id: UUID, address: str, why: str) -> Delivery | None:
    """A mail that was sent came back (a delivery report): failed now. None when no mail of that
    event went to that address (or it was already known to have failed)."""
    row = await conn.fetchrow(
        "UPDATE deliveries SET status = 'failed', last_error = $3 WHERE event_id = $1 AND channel = 'email'"
        " AND lower(address) = lower($2) AND status = 'sent' RETURNING *",
        event_id,
        address,
        why[:1000],
    )
    return Delivery.of(row) if row else None


# -- webhooks -----------------------------------------------------------------------------------


async def subscription(conn: asyncpg.Connection, sub_id: str) -> tuple[str, str] | None:
    """(url, secret) of a subscription."""
    r = await conn.fetchrow("SELECT url, secret FROM webhook_subscriptions WHERE id = $1", sub_id)
    return (r["url"], r["secret"]) if r else None


async def webhook_failed(conn: asyncpg.Connection, sub_id: str, given_up: bool, pause_after: int, why: str) -> None:
    """A delivery given up counts; so many in a row pause the subscription (an admin resumes it)."""
    await conn.execute(
        "UPDATE webhook_subscriptions SET failures = failures + $2 WHERE id = $1", sub_id, 1 if given_up else 0
    )
    await conn.execute(
        "UPDATE webhook_subscriptions SET active = false, paused_reason = $2"
        " WHERE id = $1 AND failures >= $3 AND active",
        sub_id,
        why[:1000],
        pause_after,
    )


async def subscriptions(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT id, url, event_types, active, failures, paused_reason FROM webhook_subscriptions ORDER BY id"
    )
    return [dict(r) for r in rows]


async def subscribe(pool: asyncpg.Pool, sub_id: str, url: str, secret: str, event_types: list[str]) -> None:
    """A new subscription, or an old one changed and active again."""
    await pool.execute(
        "INSERT INTO webhook_subscriptions(id, url, secret, event_types) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (id) DO UPDATE SET url = $2, secret = $3, event_types = $4, active = true, failures = 0,"
        " paused_reason = NULL",
        sub_id,
        url,
        secret,
        event_types,
    )


async def resume(pool: asyncpg.Pool, sub_id: str) -> bool:
    done = await pool.fetchval(
        "UPDATE webhook_subscriptions SET active = true, failures = 0, paused_reason = NULL WHERE id = $1 RETURNING 1",
        sub_id,
    )
    return bool(done)


async def set_preferences(pool: asyncpg.Pool, requester: str, language: str | None, periodic_updates: bool) -> None:
    await pool.execute(
        "INSERT INTO preferences(requester, language, periodic_updates) VALUES ($1, $2, $3)"
        " ON CONFLICT (requester) DO UPDATE SET language = $2, periodic_updates = $3",
        requester,
        language,
        periodic_updates,
    )


async def webhook_ok(conn: asyncpg.Connection, sub_id: str) -> None:
    await conn.execute("UPDATE webhook_subscriptions SET failures = 0 WHERE id = $1", sub_id)


# -- the digest -----------------------------------------------------------------------------------


async def agents(conn: asyncpg.Connection) -> list[tuple[str, Staff]]:
    rows = await conn.fetch("SELECT id, name, email FROM agents ORDER BY id")
    return [(r["id"], Staff(r["name"], r["email"])) for r in rows]


async def open_tickets_of(conn: asyncpg.Connection, agent_id: str, statuses: tuple[str, ...]) -> list[OpenTicket]:
    rows = await conn.fetch(
        "SELECT id, subject, state->>'status' AS status, state->>'priority' AS priority, resolution_due"
        " FROM tickets WHERE owner = $1 AND state->>'status' = ANY($2::text[])"
        " ORDER BY resolution_due NULLS LAST, id",
        agent_id,
        list(statuses),
    )
    return [OpenTicket(*r) for r in rows]


async def queue_digest(conn: asyncpg.Connection, event_id: UUID, m: Message, now: datetime) -> bool:
    """An agent's digest, about no ticket; False when today's was queued already."""
    return await queue_staff(conn, event_id, m, now)


async def queue_staff(conn: asyncpg.Connection, event_id: UUID, m: Message, now: datetime) -> bool:
    """A mail to a member of the staff about no ticket (a digest, an audit, an action); False
    when it was queued already."""
    subject, body = m.words()
    done = await conn.fetchval(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at,"
        " address) VALUES ($1, $2, 'email', '', $3, $4, $5, $6, $2)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        event_id,
        m.to.address,
        m.template,
        subject,
        body,
        now,
    )
    return bool(done)
