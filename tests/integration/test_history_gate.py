"""A service's time-driven loops wait until its consumers have folded the history they met
(shared.platform.runtime): SLA joining a log of closed tickets, their targets long past, fires
nothing for them, and fires for the one ticket still open once the fold is done."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from services.sla.handlers import CONSUMER
from shared.domain.events import Envelope, Payload
from shared.domain.events import catalogue as ev
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import end_offsets, header, inbox_caught_up, produce, read_all
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
        # (the escalation and what came before it are read back too)
        await eventually(lambda: inbox_caught_up(fresh.settings, "sla", CONSUMER, [topic]), timeout=30, what="catch-up")
        acted = [
            (header(r, "ce_subject"), header(r, "ce_type"))
            for r in await read_all(fresh.settings, topic)
            if header(r, "ce_source") == "sla" and header(r, "ce_subject") in set(closed)
        ]
        assert acted == []
        assert "history folded: background jobs start" in sla.log_tail(400)
    finally:
        sla.stop()


async def test_a_log_whose_history_expired_does_not_hold_the_jobs_back(fresh: Isolated) -> None:
    """Records below a service's stored position that retention deleted can never be read: the
    position moves up to where the partition begins, and the time-driven jobs start."""
    topic = fresh.settings.topic(TICKET_EVENTS)
    await produce(fresh.settings, topic, [e for tid in ("T-E1", "T-E2", "T-E3") for e in _history(tid, closed=False)])
    port = free_port()
    env = {**fresh.env, "SLA_PORT": str(port)}
    first = Proc("services.sla", env, fresh.log_dir, "sla-first", port).start()
    try:
        await first.ready()
        await eventually(lambda: inbox_caught_up(fresh.settings, "sla", CONSUMER, [topic]), timeout=60, what="fold")
    finally:
        first.stop()
    conn = await asyncpg.connect(fresh.settings.database_url)
    try:  # the schema dropped (a replay to come), and meanwhile retention deleted the whole log
        await conn.execute("DROP SCHEMA sla CASCADE")
    finally:
        await conn.close()
    ends = await end_offsets(fresh.settings, topic)
    admin = AIOKafkaAdminClient(**fresh.settings.kafka())
    await admin.start()
    try:
        await admin.delete_records({TopicPartition(topic, p): RecordsToDelete(end) for p, end in ends.items()})
    finally:
        await admin.close()

    second = Proc("services.sla", env, fresh.log_dir, "sla-second", port).start()
    try:
        await second.ready()

        # where the partitions begin now: nothing below can ever be read, so nothing is left to fold
        await eventually(
            lambda: inbox_caught_up(fresh.settings, "sla", CONSUMER, [topic]), timeout=30, what="the stored positions"
        )
        assert second.alive(), second.log_tail()
        assert "folding history" not in second.log_tail(400)  # the timers did not wait
    finally:
        second.stop()
