"""Notify as its own process with the development mail sink: each message once, even when the
logs arrive out of step."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from pathlib import Path

import asyncpg
import pytest

from shared.events import Envelope, Payload
from shared.events import catalogue as ev
from shared.topics import AGENT_EVENTS, TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import inbox_caught_up, produce
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(120)


def envelope(payload: Payload, subject: str) -> Envelope:
    return Envelope.new(payload, source="test", subject=subject, time=datetime.now(UTC))


def mails(folder: Path) -> list[Message]:
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


async def test_an_assignment_read_before_the_agents_registration_still_tells_the_agent(fresh: Isolated) -> None:
    smtp_port, port = free_port(), free_port()
    folder = fresh.log_dir / "mail"
    env = {"NOTIFY_SMTP_PORT": str(smtp_port), "NOTIFY_PORT": str(port), "MESA_MAIL_DIR": str(folder)}
    sink = Proc("services.notify.mailsink", {**fresh.env, **env}, fresh.log_dir, "smtp").start()
    notify = Proc("services.notify", {**fresh.env, **env}, fresh.log_dir, "notify", port).start()
    try:
        await notify.ready()
        opened = ev.TicketOpened(
            ticket_id="T-N1",
            requester="marta@example.com",
            subject="Sin conexión",
            description="La red cae",
            category="network",
            impact="low",
            urgency="low",
            priority="P4",
            language="en",
        )
        assigned = ev.TicketAssigned(ticket_id="T-N1", agent_id="olga", level=1, reason="network L1 P4")
        await produce(
            fresh.settings, fresh.settings.topic(TICKET_EVENTS), [envelope(opened, "T-N1"), envelope(assigned, "T-N1")]
        )

        async def parked() -> bool:
            conn = await asyncpg.connect(fresh.settings.database_url)
            try:
                return bool(await conn.fetchval("SELECT count(*) FROM notify.awaiting_agent WHERE agent_id = 'olga'"))
            except asyncpg.UndefinedTableError:
                return False
            finally:
                await conn.close()

        await eventually(parked, what="the assignment mail to wait for olga's address")
        assert not [m for m in mails(folder) if m["X-Mesa-Template"] == "assigned"]
        olga = ev.AgentRegistered(
            agent_id="olga",
            name="Olga",
            email="olga@soporte.test",
            skills=("network",),
            level=1,
            capacity=5,
        )
        await produce(fresh.settings, fresh.settings.topic(AGENT_EVENTS), [envelope(olga, "olga")])

        async def olgas_mail() -> list[Message]:
            return [m for m in mails(folder) if m["To"] == "olga@soporte.test"]

        [mail] = await eventually(olgas_mail, what="the assignment mail once olga is known")
        assert mail["X-Mesa-Template"] == "assigned"
        assert str(make_header(decode_header(mail["Subject"]))) == "[T-N1] Ticket assigned: Sin conexión"
        assert not await parked()
        # the same registration again (a re-sent roster) sends nothing more
        await produce(fresh.settings, fresh.settings.topic(AGENT_EVENTS), [envelope(olga, "olga")])
        topics = [fresh.settings.topic(AGENT_EVENTS)]
        await eventually(lambda: inbox_caught_up(fresh.settings, "notify", "notify-agents", topics), what="settled")
        await eventually(lambda: _no_pending(fresh), what="the delivery loop to drain")
        assert len(await olgas_mail()) == 1
    finally:
        notify.stop()
        sink.stop()


async def _no_pending(iso: Isolated) -> bool:
    conn = await asyncpg.connect(iso.settings.database_url)
    try:
        return bool(await conn.fetchval("SELECT count(*) = 0 FROM notify.deliveries WHERE status = 'pending'"))
    finally:
        await conn.close()
