"""Notify as its own process with the development mail sink: each message once, even when the
logs arrive out of step."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from pathlib import Path

import asyncpg
import pytest

from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS
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
        return bool(
            await conn.fetchval("SELECT count(*) = 0 FROM notify.deliveries WHERE status IN ('pending', 'sending')")
        )
    finally:
        await conn.close()


async def test_each_agent_gets_one_digest_of_their_open_queue_a_day(fresh: Isolated) -> None:
    smtp_port, port = free_port(), free_port()
    folder = fresh.log_dir / "mail"
    env = {
        "NOTIFY_SMTP_PORT": str(smtp_port),
        "NOTIFY_PORT": str(port),
        "MESA_MAIL_DIR": str(folder),
        "NOTIFY_DIGEST_HOUR": "0",  # due from midnight: due now, whenever the test runs
        "NOTIFY_DIGEST_TZ": "UTC",
    }
    sink = Proc("services.notify.mailsink", {**fresh.env, **env}, fresh.log_dir, "smtp").start()
    notify = Proc("services.notify", {**fresh.env, **env}, fresh.log_dir, "notify", port).start()
    try:
        await notify.ready()
        agents = [
            ev.AgentRegistered(
                agent_id=a, name=a.title(), email=f"{a}@soporte.test", skills=("network",), level=1, capacity=5
            )
            for a in ("olga", "pablo")
        ]
        await produce(fresh.settings, fresh.settings.topic(AGENT_EVENTS), [envelope(a, a.agent_id) for a in agents])
        events = []
        for tid, status_change in (("T-D1", None), ("T-D2", "resolved"), ("T-D3", None)):
            events.append(
                envelope(
                    ev.TicketOpened(
                        ticket_id=tid,
                        requester="marta@example.com",
                        subject=f"Sin red {tid}",
                        description="La red cae",
                        category="network",
                        impact="low",
                        urgency="low",
                        priority="P4",
                    ),
                    tid,
                )
            )
            events.append(envelope(ev.TicketAssigned(ticket_id=tid, agent_id="olga", level=1, reason="r"), tid))
            if status_change:
                events.append(envelope(ev.TicketResolved(ticket_id=tid, agent_id="olga", summary="hecho"), tid))
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), events)

        async def digests() -> list[EmailMessage]:
            found = [
                email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in folder.glob("*.eml")
            ]
            return [m for m in found if isinstance(m, EmailMessage) and m["X-Mesa-Template"] == "digest"]

        # the digest loop runs at start; the tickets may arrive after its first pass, so restart it
        topics = [fresh.settings.topic(TICKET_EVENTS)]
        await eventually(lambda: inbox_caught_up(fresh.settings, "notify", "notify-tickets", topics), what="folded")
        notify.stop()
        notify = Proc("services.notify", {**fresh.env, **env}, fresh.log_dir, "notify", port).start()
        await notify.ready()
        [digest] = await eventually(digests, what="olga's digest")
        assert digest["To"] == "olga@soporte.test"  # pablo has no open tickets: no digest
        part = digest.get_body(preferencelist=("plain",))
        assert part is not None
        body = part.get_content()
        assert "T-D1" in body and "T-D3" in body and "T-D2" not in body  # the resolved one is not in the queue
        assert "X-Mesa-Ticket" not in digest  # about no single ticket
        # a restart the same day sends nothing more
        notify.stop()
        notify = Proc("services.notify", {**fresh.env, **env}, fresh.log_dir, "notify", port).start()
        await notify.ready()
        await eventually(lambda: _no_pending(fresh), what="the delivery loop to drain")
        conn = await asyncpg.connect(fresh.settings.database_url)
        try:
            queued = await conn.fetchval("SELECT count(*) FROM notify.deliveries WHERE template = 'digest'")
        finally:
            await conn.close()
        assert queued == 1 and len(await digests()) == 1
    finally:
        notify.stop()
        sink.stop()


async def test_an_erasure_in_the_same_batch_covers_the_mail_queued_before_it(fresh: Isolated) -> None:
    """A ticket's events and its erasure produced together reach notify in one batch (its consumer
    gathers a batch for a quarter of a second): the "received" mail the targets queued must be
    cancelled with no address, as if the erasure had come alone (notify queues a batch's mail
    together, at its end)."""
    port = free_port()
    env = {"NOTIFY_SMTP_PORT": str(free_port()), "NOTIFY_PORT": str(port)}  # no server: nothing leaves
    tid = "T-E1"
    opened = ev.TicketOpened(
        ticket_id=tid,
        requester="rosa@example.com",
        subject="Factura duplicada",
        description="Me cobraron dos veces",
        category="payment",
        impact="low",
        urgency="low",
        priority="P4",
    )
    targets = ev.TicketSlaTargetsSet(
        ticket_id=tid, priority="P4", first_response_due=datetime.now(UTC), resolution_due=datetime.now(UTC)
    )
    erased = ev.TicketRequesterErased(ticket_id=tid, requester="p-rosa", by="dpo", reason="derecho de supresión")
    notify = Proc("services.notify", {**fresh.env, **env}, fresh.log_dir, "notify", port).start()
    try:
        await notify.ready()
        await produce(
            fresh.settings,
            fresh.settings.topic(TICKET_EVENTS),
            [envelope(opened, tid), envelope(targets, tid), envelope(erased, tid)],
        )
        topics = [fresh.settings.topic(TICKET_EVENTS)]
        await eventually(lambda: inbox_caught_up(fresh.settings, "notify", "notify-tickets", topics), what="read")
        conn = await asyncpg.connect(fresh.settings.database_url)
        try:
            rows = await conn.fetch(
                "SELECT status, address, subject, body FROM notify.deliveries WHERE ticket_id = $1", tid
            )
        finally:
            await conn.close()
        assert rows, "the targets queued the requester's mail"
        for r in rows:
            assert (r["status"], r["address"]) == ("cancelled", None)
            assert "Factura" not in r["subject"] + r["body"]
    finally:
        notify.stop()
