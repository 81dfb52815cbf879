"""Sending what the ledger holds: mail over SMTP, CloudEvents to webhooks, retries with backoff.

Rows are claimed first (status `sending` under a lease, committed), then each is sent and its
outcome recorded in a transaction of its own, retried until PostgreSQL answers: a database
restart never makes a sent message look unsent. Only a process that dies between sending and
recording leaves a row whose lease runs out and is sent again (the same Message-ID, derived from
the ledger's key), so that window is one message wide per connection. Mail goes out on
`NOTIFY_SMTP_CONNECTIONS` connections at once, a ticket's messages on one of them in order
(services/notify/lanes.py): an SMTP exchange is a few round trips of waiting, and one connection
at a time left both sides idle. A
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
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from uuid import UUID, uuid5

import aiosmtplib
import asyncpg
import httpx
from prometheus_client import Counter

from services.notify import audience, ledger, mime
from services.notify.audience import Audience
from services.notify.lanes import Lanes
from services.notify.ledger import Delivery, SentMail
from services.notify.targets import TargetRefused, allow_list, check_target
from services.notify.templates import to_html
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.envelope import derived_id
from shared.domain.reply_tokens import reply_address
from shared.platform import db, outbox
from shared.platform.clock import Clock
from shared.platform.groupwrite import GroupWrite
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


@lru_cache(maxsize=4096)
def mailbox(to: str) -> str:
    """The bare address of `Name <address>` (the envelope's recipient), for the recipients of
    the moment: parsing it was a twentieth of notify's CPU per mail."""
    return parseaddr(to)[1] or to


@lru_cache(maxsize=4096)
def _reply_to(support: str, ticket_id: str, key: bytes) -> str:
    # a keyed hash per mail, the same for every mail of a ticket: once per ticket of the moment
    return reply_address(support, ticket_id, key)


class SmtpConnection:
    """One lane's connection: opened at its first message, kept from batch to batch while mail
    flows (a connection costs the server a greeting, EHLO and perhaps TLS and a login), closed
    once nothing has been due for a while, or after an error; opened again if the server
    closed it meanwhile."""

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
            if client.is_ehlo_or_helo_needed:  # (`sendmail` said hello itself)
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
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
        self._settled = asyncio.Event()  # a lane settled a message: room to claim more, perhaps
        self._busy_at = clock.now()  # when the last claim found mail: the connections' idle time
        self._finishing = False  # the service stops: claim nothing more, hand back what is not begun
        self._quiet = asyncio.Event()  # no `deliver_due` under way
        self._quiet.set()
        # the lanes' mails sent, recorded together (each lane waits for its own before its next)
        self._sent_mail: GroupWrite[SentMail] = GroupWrite(pool, self._record_sent_mail, "mail sent")

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
                ("Reply-To", _reply_to(self.settings.support_address, d.ticket_id, self.reply_key)),
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
        # the three commands of one envelope, as `sendmail` sends them without its extras: it
        # parsed each address twice more and normalised the message's line endings once more (for
        # the optional SIZE), a tenth of notify's CPU per mail; an error closes the connection
        await client.mail(self.sender)
        await client.rcpt(mailbox(to))
        await client.data(raw)

    async def deliver_due(self, per_connection: int = 25) -> int:
        """Send what is due, for as long as something is; return how many rows were handled (sent,
        given up or deferred). Each lane sends its messages on its own connection and settles each
        as it goes; more rows are claimed whenever half of what is on its way has settled, so no
        lane waits for another. The connections stay open while mail flows and close once
        nothing has been due for `NOTIFY_SMTP_IDLE_S`."""
        if self._finishing:
            return 0
        self._quiet.clear()
        try:
            return await self._deliver_due(per_connection)
        finally:
            self._quiet.set()

    async def finish(self, timeout: float = 10.0) -> None:
        """On shutdown: claim nothing more, let each lane settle the message it is sending, and
        hand the messages claimed but not begun back to the ledger, so the next claim (this
        service's next instance, or another one) sends them now rather than when their lease runs
        out. A lane stuck longer than `timeout` is left to its lease."""
        self._finishing = True
        self._settled.set()  # a claim loop waiting for room stops waiting
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._quiet.wait()

    async def _deliver_due(self, per_connection: int) -> int:
        lanes = self.settings.notify_smtp_connections
        room = per_connection * lanes
        plan = Lanes(lanes)
        while len(self._connections) < lanes:
            self._connections.append(SmtpConnection(self.settings))
        handled = 0
        async with asyncio.TaskGroup() as tg:
            sending: set[int] = set()
            while not self._finishing:
                try:
                    rows = await ledger.claim(self.pool, self.clock.now(), room - plan.in_flight, SEND_LEASE)
                except db.TRANSIENT as exc:  # what is on its way still settles; the loop claims again
                    log.warning("claiming deliveries failed", error=type(exc).__name__)
                    rows = []
                if not rows:
                    break
                handled += len(rows)
                for lane in plan.add(rows) - sending:
                    sending.add(lane)
                    tg.create_task(self._lane(plan, lane, self._connections[lane], sending))
                while plan.in_flight > room // 2 and not self._finishing:
                    self._settled.clear()
                    await self._settled.wait()
        now = self.clock.now()
        if handled:
            self._busy_at = now
        elif self._connections and now - self._busy_at >= timedelta(seconds=self.settings.notify_smtp_idle_s):
            await self.close_connections()
        return handled

    async def close_connections(self) -> None:
        connections, self._connections = self._connections, []
        for smtp in connections:
            await smtp.close()

    async def _lane(self, plan: Lanes, lane: int, smtp: SmtpConnection, sending: set[int]) -> None:
        try:
            while (d := plan.next(lane)) is not None:
                if self._finishing:
                    await self._hand_back(plan, lane)
                    return
                error = await self._attempt(d, smtp)
                await self._settle_retrying(d, self.clock.now(), error)
                plan.done(lane)
                self._settled.set()
        finally:
            sending.discard(lane)

    async def _hand_back(self, plan: Lanes, lane: int) -> None:
        rows = list(plan.queues[lane])
        try:
            await ledger.release(self.pool, rows, self.clock.now())
        except db.TRANSIENT as exc:  # their lease gives them back instead
            log.warning("handing back deliveries failed", error=type(exc).__name__, rows=len(rows))
        for _ in rows:
            plan.done(lane)

    async def _attempt(self, d: Delivery, smtp: SmtpConnection) -> SendFailed | None:
        try:
            await self._send(d, smtp)
        except SendFailed as exc:
            return exc
        return None

    async def _settle_retrying(self, d: Delivery, now: datetime, error: SendFailed | None) -> None:
        last = d.attempts + 1 >= self.settings.notify_max_attempts
        outcome = "sent" if error is None else "failed" if last else "retry"
        if error is None and d.channel == "email":  # the common case: with the other lanes' mails
            await self._sent_mail.write((d, d.attempts + 1, now))
            DELIVERIES.labels(d.channel, outcome).inc()
            return
        for attempt in itertools.count():
            try:
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

    async def _record_sent_mail(self, conn: asyncpg.Connection, mails: Sequence[SentMail]) -> None:
        """Mail the server accepted: the ledger says sent and each ticket's log is told, in one
        statement for every lane's mail (one round trip, atomic; a lane's mail is recorded before
        the lane sends its next, so an interruption still resends at most the one in flight)."""
        told = [(self.topic, self._envelope(d.event_id, self._sent(d), 0)) for d, _, _ in mails if d.ticket_id]
        await outbox.enqueue_with(conn, ledger.SENT, ledger.sent_args(mails), told)

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
