"""A service's time-driven loops wait until its consumers have folded the history they met
(shared.platform.runtime): SLA joining a log of closed tickets, their targets long past, fires
nothing for them, and fires for the one ticket still open once the fold is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.sla.handlers import CONSUMER
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import header, inbox_caught_up, produce, read_all
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(180)
PARTITIONS = 3
LONG_AGO = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)


def _history(ticket_id: str, closed: bool) -> list[Envelope]:
    payloads: list[Payload] = [
        ev.TicketOpened(
            ticket_id=ticket_id,
            requester="cliente@example.com",
            subject="Mi pedido no llega",
            description="Sin movimiento",
            category="order_status",
            impact="high",
            urgency="high",
            priority="P1",
        ),
        ev.TicketSlaTargetsSet(
            ticket_id=ticket_id,
            priority="P1",
            first_response_due=LONG_AGO + timedelta(hours=1),
            resolution_due=LONG_AGO + timedelta(hours=4),
        ),
    ]
    if closed:
        payloads += [
            ev.TicketResolved(ticket_id=ticket_id, agent_id="ana", summary="Entregado"),
            ev.TicketClosed(ticket_id=ticket_id, by="cliente@example.com", reason="confirmed"),
        ]
    return [
        Envelope.new(p, source="test", subject=ticket_id, time=LONG_AGO + timedelta(minutes=k))
        for k, p in enumerate(payloads)
    ]


async def test_sla_acts_on_no_ticket_before_its_history_is_folded(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    closed = [f"T-H{i:04d}" for i in range(150)]
    stories = [_history(tid, closed=True) for tid in closed]
    # as in a real log, tickets interleave: every opening first, every closing later
    await produce(fresh.settings, topic, [e for story in stories for e in story[:2]])
    await produce(fresh.settings, topic, [e for story in stories for e in story[2:]])
    await produce(fresh.settings, topic, _history("T-OPEN", closed=False))

    port = free_port()
    # one record per transaction: the fold takes seconds, and the timer loop looks every 0.5 s
    sla = Proc(
        "services.sla",
        {**fresh.env, "SLA_PORT": str(port), "MESA_BATCH_SIZE": "1", "MESA_CONSUMER_LINGER_MS": "0"},
        fresh.log_dir,
        "sla",
        port,
    ).start()
    try:
        await sla.ready()

        async def escalated_open_ticket() -> bool:
            assert sla.alive(), sla.log_tail()
            records = await read_all(fresh.settings, topic)
            return any(
                header(r, "ce_subject") == "T-OPEN" and header(r, "ce_type") == "ticket.escalated" for r in records
            )

        await eventually(escalated_open_ticket, timeout=90, what="the open ticket's escalation, after the fold")
        assert await inbox_caught_up(fresh.settings, "sla", CONSUMER, [topic])
        acted = [
            (header(r, "ce_subject"), header(r, "ce_type"))
            for r in await read_all(fresh.settings, topic)
            if header(r, "ce_source") == "sla" and header(r, "ce_subject") in set(closed)
        ]
        assert acted == []
        assert "history folded: background jobs start" in sla.log_tail(400)
    finally:
        sla.stop()
