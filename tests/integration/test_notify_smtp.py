"""Notify against a real SMTP server started by the test (aiosmtpd): both languages, threading,
HTML and text, a server that refuses then accepts, and a server that is down."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import header, inbox_caught_up, opened_letter, produce, read_all
from tests.support import Proc, client, eventually, free_port

pytestmark = pytest.mark.timeout(120)
T0 = datetime.now(UTC)


class Inbox:
    """An SMTP server that refuses each recipient's first message once when asked to."""

    def __init__(self, refuse_first: bool = False) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_first = refuse_first
        self.refused: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        if self.refuse_first and msg["Message-ID"] not in self.refused:
            self.refused.append(msg["Message-ID"])
            return "451 4.3.0 try again later"
        self.messages.append(msg)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(refuse_first=True), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def envelope(payload: Payload, subject: str, seconds: int) -> Envelope:
    return Envelope.new(payload, source="test", subject=subject, time=T0 + timedelta(seconds=seconds))


def opened(tid: str, language: str, requester: str) -> ev.TicketOpened:
    return ev.TicketOpened(
        ticket_id=tid,
        requester=requester,
        subject="Pedido sin llegar",
        description="d",
        category="order_status",
        impact="low",
        urgency="low",
        priority="P4",
        language=language,
    )


def notify(iso: Isolated, smtp_port: int, **env: str) -> Proc:
    port = free_port()
    base = {"NOTIFY_SMTP_PORT": str(smtp_port), "NOTIFY_PORT": str(port), "NOTIFY_BACKOFF_S": "0.1"}
    return Proc("services.notify", {**iso.env, **base, **env}, iso.log_dir, "notify", port)


async def test_messages_in_both_languages_threaded_and_retried_after_a_refusal(
    fresh: Isolated, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    proc = await notify(fresh, port).start().ready()
    try:
        due = T0 + timedelta(hours=4)
        events = []
        for tid, lang, who in (("T-E1", "es", "eva@example.com"), ("T-E2", "en", "liam@example.com")):
            targets = ev.TicketSlaTargetsSet(
                ticket_id=tid, priority="P4", first_response_due=due, resolution_due=due, timezone="Europe/Madrid"
            )
            resolved = ev.TicketResolved(ticket_id=tid, agent_id="ana", summary="Reenviado <urgente> & pagado")
            events += [envelope(opened(tid, lang, who), tid, 0), envelope(targets, tid, 1), envelope(resolved, tid, 2)]
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), events)

        async def four() -> list[EmailMessage]:
            return inbox.messages if len(inbox.messages) >= 4 else []

        messages = await eventually(four, timeout=30, what="four messages")
        assert len(inbox.refused) == 4  # each refused once, then accepted on a retry
        by = {(m["X-Mesa-Ticket"], m["X-Mesa-Template"]): m for m in messages}
        es, en = by[("T-E1", "received")], by[("T-E2", "received")]
        assert es["Subject"].startswith("[T-E1] Hemos recibido tu solicitud")
        assert en["Subject"].startswith("[T-E2] We received your request")
        plain = es.get_body(("plain",))
        assert plain is not None and ("CET" in plain.get_content() or "CEST" in plain.get_content())
        # one thread per ticket, whatever the message
        assert es["References"] == by[("T-E1", "resolved")]["References"] == "<ticket.T-E1@mesa.local>"
        assert es["In-Reply-To"] == es["References"] != en["References"]
        html = by[("T-E1", "resolved")].get_body(("html",))
        assert html is not None and "Reenviado &lt;urgente&gt; &amp; pagado" in html.get_content()  # escaped

        async def sent_events() -> bool:
            recs = await read_all(fresh.settings, fresh.settings.topic(TICKET_EVENTS))
            return sum(header(r, "ce_type") == "notification.sent" for r in recs) >= 4

        await eventually(sent_events, what="notification.sent for each message")
    finally:
        proc.stop()


async def test_a_server_that_is_down_fails_after_retries_and_nothing_is_lost(fresh: Isolated) -> None:
    dead_port = free_port()  # nothing listens there
    proc = await notify(fresh, dead_port, NOTIFY_MAX_ATTEMPTS="3").start().ready()
    try:
        targets = ev.TicketSlaTargetsSet(ticket_id="T-D1", priority="P4", first_response_due=T0, resolution_due=T0)
        await produce(
            fresh.settings,
            fresh.settings.topic(TICKET_EVENTS),
            [envelope(opened("T-D1", "es", "d@example.com"), "T-D1", 0), envelope(targets, "T-D1", 1)],
        )

        async def failed() -> list[Any]:
            recs = await read_all(fresh.settings, fresh.settings.topic(TICKET_EVENTS))
            found = [Envelope.from_kafka(r.key, r.value, list(r.headers)).data for r in recs]
            return [d for d in found if isinstance(d, ev.NotificationFailed) and d.recipient == "d@example.com"]

        [data] = await eventually(failed, timeout=30, what="notification.failed")
        assert data.attempts == 3

        async def deliveries() -> dict[str, Any] | None:
            conn = await asyncpg.connect(fresh.settings.database_url)
            try:
                rows = await conn.fetch(
                    "SELECT template, recipient, status, attempts, last_error FROM notify.deliveries"
                )
            finally:
                await conn.close()
            by = {r["template"]: r for r in rows}
            settled = "delivery_failed" in by and by["delivery_failed"]["status"] == "failed"
            return by if settled and len(rows) == 2 else None

        # the customer was not told: the supervisors are (no owner yet), once; that mail failing too
        # (the server is down) tells nobody else
        by = await eventually(deliveries, timeout=30, what="the staff told of the undelivered mail")
        row = by["received"]
        assert row["status"] == "failed" and row["attempts"] == 3 and row["last_error"]
        assert by["delivery_failed"]["recipient"] == "supervision@soporte.mesa.local"

        async def dead_letters() -> list[Any]:
            recs = await read_all(fresh.settings, fresh.settings.topic(TICKET_EVENTS) + ".dlq")
            return recs if len(recs) == 2 else []

        letters = await eventually(dead_letters, what="the dead letters")
        for letter in letters:
            assert header(letter, "dlq_code") == "notification_failed"
            assert "d@example.com" not in (header(letter, "dlq_reason") or "") and b"d@example.com" not in letter.value
        opened_values = [opened_letter(fresh.settings, letter)[0] for letter in letters]  # sealed with the DLQ key
        assert sorted(json.loads(v or b"{}")["template"] for v in opened_values) == ["delivery_failed", "received"]
        # the consumer kept going: a later event is still taken in
        later = opened("T-D2", "es", "e@example.com")
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), [envelope(later, "T-D2", 2)])

        async def known() -> bool:
            c = await asyncpg.connect(fresh.settings.database_url)
            try:
                return bool(await c.fetchval("SELECT count(*) FROM notify.tickets WHERE id = 'T-D2'"))
            finally:
                await c.close()

        await eventually(known, what="the next event")
        assert proc.alive()
    finally:
        proc.stop()


async def test_breaches_and_escalations_reach_owner_and_supervisors_and_silence_gets_a_status_update(
    fresh: Isolated, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    inbox.refuse_first = False
    proc = await notify(fresh, port, NOTIFY_SUPERVISORS="sara@soporte.test, tomas@soporte.test").start().ready()
    try:
        olga = ev.AgentRegistered(
            agent_id="olga", name="Olga", email="olga@soporte.test", skills=("network",), level=1, capacity=5
        )
        await produce(fresh.settings, fresh.settings.topic("agent.events"), [envelope(olga, "olga", 0)])

        async def knows_olga() -> bool | None:
            # the roster and the tickets are separate consumers: the owner must be known before
            # the breach (as in life, where agents are registered long before their tickets)
            conn = await asyncpg.connect(fresh.settings.database_url)
            try:
                return bool(await conn.fetchval("SELECT 1 FROM notify.agents WHERE id = 'olga'")) or None
            finally:
                await conn.close()

        await eventually(knows_olga, timeout=30, what="notify to know Olga")
        due = T0 + timedelta(minutes=5)
        story = [
            envelope(opened("T-B1", "es", "marta@example.com"), "T-B1", 0),
            envelope(ev.TicketAssigned(ticket_id="T-B1", agent_id="olga", level=1, reason="r"), "T-B1", 1),
            envelope(ev.TicketSlaBreached(ticket_id="T-B1", target="next_response", due=due), "T-B1", 2),
            envelope(ev.TicketSlaBreached(ticket_id="T-B1", target="resolution", due=due), "T-B1", 3),
            envelope(
                ev.TicketEscalated(
                    ticket_id="T-B1",
                    from_level=1,
                    to_level=2,
                    reason="Objetivo incumplido: 5 min de retraso",
                    by="system:sla",
                    reason_en="Target missed",
                    target="resolution",
                ),
                "T-B1",
                4,
            ),
        ]
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), story)

        async def all_sent() -> list[EmailMessage]:
            return inbox.messages if len(inbox.messages) >= 8 else []

        got = await eventually(all_sent, timeout=30, what="eight messages")
        to = sorted((m["X-Mesa-Template"], m["To"]) for m in got)
        assert to == [
            ("assigned", "olga@soporte.test"),
            ("escalated", "sara@soporte.test"),
            ("escalated", "tomas@soporte.test"),
            ("escalated_requester", "marta@example.com"),  # the customer is told too, in plain words
            ("sla_breached", "olga@soporte.test"),
            ("sla_breached", "sara@soporte.test"),
            ("sla_breached", "tomas@soporte.test"),
            ("status_update", "marta@example.com"),
        ]
        escalated = next(m for m in got if m["X-Mesa-Template"] == "escalated")
        body = escalated.get_body(("plain",))
        assert body is not None and "Motivo: Objetivo incumplido: 5 min de retraso" in body.get_content()
        told = next(m for m in got if m["X-Mesa-Template"] == "escalated_requester")
        plain = told.get_body(("plain",))
        assert plain is not None and "Objetivo incumplido" not in plain.get_content()  # the team's note stays theirs
    finally:
        proc.stop()


async def test_requester_preferences_language_and_no_periodic_updates(fresh: Isolated, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.refuse_first = False
    proc = await notify(fresh, port).start().ready()
    try:
        async with client(timeout=5) as http:
            r = await http.put(
                f"http://127.0.0.1:{proc.port}/preferences/quiet@example.com",
                json={"language": "en", "periodic_updates": False},
            )
            assert r.status_code == 200
        due = T0 + timedelta(hours=1)
        story = [
            envelope(opened("T-P1", "es", "quiet@example.com"), "T-P1", 0),
            envelope(ev.TicketSlaBreached(ticket_id="T-P1", target="next_response", due=due), "T-P1", 1),
            envelope(ev.TicketInfoRequested(ticket_id="T-P1", agent_id="ana", question="Model?"), "T-P1", 2),
        ]
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), story)

        async def question() -> list[EmailMessage]:
            return [m for m in inbox.messages if m["X-Mesa-Template"] == "info_requested"]

        [asked] = await eventually(question, what="the question mail")
        assert asked["Subject"] == "[T-P1] We need more information"  # their language, not the ticket's
        topics = [fresh.settings.topic(TICKET_EVENTS)]
        await eventually(lambda: inbox_caught_up(fresh.settings, "notify", "notify-tickets", topics), what="settled")
        conn = await asyncpg.connect(fresh.settings.database_url)
        try:  # queued in the same transaction as the event is consumed: caught up means decided
            templates = {r["template"] for r in await conn.fetch("SELECT template FROM notify.deliveries")}
        finally:
            await conn.close()
        assert "info_requested" in templates and "status_update" not in templates  # opted out
    finally:
        proc.stop()
