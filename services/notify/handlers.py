"""Notify: who should hear about an event, in which words (queued in the consumer's transaction,
keyed by (event, recipient, channel)), and the delivery loop that sends them.

A restart or a replay never sends twice: history queues nothing, and a queued message is sent
by the loop that locks its row. A send that fails is retried with backoff; after the last try it
is recorded as `notification.failed` (an event a supervisor sees) instead of being retried forever.
The Message-ID is derived from the key, so even a send repeated after a crash between the SMTP
answer and the commit is recognisable as the same message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import aiosmtplib
import asyncpg
import httpx

from services.notify.targets import TargetRefused, allow_list, check_target
from services.notify.templates import render, to_html
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.envelope import derived_id
from shared.domain.privacy import ERASED, REQUESTER_ROLE, is_ref
from shared.domain.ticket import OPEN_STATUSES, Ticket, evolve
from shared.platform import db, outbox
from shared.platform.clock import Clock
from shared.platform.consumer import Delivery
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.topics import DLQ_SUFFIX, TICKET_EVENTS

NAME = "notify"
TICKETS_CONSUMER = "notify-tickets"
AGENTS_CONSUMER = "notify-agents"
log = get_logger(__name__)
WEBHOOK_PAUSE_AFTER = 3  # deliveries given up in a row before a subscription is paused


class SendFailed(Exception):
    """One delivery attempt did not go through; retried with backoff, then given up."""


def signature(secret: str, timestamp: str, body: str) -> str:
    """`X-Mesa-Signature`: HMAC-SHA256 over "<timestamp>.<body>" with the subscription's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"sha256={mac}"


async def post_webhook(http: httpx.AsyncClient, url: str, secret: str, body: str, now: datetime) -> None:
    ts = str(int(now.timestamp()))
    headers = {
        "content-type": "application/cloudevents+json",
        "X-Mesa-Timestamp": ts,
        "X-Mesa-Signature": signature(secret, ts, body),
    }
    try:
        r = await http.post(url, content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        raise SendFailed(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= r.status_code < 300:
        raise SendFailed(f"HTTP {r.status_code}" + (" (redirects are not followed)" if r.is_redirect else ""))


SEND_LEASE = timedelta(seconds=60)  # a claimed row is sent again after this if its sender died
DIGEST_NAMESPACE = UUID("6f1c1d2e-1b8e-4c7a-9a57-2c0a8f6d9e10")
UNDELIVERED_NAMESPACE = UUID("0b8f3c6e-7d2a-4e1f-9c5b-3a6d8e2f1c47")


def digest_day(now: datetime, hour: int, timezone: str) -> date | None:
    """The local day whose digest is due at `now` (from `hour` o'clock on), else None."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.date() if local.hour >= hour else None


def _fmt(when: datetime, language: str, timezone: str = "UTC") -> str:
    """A due time as people read it: in the support calendar's zone, named."""
    local = when.astimezone(ZoneInfo(timezone))
    zone = local.tzname() or timezone
    return local.strftime(f"%d/%m/%Y %H:%M {zone}") if language == "es" else local.strftime(f"%Y-%m-%d %H:%M {zone}")


@dataclass(frozen=True)
class To:
    """A recipient as the ledger and the log name them (`label`: a requester by pseudonym) and
    where the mail goes (`address`, dropped when they are erased)."""

    label: str
    address: str


def _without(error: str, row: asyncpg.Record) -> str:
    """An SMTP error as we keep it: a requester's address (servers echo it) by their label."""
    address = row.get("address")
    return error.replace(address, row["recipient"]) if address and address != row["recipient"] else error


class Notify:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock, keyring: Keyring) -> None:
        self.settings = settings
        self.letters = Letters(keyring)
        self.pool = pool
        self.clock = clock
        self.keyring = keyring
        self.smtp_host, self.smtp_port = settings.smtp_host, settings.smtp_port
        self._client: aiosmtplib.SMTP | None = None  # one connection per delivery batch
        self.sender = settings.mail_from
        self.public_url = settings.public_url
        self.user_domain = settings.user_email_domain
        self.topic = settings.topic(TICKET_EVENTS)
        self.http = httpx.AsyncClient(timeout=10, follow_redirects=False)  # a 3xx is a failure
        self.webhook_hosts = allow_list(settings.webhook_allow_hosts)

    @property
    def supervisors(self) -> list[str]:
        return [a.strip() for a in self.settings.supervisors.split(",") if a.strip()]

    @property
    def staff_language(self) -> str:
        return self.settings.default_language

    async def _owner(self, conn: asyncpg.Connection, agent_id: str | None) -> tuple[str, str] | None:
        if not agent_id:
            return None
        row = await conn.fetchrow("SELECT name, email FROM agents WHERE id = $1", agent_id)
        return (row["name"], row["email"]) if row else None

    async def _tell_staff_undelivered(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        """A mail that could not go is a person not told: the ticket's owner (else the
        supervisors) hears of it, once, to reach them another way. Never about such a mail itself
        (no loop), nor for webhooks (their subscription pauses and an admin sees it)."""
        if row["channel"] != "email" or row["template"] in ("delivery_failed", "digest"):
            return
        t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", row["ticket_id"])
        if t is None:
            return
        owner = await self._owner(conn, t["owner"])
        params = {
            "ticket_id": t["id"],
            "subject": t["subject"],
            "mail": row["template"],
            "url": f"{self.public_url}/t/{t['id']}",
        }
        about = uuid5(UNDELIVERED_NAMESPACE, f"{row['event_id']}|{row['recipient']}")
        for who in [owner[1]] if owner else self.supervisors:
            await self._queue_id(conn, about, t["id"], who, "delivery_failed", self.staff_language, params)

    def requester_address(self, requester: str) -> str:
        return requester if "@" in requester else f"{requester}@{self.user_domain}"

    # -- consumers --------------------------------------------------------------------------

    async def on_agent_event(self, conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        if isinstance(env.data, ev.AgentRegistered):
            await conn.execute(
                "INSERT INTO agents(id, name, email) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO UPDATE SET name = $2, email = $3",
                env.data.agent_id,
                env.data.name,
                env.data.email,
            )
            # assignments that arrived before this registration: their mails can go now
            waiting = await conn.fetch("DELETE FROM awaiting_agent WHERE agent_id = $1 RETURNING *", env.data.agent_id)
            for w in waiting:
                await self._tell_owner(conn, w["event_id"], w["ticket_id"], w["agent_id"], w["reason"])

    async def _queue_webhooks(self, conn: asyncpg.Connection, env: Envelope) -> None:
        """One delivery per matching subscription. Notification facts are never sent to webhooks:
        each webhook delivery is itself one, and they would feed each other."""
        if env.type.startswith("notification."):
            return
        subs = await conn.fetch(
            "SELECT id FROM webhook_subscriptions WHERE $1 = ANY(event_types) OR '*' = ANY(event_types)", env.type
        )
        body = json.dumps(env.to_json(), ensure_ascii=False)
        for sub in subs:
            await conn.execute(
                "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at)"
                " VALUES ($1, $2, 'webhook', $3, 'cloudevent', $4, $5, $6) ON CONFLICT DO NOTHING",
                env.id,
                sub["id"],
                env.subject,
                env.type,
                body,
                self.clock.now(),
            )

    async def _tell_owner(
        self, conn: asyncpg.Connection, event_id: UUID, ticket_id: str, agent_id: str, reason: str
    ) -> None:
        t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)
        agent = await conn.fetchrow("SELECT name, email FROM agents WHERE id = $1", agent_id)
        if t is None:
            return
        if agent is None:
            await conn.execute(
                "INSERT INTO awaiting_agent(event_id, agent_id, ticket_id, reason) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT DO NOTHING",
                event_id,
                agent_id,
                ticket_id,
                reason,
            )
            return
        params = {
            "ticket_id": t["id"],
            "subject": t["subject"],
            "url": f"{self.public_url}/t/{t['id']}",
            "agent_name": agent["name"],
            "reason": reason,
        }
        await self._queue_id(conn, event_id, ticket_id, agent["email"], "assigned", t["language"], params)

    async def on_ticket_event(self, conn: asyncpg.Connection, sealed: Envelope, d: Delivery) -> None:
        env = await self.keyring.open_envelope(sealed, conn=conn)
        data = env.data
        if isinstance(data, ev.TicketOpened):
            assert isinstance(sealed.data, ev.TicketOpened)
            await conn.execute(
                "INSERT INTO tickets(id, requester, subject, language, requester_ref) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (id) DO NOTHING",
                data.ticket_id,
                data.requester,
                data.subject,
                data.language,
                sealed.data.requester,
            )
        if isinstance(data, ev.TicketRequesterErased):
            await self._erase(conn, data)
        if isinstance(data, ev.TicketAssigned):
            await conn.execute("UPDATE tickets SET owner = $2 WHERE id = $1", data.ticket_id, data.agent_id)
        await self._fold_state(conn, env)
        if isinstance(data, ev.NotificationSent | ev.NotificationFailed):
            # the ledger is a fold too: a replay into an empty schema learns what was already sent
            await conn.execute(
                "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, status,"
                " attempts, next_at, sent_at) VALUES ($1, $2, $3, $4, $5, '', '', $6, $7, $8, $9)"
                " ON CONFLICT DO NOTHING",
                UUID(data.about_event_id),
                data.recipient,
                data.channel,
                data.ticket_id,
                data.template if isinstance(data, ev.NotificationSent) else "",
                "sent" if isinstance(data, ev.NotificationSent) else "failed",
                data.attempts if isinstance(data, ev.NotificationFailed) else 1,
                env.time,
                env.time if isinstance(data, ev.NotificationSent) else None,
            )
            return
        if d.replaying:
            return
        await self._queue_webhooks(conn, env)
        if isinstance(data, ev.TicketOpened):
            return  # the requester hears once the targets are set (ticket.sla_targets_set)
        t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", env.subject)
        if t is None:
            return
        pref = await conn.fetchrow("SELECT * FROM preferences WHERE requester = $1", t["requester"])
        lang = (pref["language"] if pref and pref["language"] else None) or t["language"]
        wants_updates = pref is None or pref["periodic_updates"]
        url = f"{self.public_url}/t/{t['id']}"
        base = {"ticket_id": t["id"], "subject": t["subject"], "url": url}
        address = self.requester_address(t["requester"])
        ref = t["requester_ref"]  # (tickets opened before pseudonyms are named by address)
        to_requester = To(f"{REQUESTER_ROLE}:{ref}" if ref and is_ref(ref) else address, address)
        match data:
            case ev.TicketSlaTargetsSet():
                await self._queue(
                    conn,
                    env,
                    to_requester,
                    "received",
                    lang,
                    base
                    | {
                        "priority": data.priority.value,
                        "first_response_due": _fmt(data.first_response_due, lang, data.timezone),
                        "resolution_due": _fmt(data.resolution_due, lang, data.timezone),
                    },
                )
            case ev.TicketAssigned():
                await self._tell_owner(conn, env.id, data.ticket_id, data.agent_id, data.reason)
            case ev.TicketInfoRequested():
                await self._queue(conn, env, to_requester, "info_requested", lang, base | {"question": data.question})
            case ev.TicketCommented() if data.author_role == "agent" and not data.internal:
                await self._queue(conn, env, to_requester, "update", lang, base | {"body": data.body})
            case ev.TicketSlaWarning() if data.target != "next_response":
                owner = await self._owner(conn, t["owner"])
                if owner:
                    await self._queue(
                        conn,
                        env,
                        owner[1],
                        "sla_warning",
                        self.staff_language,
                        base
                        | {
                            "target": data.target,
                            "due": _fmt(data.due, self.staff_language),
                        },
                    )
            case ev.TicketSlaBreached() if data.target == "next_response":
                # no public update within the interval: tell the requester we are on it (unless
                # they opted out of these; messages that need their answer always go)
                if wants_updates:
                    await self._queue(conn, env, to_requester, "status_update", lang, base)
            case ev.TicketSlaBreached():
                owner = await self._owner(conn, t["owner"])
                params = base | {
                    "target": data.target,
                    "due": _fmt(data.due, self.staff_language),
                    "owner": owner[0] if owner else "-",
                }
                for who in [*([owner[1]] if owner else []), *self.supervisors]:
                    await self._queue(conn, env, who, "sla_breached", self.staff_language, params)
            case ev.TicketEscalated():
                reason = data.reason if self.staff_language == "es" or not data.reason_en else data.reason_en
                params = base | {"from_level": str(data.from_level), "to_level": str(data.to_level), "reason": reason}
                for who in self.supervisors:
                    await self._queue(conn, env, who, "escalated", self.staff_language, params)
            case ev.TicketInfoReminder():
                await self._queue(conn, env, to_requester, "reminder", lang, base)
            case ev.TicketResolved():
                await self._queue(
                    conn,
                    env,
                    to_requester,
                    "resolved",
                    lang,
                    base | {"summary": data.summary, "kb_url": f"{self.public_url}/kb"},
                )
            case ev.TicketClosed():
                await self._queue(conn, env, to_requester, "closed", lang, base)

    async def _erase(self, conn: asyncpg.Connection, data: ev.TicketRequesterErased) -> None:
        """Nothing of the erased requester stays in the ledger: messages not yet sent are
        cancelled, the words of those sent (and the ticket's lines in agents' digests) become
        `[erased]`, their address and preferences go."""
        t = await conn.fetchrow("SELECT requester, subject FROM tickets WHERE id = $1", data.ticket_id)
        if t is None:
            return
        self.keyring.forget(data.requester)
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

    async def _fold_state(self, conn: asyncpg.Connection, env: Envelope) -> None:
        """Status and resolution due time, for the digest (a pure fold: replays give the same)."""
        raw = await conn.fetchval("SELECT state FROM tickets WHERE id = $1", env.subject)
        before = Ticket.model_validate_json(raw) if raw else None
        after = evolve(before, env)
        if after is None:
            return
        due = env.data.resolution_due if isinstance(env.data, ev.TicketSlaTargetsSet | ev.TicketSlaResumed) else None
        await conn.execute(
            "UPDATE tickets SET state = $2::jsonb, resolution_due = coalesce($3, resolution_due) WHERE id = $1",
            env.subject,
            after.model_dump_json(),
            due,
        )

    # -- the agents' daily digest ------------------------------------------------------------

    async def queue_digests(self) -> int:
        """Queue today's digest for every agent with open tickets, once per agent and day (the
        delivery key is derived from both). Returns how many were new."""
        day = digest_day(self.clock.now(), self.settings.digest_hour, self.settings.digest_timezone)
        if day is None:
            return 0
        queued = 0
        async with self.pool.acquire() as conn, conn.transaction():
            agents = await conn.fetch("SELECT * FROM agents ORDER BY id")
            for agent in agents:
                rows = await conn.fetch(
                    "SELECT id, subject, state->>'status' AS status, state->>'priority' AS priority, resolution_due"
                    " FROM tickets WHERE owner = $1 AND state->>'status' = ANY($2::text[])"
                    " ORDER BY resolution_due NULLS LAST, id",
                    agent["id"],
                    [s.value for s in OPEN_STATUSES],
                )
                if not rows:
                    continue
                lang = self.staff_language
                lines = [
                    f"- {r['id']} [{r['priority']}] {r['subject']} ({r['status']})"
                    + (f" · {_fmt(r['resolution_due'], lang)}" if r["resolution_due"] else "")
                    for r in rows
                ]
                event_id = uuid5(DIGEST_NAMESPACE, f"{agent['id']}|{day.isoformat()}")
                params = {
                    "agent_name": agent["name"],
                    "day": day.isoformat(),
                    "count": str(len(rows)),
                    "items": "\n".join(lines),
                    "url": f"{self.public_url}/console",
                }
                subject, body = render("digest", lang, **params)
                done = await conn.fetchval(
                    "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at,"
                    " address) VALUES ($1, $2, 'email', '', 'digest', $3, $4, $5, $2)"
                    " ON CONFLICT DO NOTHING RETURNING 1",
                    event_id,
                    agent["email"],
                    subject,
                    body,
                    self.clock.now(),
                )
                queued += int(bool(done))
        return queued

    async def digest_loop(self, interval: float = 60.0) -> None:
        while True:
            try:
                if await self.queue_digests():
                    log.info("daily digests queued")
            except db.TRANSIENT as exc:
                log.warning("digest loop retry", error=str(exc))
            await asyncio.sleep(interval)

    async def _queue(
        self,
        conn: asyncpg.Connection,
        env: Envelope,
        recipient: str | To,
        template: str,
        lang: str,
        params: dict[str, str],
    ) -> None:
        await self._queue_id(conn, env.id, env.subject, recipient, template, lang, params)

    async def _queue_id(
        self,
        conn: asyncpg.Connection,
        event_id: UUID,
        ticket_id: str,
        recipient: str | To,
        template: str,
        lang: str,
        params: dict[str, str],
    ) -> None:
        to = recipient if isinstance(recipient, To) else To(recipient, recipient)
        subject, body = render(template, lang, **params)
        await conn.execute(
            "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body,"
            " next_at, address)"
            " VALUES ($1, $2, 'email', $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
            event_id,
            to.label,
            ticket_id,
            template,
            subject,
            body,
            self.clock.now(),
            to.address,
        )

    # -- delivery ---------------------------------------------------------------------------

    def _message(self, row: asyncpg.Record) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = row["address"] or row["recipient"]
        msg["Subject"] = row["subject"]
        msg["Date"] = format_datetime(self.clock.now())
        domain = self.settings.mail_domain
        key = hashlib.sha256(f"{row['event_id']}|{row['recipient']}|email".encode()).hexdigest()[:24]
        msg["Message-ID"] = f"<{key}@{domain}>"
        if row["ticket_id"]:  # one conversation per ticket in the recipient's mail client (not digests)
            thread = f"<ticket.{row['ticket_id']}@{domain}>"
            msg["In-Reply-To"] = thread
            msg["References"] = thread
            msg["X-Mesa-Ticket"] = row["ticket_id"]
        msg["X-Mesa-Event"] = str(row["event_id"])
        msg["X-Mesa-Template"] = row["template"]
        msg.set_content(row["body"])
        msg.add_alternative(to_html(row["subject"], row["body"]), subtype="html")
        return msg

    async def deliver_due(self, limit: int = 50) -> int:
        """Send what is due; return how many rows were handled (sent or given up or deferred).

        Rows are claimed first (status `sending` under a lease, committed), then each is sent and
        its outcome recorded in a transaction of its own, retried until PostgreSQL answers: a
        database restart never makes a sent message look unsent. Only a process that dies
        between sending and recording leaves a row whose lease runs out and is sent again (the
        same Message-ID), so that window is one message wide. One SMTP connection serves the
        batch."""
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE deliveries d SET status = 'sending', next_at = $3 FROM ("
                " SELECT event_id, recipient, channel FROM deliveries"
                " WHERE status IN ('pending', 'sending') AND next_at <= $1"
                " AND (channel <> 'webhook' OR EXISTS (SELECT 1 FROM webhook_subscriptions w"
                " WHERE w.id = recipient AND w.active))"
                " ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED) due"
                " WHERE d.event_id = due.event_id AND d.recipient = due.recipient AND d.channel = due.channel"
                " RETURNING d.*",
                now,
                limit,
                now + SEND_LEASE,
            )
        try:
            for row in rows:
                error = await self._attempt(row)
                await self._settle_retrying(row, now, error)
        finally:
            await self._smtp_close()
        return len(rows)

    async def _attempt(self, row: asyncpg.Record) -> SendFailed | None:
        try:
            async with self.pool.acquire() as conn:
                await self._send(conn, row)
        except SendFailed as exc:
            return exc
        return None

    async def _settle_retrying(self, row: asyncpg.Record, now: datetime, error: SendFailed | None) -> None:
        for attempt in itertools.count():
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await self._settle(conn, row, now, error)
                return
            except db.TRANSIENT as exc:
                log.warning("recording a delivery failed, retrying", error=repr(exc), attempt=attempt)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))

    async def _smtp(self) -> aiosmtplib.SMTP:
        if self._client is None:
            client = aiosmtplib.SMTP(
                hostname=self.smtp_host,
                port=self.smtp_port,
                timeout=10,
                start_tls=self.settings.smtp_starttls,
                username=self.settings.smtp_username,
                password=self.settings.smtp_password,
            )
            await client.connect()
            self._client = client
        return self._client

    async def _smtp_close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
            client.close()

    async def _send(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        """One attempt on the row's channel; raises SendFailed."""
        if row["channel"] == "webhook":
            sub = await conn.fetchrow("SELECT * FROM webhook_subscriptions WHERE id = $1", row["recipient"])
            if sub is None:
                raise SendFailed("subscription removed")
            try:  # again at each delivery: the name may resolve elsewhere now
                await check_target(sub["url"], self.webhook_hosts)
            except TargetRefused as exc:
                raise SendFailed(str(exc)) from None
            await post_webhook(self.http, sub["url"], sub["secret"], row["body"], self.clock.now())
            return
        try:
            await (await self._smtp()).send_message(self._message(row))
        except (TimeoutError, aiosmtplib.SMTPException, OSError, ValueError) as exc:
            # ValueError: an address or header the SMTP library refuses to write (control characters).
            # This message fails (and is retried); the connection is not trusted after an error.
            await self._smtp_close()
            raise SendFailed(str(exc) or type(exc).__name__) from exc

    async def _settle(
        self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime, exc: SendFailed | None
    ) -> None:
        """Record one attempt's outcome: sent, retried later with backoff, or given up."""
        attempts = row["attempts"] + 1
        if exc is not None:
            if row["channel"] == "webhook":
                await conn.execute(
                    "UPDATE webhook_subscriptions SET failures = failures + $2 WHERE id = $1",
                    row["recipient"],
                    1 if attempts >= self.settings.notify_max_attempts else 0,
                )
                await conn.execute(
                    "UPDATE webhook_subscriptions SET active = false, paused_reason = $2"
                    " WHERE id = $1 AND failures >= $3 AND active",
                    row["recipient"],
                    f"{WEBHOOK_PAUSE_AFTER} deliveries failed in a row; last error: {exc}"[:1000],
                    WEBHOOK_PAUSE_AFTER,
                )
            if attempts >= self.settings.notify_max_attempts:
                await conn.execute(
                    "UPDATE deliveries SET status = 'failed', attempts = $4, last_error = $5"
                    " WHERE event_id = $1 AND recipient = $2 AND channel = $3",
                    row["event_id"],
                    row["recipient"],
                    row["channel"],
                    attempts,
                    str(exc)[:1000],
                )
                failed = ev.NotificationFailed(
                    ticket_id=row["ticket_id"],
                    about_event_id=str(row["event_id"]),
                    channel=row["channel"],
                    recipient=row["recipient"],
                    reason=_without(str(exc), row)[:1000] or type(exc).__name__,
                    attempts=attempts,
                )
                if row["ticket_id"]:  # a digest is about no ticket: nothing for the ticket's log
                    await self._record(conn, row["event_id"], failed, 1)
                    await self._tell_staff_undelivered(conn, row)
                # and a dead letter for a human: which message, and why it could not go (not its
                # words; sealed like every letter, with the requester's key when it is theirs)
                letter = {k: row[k] for k in ("recipient", "channel", "ticket_id", "template")}
                letter["event_id"] = str(row["event_id"])
                sealed = await self.letters.make(
                    conn,
                    dlq_topic=self.topic + DLQ_SUFFIX,
                    origin=None,
                    key=row["ticket_id"].encode(),
                    value=json.dumps(letter, ensure_ascii=False).encode(),
                    headers=[("content-type", b"application/json")],
                    reason=f"{row['channel']}: {_without(str(exc), row)}",
                    code="notification_failed",
                    consumer=NAME,
                )
                await outbox.enqueue_raw(conn, sealed.topic, sealed.key, sealed.value, sealed.headers)
                log.error("notification failed", recipient=row["recipient"], error=_without(str(exc), row))
            else:
                # exponential backoff with jitter, so retries of many messages do not arrive together
                delay = timedelta(
                    seconds=min(self.settings.notify_backoff_s * 2**attempts, 300) * random.uniform(1, 1.25)
                )
                await conn.execute(
                    "UPDATE deliveries SET status = 'pending', attempts = $4, last_error = $5, next_at = $6"
                    " WHERE event_id = $1 AND recipient = $2 AND channel = $3",
                    row["event_id"],
                    row["recipient"],
                    row["channel"],
                    attempts,
                    str(exc)[:1000],
                    now + delay,
                )
            return
        if row["channel"] == "webhook":
            await conn.execute("UPDATE webhook_subscriptions SET failures = 0 WHERE id = $1", row["recipient"])
        await conn.execute(
            "UPDATE deliveries SET status = 'sent', attempts = $4, sent_at = $5"
            " WHERE event_id = $1 AND recipient = $2 AND channel = $3",
            row["event_id"],
            row["recipient"],
            row["channel"],
            attempts,
            now,
        )
        if not row["ticket_id"]:
            return
        sent = ev.NotificationSent(
            ticket_id=row["ticket_id"],
            about_event_id=str(row["event_id"]),
            channel=row["channel"],
            recipient=row["recipient"],
            template=row["template"],
        )
        await self._record(conn, row["event_id"], sent, 0)

    async def _record(
        self,
        conn: asyncpg.Connection,
        about: UUID,
        payload: ev.NotificationSent | ev.NotificationFailed,
        seq: int,
    ) -> None:
        recipient_seq = int(hashlib.sha256(payload.recipient.encode()).hexdigest()[:6], 16) * 2 + seq
        env = Envelope.new(
            payload,
            source=NAME,
            subject=payload.ticket_id,
            time=self.clock.now(),
            causationid=str(about),
            event_id=derived_id(about, payload.event_type, recipient_seq, self.clock.now()),
        )
        await outbox.enqueue(conn, self.topic, env)

    async def delivery_loop(self, interval: float = 0.5) -> None:
        while True:
            try:
                while await self.deliver_due():
                    pass
            except db.TRANSIENT as exc:
                log.warning("delivery loop retry", error=str(exc))
            await asyncio.sleep(interval)
