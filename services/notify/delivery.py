"""Sending what the ledger holds: mail over SMTP, CloudEvents to webhooks, retries with backoff.

Rows are claimed first (status `sending` under a lease, committed), then each is sent and its
outcome recorded in a transaction of its own, retried until PostgreSQL answers: a database
restart never makes a sent message look unsent. Only a process that dies between sending and
recording leaves a row whose lease runs out and is sent again (the same Message-ID, derived from
the ledger's key), so that window is one message wide per connection. A batch goes out on
`NOTIFY_SMTP_CONNECTIONS` connections at once, a ticket's messages on one of them in order: an SMTP
exchange is a few round trips of waiting, and one connection at a time left both sides idle. A
send that fails is retried with backoff; after the last try it is recorded as
`notification.failed` (an event a supervisor sees) and a dead letter, instead of being retried
forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from uuid import UUID, uuid5

import aiosmtplib
import asyncpg
import httpx
from prometheus_client import Counter

from services.notify import audience, ledger, mime
from services.notify.audience import Audience
from services.notify.ledger import Delivery
from services.notify.targets import TargetRefused, allow_list, check_target
from services.notify.templates import to_html
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.envelope import derived_id
from shared.domain.reply_tokens import reply_address
from shared.platform import db, outbox
from shared.platform.clock import Clock
from shared.platform.keyring import reply_key
from shared.platform.letters import Letters
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.topics import DLQ_SUFFIX, TICKET_EVENTS

NAME = "notify"
log = get_logger(__name__)
WEBHOOK_PAUSE_AFTER = 3  # deliveries given up in a row before a subscription is paused
SEND_LEASE = timedelta(seconds=60)  # a claimed row is sent again after this if its sender died
DELIVERIES = Counter(
    "mesa_notify_deliveries_total",
    "Messages settled, by channel and outcome (sent, retry, failed, bounced)",
    ["channel", "outcome"],
)
UNDELIVERED_NAMESPACE = UUID("0b8f3c6e-7d2a-4e1f-9c5b-3a6d8e2f1c47")


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


def lanes_of(rows: list[Delivery], lanes: int) -> list[list[Delivery]]:
    """Rows split over at most `lanes` connections: a ticket's messages (else a recipient's) on one
    lane in the order claimed, so they reach a mailbox in the order they were queued; the
    largest groups first, each onto the lane with the fewest messages so far, so the lanes end
    together (a batch lasts as long as its longest lane)."""
    groups: dict[str, list[Delivery]] = {}
    for d in rows:
        groups.setdefault(d.ticket_id or d.recipient, []).append(d)
    split: list[list[Delivery]] = [[] for _ in range(max(1, min(lanes, len(groups))))]
    for group in sorted(groups.values(), key=len, reverse=True):
        min(split, key=len).extend(group)
    return [lane for lane in split if lane]


class SmtpConnection:
    """One lane's connection: opened at its first message, kept from batch to batch while mail
    flows (a connection costs the server a greeting, EHLO and perhaps TLS and a login), closed
    once there is nothing to send, or after an error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: aiosmtplib.SMTP | None = None

    async def client(self) -> aiosmtplib.SMTP:
        if self._client is not None and not self._client.is_connected:  # the server hung up meanwhile
            self._client.close()
            self._client = None
        if self._client is None:
            client = aiosmtplib.SMTP(
                hostname=self.settings.smtp_host,
                port=self.settings.smtp_port,
                timeout=10,
                start_tls=self.settings.smtp_starttls,
                username=self.settings.smtp_username,
                password=self.settings.smtp_password,
            )
            await client.connect()
            self._client = client
        return self._client

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await client.quit()
            client.close()


class Deliverer:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, clock: Clock, letters: Letters, who: Audience) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self.letters = letters
        self.audience = who
        self.topic = settings.topic(TICKET_EVENTS)
        self.http = httpx.AsyncClient(timeout=10, follow_redirects=False)  # a 3xx is a failure
        self.webhook_hosts = allow_list(settings.webhook_allow_hosts)
        self.reply_key = reply_key(settings)
        self.sender = parseaddr(settings.mail_from)[1] or settings.mail_from
        self._connections: list[SmtpConnection] = []  # one per lane, kept while mail flows

    def headers(self, d: Delivery) -> list[tuple[str, str]]:
        domain = self.settings.mail_domain
        key = hashlib.sha256(f"{d.event_id}|{d.recipient}|email".encode()).hexdigest()[:24]
        h = [
            ("From", self.settings.mail_from),
            ("To", d.address or d.recipient),
            ("Subject", d.subject),
            ("Date", format_datetime(self.clock.now())),
            ("Message-ID", f"<{key}@{domain}>"),
        ]
        if d.ticket_id:  # one conversation per ticket in the recipient's mail client (not digests)
            # an answer goes to the ticket, by a token nobody can guess (shared.domain.reply_tokens)
            thread = f"<ticket.{d.ticket_id}@{domain}>"
            h += [
                ("Reply-To", reply_address(self.settings.support_address, d.ticket_id, self.reply_key)),
                ("In-Reply-To", thread),
                ("References", thread),
                ("X-Mesa-Ticket", d.ticket_id),
            ]
        return [*h, ("X-Mesa-Event", str(d.event_id)), ("X-Mesa-Template", d.template)]

    def message(self, d: Delivery) -> EmailMessage:
        """The message as the standard library builds it: for addresses outside ASCII (SMTPUTF8)."""
        msg = EmailMessage()
        for name, value in self.headers(d):
            msg[name] = value
        msg.set_content(d.body)
        msg.add_alternative(to_html(d.subject, d.body), subtype="html")
        return msg

    async def _send_mail(self, client: aiosmtplib.SMTP, d: Delivery) -> None:
        to = d.address or d.recipient
        if not (to.isascii() and self.settings.mail_from.isascii()):
            await client.send_message(self.message(d))
            return
        raw = mime.alternative(self.headers(d), d.body, to_html(d.subject, d.body))
        await client.sendmail(self.sender, [parseaddr(to)[1] or to], raw)

    async def deliver_due(self, per_connection: int = 25) -> int:
        """Send what is due; return how many rows were handled (sent or given up or deferred).
        Each lane sends its part of the batch on its connection and settles each message as it
        went; the connections stay open for the next batch and close when nothing is due."""
        now = self.clock.now()
        lanes = self.settings.notify_smtp_connections
        rows = await ledger.claim(self.pool, now, per_connection * lanes, SEND_LEASE)
        if not rows:
            await self.close_connections()
            return 0
        while len(self._connections) < lanes:
            self._connections.append(SmtpConnection(self.settings))
        async with asyncio.TaskGroup() as tg:
            for batch, smtp in zip(lanes_of(rows, lanes), self._connections, strict=False):
                tg.create_task(self._lane(batch, smtp, now))
        return len(rows)

    async def close_connections(self) -> None:
        connections, self._connections = self._connections, []
        for smtp in connections:
            await smtp.close()

    async def _lane(self, rows: list[Delivery], smtp: SmtpConnection, now: datetime) -> None:
        for d in rows:
            error = await self._attempt(d, smtp)
            await self._settle_retrying(d, now, error)

    async def _attempt(self, d: Delivery, smtp: SmtpConnection) -> SendFailed | None:
        try:
            await self._send(d, smtp)
        except SendFailed as exc:
            return exc
        return None

    async def _settle_retrying(self, d: Delivery, now: datetime, error: SendFailed | None) -> None:
        last = d.attempts + 1 >= self.settings.notify_max_attempts
        outcome = "sent" if error is None else "failed" if last else "retry"
        for attempt in itertools.count():
            try:
                if error is None and d.channel == "email":  # the common case: one statement
                    async with self.pool.acquire() as conn:
                        await self._settle_sent_mail(conn, d, now)
                else:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await self._settle(conn, d, now, error)
                DELIVERIES.labels(d.channel, outcome).inc()
                return
            except db.TRANSIENT as exc:
                log.warning("recording a delivery failed, retrying", error=type(exc).__name__, attempt=attempt)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))

    async def _send(self, d: Delivery, smtp: SmtpConnection) -> None:
        """One attempt on the row's channel; raises SendFailed. No database connection is held
        while a message goes: one lost under it (PostgreSQL restarting) must not turn a message
        the server accepted into one that is never recorded, and so sent again."""
        if d.channel == "webhook":
            async with self.pool.acquire() as conn:
                sub = await ledger.subscription(conn, d.recipient)
            if sub is None:
                raise SendFailed("subscription removed")
            url, secret = sub
            try:  # again at each delivery: the name may resolve elsewhere now
                await check_target(url, self.webhook_hosts)
            except TargetRefused as exc:
                raise SendFailed(str(exc)) from None
            await post_webhook(self.http, url, secret, d.body, self.clock.now())
            return
        try:
            await self._send_mail(await smtp.client(), d)
        except (TimeoutError, aiosmtplib.SMTPException, OSError, ValueError) as exc:
            # ValueError: an address or header the SMTP library refuses to write (control characters).
            # This message fails (and is retried); the connection is not trusted after an error.
            await smtp.close()
            raise SendFailed(str(exc) or type(exc).__name__) from exc

    async def _settle_sent_mail(self, conn: asyncpg.Connection, d: Delivery, now: datetime) -> None:
        """A mail the server accepted: the ledger says sent and the ticket's log is told, in one
        statement (one round trip, atomic; a message settles as soon as it went, so an
        interruption still resends at most the one in flight)."""
        told = [(self.topic, self._envelope(d.event_id, self._sent(d), 0))] if d.ticket_id else []
        await outbox.enqueue_with(conn, ledger.SENT, ledger.sent_args(d, d.attempts + 1, now), told)

    @staticmethod
    def _sent(d: Delivery) -> ev.NotificationSent:
        return ev.NotificationSent(
            ticket_id=d.ticket_id,
            about_event_id=str(d.event_id),
            channel=d.channel,
            recipient=d.recipient,
            template=d.template,
        )

    async def _settle(self, conn: asyncpg.Connection, d: Delivery, now: datetime, exc: SendFailed | None) -> None:
        """Record one attempt's outcome: sent, retried later with backoff, or given up."""
        attempts = d.attempts + 1
        if exc is None:
            if d.channel == "webhook":
                await ledger.webhook_ok(conn, d.recipient)
            await ledger.sent(conn, d, attempts, now)
            if d.ticket_id:  # a digest is about no ticket: nothing for the ticket's log
                await self._record(conn, d.event_id, self._sent(d), 0)
            return
        last = attempts >= self.settings.notify_max_attempts
        if d.channel == "webhook":
            why = f"{WEBHOOK_PAUSE_AFTER} deliveries failed in a row; last error: {exc}"
            await ledger.webhook_failed(conn, d.recipient, last, WEBHOOK_PAUSE_AFTER, why)
        if not last:
            delay = audience.backoff(attempts, self.settings.notify_backoff_s)
            await ledger.retry(conn, d, attempts, str(exc), now + delay)
            return
        told = audience.without(str(exc), d.address, d.recipient)
        await ledger.given_up(conn, d, attempts, str(exc))
        if d.ticket_id:
            failed = ev.NotificationFailed(
                ticket_id=d.ticket_id,
                about_event_id=str(d.event_id),
                channel=d.channel,
                recipient=d.recipient,
                reason=told[:1000] or type(exc).__name__,
                attempts=attempts,
            )
            await self._record(conn, d.event_id, failed, 1)
            await self._tell_staff_undelivered(conn, d)
        # and a dead letter for a human: which message, and why it could not go (not its words;
        # sealed like every letter, with the requester's key when it is theirs)
        letter = {"recipient": d.recipient, "channel": d.channel, "ticket_id": d.ticket_id, "template": d.template}
        letter["event_id"] = str(d.event_id)
        sealed = await self.letters.make(
            conn,
            dlq_topic=self.topic + DLQ_SUFFIX,
            origin=None,
            key=d.ticket_id.encode(),
            value=json.dumps(letter, ensure_ascii=False).encode(),
            headers=[("content-type", b"application/json")],
            reason=f"{d.channel}: {told}",
            code="notification_failed",
            consumer=NAME,
        )
        await outbox.enqueue_raw(conn, sealed.topic, sealed.key, sealed.value, sealed.headers)
        log.error("notification failed", recipient=d.recipient, error=told)

    async def bounced(self, event_id: UUID, address: str, why: str) -> bool:
        """A mail that went out came back: recorded as failed (`notification.failed`), and the
        owner (else the supervisors) hears of it, as for a mail given up after its retries."""
        async with self.pool.acquire() as conn, conn.transaction():
            d = await ledger.bounced(conn, event_id, address, f"bounced: {why}")
            if d is None:
                return False
            if d.ticket_id:
                failed = ev.NotificationFailed(
                    ticket_id=d.ticket_id,
                    about_event_id=str(d.event_id),
                    channel=d.channel,
                    recipient=d.recipient,
                    reason=audience.without(f"bounced: {why}", d.address, d.recipient)[:1000],
                    attempts=max(d.attempts, 1),
                )
                await self._record(conn, d.event_id, failed, 1)
                await self._tell_staff_undelivered(conn, d)
        DELIVERIES.labels(d.channel, "bounced").inc()
        log.info("mail bounced", recipient=d.recipient)
        return True

    async def _tell_staff_undelivered(self, conn: asyncpg.Connection, d: Delivery) -> None:
        """A customer mail given up: the owner (else the supervisors) hears of it, once. Not for
        webhooks (their subscription pauses and an admin sees it)."""
        if d.channel != "email":
            return
        t = await ledger.ticket(conn, d.ticket_id)
        if t is None:
            return
        owner = await ledger.staff(conn, t.owner)
        about = uuid5(UNDELIVERED_NAMESPACE, f"{d.event_id}|{d.recipient}")
        for m in audience.undelivered(t, owner, d.template, self.audience):
            await ledger.queue(conn, about, t.id, m, self.clock.now())

    async def _record(
        self, conn: asyncpg.Connection, about: UUID, payload: ev.NotificationSent | ev.NotificationFailed, seq: int
    ) -> None:
        await outbox.enqueue(conn, self.topic, self._envelope(about, payload, seq))

    def _envelope(self, about: UUID, payload: ev.NotificationSent | ev.NotificationFailed, seq: int) -> Envelope:
        recipient_seq = int(hashlib.sha256(payload.recipient.encode()).hexdigest()[:6], 16) * 2 + seq
        return Envelope.new(
            payload,
            source=NAME,
            subject=payload.ticket_id,
            time=self.clock.now(),
            causationid=str(about),
            event_id=derived_id(about, payload.event_type, recipient_seq, self.clock.now()),
        )
