"""Mailin's edge: a mail in, a command out. Each mail becomes one request on ticket.requests
(`ticket.open`, or `ticket.write` on the ticket it answers) with mailin's own service token, so
intake decides as for any other system; its files go to intake first (`POST /uploads`, checked as
any upload). The request's id is the mail's Message-ID: an MTA that delivers the same mail twice
gets one ticket. A mail that cannot be read is kept, sealed, as a dead letter with why.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg
import httpx
from prometheus_client import Counter

from services.mailin.domain import Open, WriteTo, request_id, route
from services.mailin.parse import File, Ignored, Mail, Unreadable, parse
from shared.domain.commands import OpenTicket, Write, request_type
from shared.platform import outbox
from shared.platform.auth import Authenticator
from shared.platform.http_guard import RateLimiter
from shared.platform.keyring import reply_key
from shared.platform.letters import Letters
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.topics import DLQ_SUFFIX, TICKET_REQUESTS

NAME = "mailin"
SCOPES = ("tickets:open", "tickets:act-for-requester", "mail:bounces")
log = get_logger(__name__)
MAILS = Counter("mesa_mailin_mails_total", "Mails received, by what became of them", ["outcome"])


@dataclass(frozen=True)
class Answer:
    """The SMTP reply: 250 (taken: a request, ignored or kept), 451 (try again later)."""

    code: int
    text: str

    def line(self) -> str:
        return f"{self.code} {self.text}"


class Mailin:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, auth: Authenticator, letters: Letters) -> None:
        self.settings = settings
        self.pool = pool
        self.auth = auth
        self.letters = letters
        self.key = reply_key(settings)
        self.topic = settings.topic(TICKET_REQUESTS)
        self.limiter = RateLimiter(rate_per_minute=settings.mailin_per_sender_per_hour / 60, burst=10)
        self.http = httpx.AsyncClient(timeout=30)

    def token(self) -> str:
        """Mailin's own service token: it may open tickets and write for requesters, nothing else."""
        if self.settings.mailin_token:
            return self.settings.mailin_token.get_secret_value()
        return self.auth.issue("service", NAME, scopes=SCOPES)

    async def receive(self, raw: bytes) -> Answer:
        digest = hashlib.sha256(raw).hexdigest()
        try:
            result = parse(raw)
        except Unreadable as exc:
            await self._keep(raw, str(exc), digest)
            MAILS.labels("kept").inc()
            return Answer(250, "2.0.0 kept for a person to read")
        if isinstance(result, Ignored):
            if result.bounced_event and result.bounce_of:
                return await self._bounced(result)
            MAILS.labels("ignored").inc()
            log.info("mail ignored", why=result.why, bounced=len(result.bounce_of))
            return Answer(250, "2.0.0 not a request (automatic mail)")
        mail = result
        if wait := self.limiter.take(mail.sender):
            MAILS.labels("deferred").inc()
            return Answer(451, f"4.7.1 too many mails from this sender; try again in {int(wait)} s")
        try:
            files, refused = await self._upload(mail.files)
        except httpx.HTTPError as exc:
            log.warning("intake unreachable for files", error=type(exc).__name__)
            return Answer(451, "4.3.0 try again later")
        where = route(mail, self.settings.support_address, self.key, self.settings.mail_domain)
        await self._request(mail, where, files, refused, request_id(mail, digest))
        MAILS.labels("opened" if isinstance(where, Open) else "written").inc()
        return Answer(250, "2.0.0 OK")

    async def _bounced(self, report: Ignored) -> Answer:
        """One of Mesa's mails came back: notify marks it failed and tells the staff (its ledger)."""
        for address in report.bounce_of:
            r = await self.http.post(
                f"{self.settings.notify_url}/bounces",
                json={"event_id": report.bounced_event, "address": address, "reason": report.why},
                headers={"Authorization": f"Bearer {self.token()}"},
            )
            if r.status_code >= 500:
                return Answer(451, "4.3.0 try again later")
        MAILS.labels("bounce").inc()
        return Answer(250, "2.0.0 bounce recorded")

    async def _upload(self, files: tuple[File, ...]) -> tuple[list[dict[str, object]], list[str]]:
        """Each file to intake, checked there as any upload; the names of those refused."""
        taken: list[dict[str, object]] = []
        refused: list[str] = []
        for f in files:
            r = await self.http.post(
                f"{self.settings.intake_url}/uploads",
                files={"screenshots": (f.filename, f.content, f.declared_type)},
                headers={"Authorization": f"Bearer {self.token()}"},
            )
            if r.status_code == 201:
                taken += r.json()["files"]
            elif 400 <= r.status_code < 500:
                refused.append(f.filename)
            else:
                r.raise_for_status()
        return taken, refused

    async def _request(
        self, mail: Mail, where: Open | WriteTo, files: list[dict[str, object]], refused: list[str], ce_id: str
    ) -> None:
        text = mail.text or "(sin texto)"
        notes = []
        if refused:
            notes.append(f"(Archivos no admitidos / files not accepted: {', '.join(refused)})")
        if mail.too_many_files:
            notes.append("(Solo se guardan los 5 primeros archivos / only the first 5 files are kept)")
        body = "\n\n".join([text, *notes])[:20_000]
        subject = (mail.subject or "(sin asunto)")[:300]
        command: OpenTicket | Write
        if isinstance(where, Open):
            command = OpenTicket.model_validate(
                {
                    "requester": mail.sender,
                    "subject": subject,
                    "description": body,
                    "language": mail.language,
                    "channel": "email",
                    "attachments": files,
                }
            )
            kind, subject_attr = "open", None
        else:
            command = Write.model_validate(
                {
                    "sender": mail.sender,
                    "subject": subject,
                    "body": body,
                    "language": mail.language,
                    "attachments": files,
                }
            )
            kind, subject_attr = "write", where.ticket_id
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", ce_id.encode()),
            ("ce_type", request_type(kind).encode()),
            ("ce_source", b"mesa://mailin"),
            ("content-type", b"application/json"),
            ("authorization", f"Bearer {self.token()}".encode()),
        ]
        if subject_attr:
            headers.append(("ce_subject", subject_attr.encode()))
        value = command.model_dump_json(exclude_none=True).encode()
        key = (subject_attr or mail.sender).encode()
        async with self.pool.acquire() as conn, conn.transaction():
            await outbox.enqueue_raw(conn, self.topic, key, value, headers)

    async def _keep(self, raw: bytes, why: str, digest: str) -> None:
        """An unreadable mail, sealed, as a dead letter with why (never dropped)."""
        async with self.pool.acquire() as conn, conn.transaction():
            letter = await self.letters.make(
                conn,
                dlq_topic=self.topic + DLQ_SUFFIX,
                origin=None,
                key=digest.encode(),
                value=raw,
                headers=[("content-type", b"message/rfc822")],
                reason=f"unreadable mail: {why}",
                code="unreadable_mail",
                consumer=NAME,
            )
            await outbox.enqueue_raw(conn, letter.topic, letter.key, letter.value, letter.headers)
        log.warning("mail kept as a dead letter", why=why)
