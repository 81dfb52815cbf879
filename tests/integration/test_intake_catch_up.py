"""A command that follows what another service did (an agent asks the requester something on a
ticket routing assigned them a moment ago) is decided on that, even when intake has not read it
yet: intake waits for its fold of ticket.events to reach the log's end, then decides again. A
refusal that stands is given at once when intake is not behind, and after the wait when it stays
behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.intake.domain import CommandRejected
from services.intake.handlers import EVENTS_CONSUMER, Intake
from services.intake.service import MIGRATIONS
from shared.domain.commands import Actor, OpenTicket, RequestInfo
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Status
from shared.domain.principal import Principal
from shared.platform import db
from shared.platform.bus import start_producer
from shared.platform.clock import SystemClock
from shared.platform.consumer import Delivery, InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.outbox import OutboxRelay
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import inbox_caught_up, produce, signer_of
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)
ANA = Actor("requester", "ana@example.com")


@dataclass
class Rig:
    iso: Isolated
    intake: Intake
    consumer: InboxConsumer[Envelope]
    gate: asyncio.Event  # while clear, intake's fold of ticket.events holds still
    asked: asyncio.Event  # set when a command asked to catch up

    async def settled(self) -> None:
        topic = self.iso.settings.topic(TICKET_EVENTS)

        async def done() -> bool:
            return await inbox_caught_up(self.iso.settings, "intake", EVENTS_CONSUMER, [topic])

        await eventually(done, timeout=30, what="intake to fold ticket.events")

    async def assign(self, ticket_id: str, agent: str) -> None:
        payload = ev.TicketAssigned(ticket_id=ticket_id, agent_id=agent, level=1, reason="skill hardware")
        env = Envelope.new(payload, source="routing", subject=ticket_id, time=datetime.now(UTC))
        await produce(self.iso.settings, self.iso.settings.topic(TICKET_EVENTS), [env])


@pytest.fixture
async def rig(fresh: Isolated) -> AsyncIterator[Rig]:
    settings = fresh.settings
    pool = await db.create_pool(settings.database_url, "intake")
    await db.migrate(pool, "intake", MIGRATIONS)
    keyring = await Keyring.open(pool, settings)
    intake = Intake(settings, pool, SystemClock(), keyring)
    gate, asked = asyncio.Event(), asyncio.Event()
    gate.set()

    async def fold(conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        await gate.wait()
        await intake.fold_events(conn, items)

    consumer = InboxConsumer[Envelope](
        settings,
        pool,
        name=EVENTS_CONSUMER,
        group_id=settings.group("intake", "events"),
        topics=[settings.topic(TICKET_EVENTS)],
        batch_handler=fold,
        decode=verified_events(Trust.load(settings.signing_folder)),
        letters=Letters(keyring),
    )

    async def catch_up(ticket_id: str) -> bool:
        asked.set()
        return await consumer.catch_up(ticket_id.encode(), 3.0)

    intake.catch_up = catch_up
    producer = await start_producer(settings, "intake-test")
    relay = OutboxRelay(pool, producer, "intake", signer_of(settings, "intake"), poll_seconds=0.05)
    tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(relay.run())]
    await asyncio.wait_for(consumer.joined.wait(), 30)
    try:
        yield Rig(fresh, intake, consumer, gate, asked)
    finally:
        gate.set()
        consumer.stop()
        relay.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        await producer.stop()
        await pool.close()


async def opened(rig: Rig) -> str:
    outcome, _ = await rig.intake.open(
        OpenTicket(requester="ana@example.com", subject="El portátil no enciende", description="Nada"), ANA
    )
    await rig.settled()  # its own opening read back (a no-op), so the fold is at the log's end
    return outcome.ticket.id


async def test_a_command_on_a_state_intake_has_not_read_yet_waits_for_it(rig: Rig) -> None:
    tid = await opened(rig)
    rig.gate.clear()  # intake falls behind: routing's assignment is on the log, unread here
    await rig.assign(tid, "agent-7")
    before = await rig.intake.get(tid)
    assert before is not None and before.status == Status.new and before.owner is None

    agent = Actor("agent", "agent-7")
    asking = asyncio.create_task(rig.intake.command(tid, RequestInfo(question="¿Qué modelo es?"), agent))
    await asyncio.wait_for(rig.asked.wait(), 10)  # refused on "new", and waiting instead of answering
    assert not asking.done()
    rig.gate.set()
    outcome = await asyncio.wait_for(asking, 10)

    assert [e.type for e in outcome.events] == ["ticket.info_requested"]
    assert outcome.ticket.owner == "agent-7" and outcome.ticket.status == Status.waiting_on_customer


async def test_an_agent_assigned_a_moment_ago_may_read_the_ticket_before_intake_read_it(rig: Rig) -> None:
    tid = await opened(rig)
    await rig.assign(tid, "agent-7")
    await rig.settled()
    rig.gate.clear()
    await rig.assign(tid, "agent-9")  # reassigned; intake still thinks agent-7 owns it
    reading = asyncio.create_task(rig.intake.readable(tid, Principal(sub="agent-9", role="agent")))
    await asyncio.wait_for(rig.asked.wait(), 10)
    rig.gate.set()
    found = await asyncio.wait_for(reading, 10)
    assert found is not None and found.owner == "agent-9"


async def test_a_refusal_that_stands_is_given_at_once_when_intake_is_not_behind(rig: Rig) -> None:
    tid = await opened(rig)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(CommandRejected) as refused:
        await rig.intake.command(tid, RequestInfo(question="¿Qué modelo es?"), Actor("agent", "agent-7"))
    assert refused.value.code == "not_allowed_in_status" and refused.value.version == 1 and rig.asked.is_set()
    assert loop.time() - started < 3.0  # intake was at the log's end: no wait for the deadline


async def test_a_refusal_is_given_after_the_wait_when_intake_stays_behind(rig: Rig) -> None:
    tid = await opened(rig)
    rig.gate.clear()
    await rig.assign(tid, "agent-7")
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(CommandRejected) as refused:
        await rig.intake.command(tid, RequestInfo(question="¿Qué modelo es?"), Actor("agent", "agent-7"))
    waited = loop.time() - started
    assert refused.value.code == "not_allowed_in_status"
    assert 3.0 <= waited < 10  # the catch-up's deadline, then the refusal; never stuck
    rig.gate.set()
    await rig.settled()
    after: Any = await rig.intake.get(tid)
    assert after.owner == "agent-7"  # nothing was lost meanwhile
