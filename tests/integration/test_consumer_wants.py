"""A consumer that declares the event types it acts on (`wants`) passes the others over unread,
on a real broker and a real database: its position still moves past them, nothing of them is
recorded, and a record of a wanted type is still verified (a forged one is dead-lettered)."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.domain.events import Envelope
from shared.platform import db, inbox
from shared.platform.consumer import Delivery, InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME
from tests.integration.test_delivery_contract import ticket_stream
from tests.kafka_tools import produce, read_all, signed

pytestmark = pytest.mark.timeout(120)


async def test_records_of_types_not_wanted_are_passed_over_and_the_position_moves_on(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=1, comments=3)  # one ticket.opened, three ticket.commented
    [opened] = [e for e in events if e.type == "ticket.opened"]
    forged = signed(fresh.settings, opened.model_copy(update={"id": UUID(int=1)}), "routing")  # not its owner
    await produce(fresh.settings, topic, [*events, forged])
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        applied.append(env.type)

    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = InboxConsumer[Envelope](
            fresh.settings,
            pool,
            name=NAME,
            group_id=fresh.settings.group(NAME),
            topics=[topic],
            handler=handler,
            decode=verified_events(Trust.load(fresh.settings.signing_folder)),
            letters=Letters(await Keyring.open(pool, fresh.settings)),
            wants=frozenset({"ticket.opened"}),
        )
        records = await read_all(fresh.settings, topic)
        [tp] = {TopicPartition(r.topic, r.partition) for r in records}
        before = unwanted()

        assert await consumer.apply(tp, records) == records[-1].offset + 1

        assert applied == ["ticket.opened"]
        assert unwanted() - before == 3
        assert await inbox.position(pool, NAME, tp.topic, tp.partition) == records[-1].offset + 1
        remembered = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox_events")}
        assert remembered == {opened.id}  # the comments were never read, so nothing marks them
        letters = await pool.fetchval("SELECT count(*) FROM outbox WHERE topic LIKE '%.dlq'")
        assert letters == 1  # the forged opening: a type it wants is checked as before
        await consumer.close()
    finally:
        await pool.close()


def unwanted() -> float:
    return REGISTRY.get_sample_value("mesa_records_unwanted_total", {"consumer": NAME}) or 0.0


async def test_a_consumer_by_offset_applies_every_record_once_and_records_no_ids(fresh: Isolated) -> None:
    """The auditor's way: a re-sent duplicate (the same event at a second offset) is a record of
    its own; applying the same records again changes nothing."""
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=1, comments=2)
    await produce(fresh.settings, topic, [*events, events[1]])  # a relay re-sent one
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    applied: list[int] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, d: Delivery) -> None:
        applied.append(d.record.offset)

    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = InboxConsumer[Envelope](
            fresh.settings,
            pool,
            name=NAME,
            group_id=fresh.settings.group(NAME),
            topics=[topic],
            handler=handler,
            decode=verified_events(Trust.load(fresh.settings.signing_folder)),
            letters=Letters(await Keyring.open(pool, fresh.settings)),
            by_offset=True,
        )
        records = await read_all(fresh.settings, topic)
        [tp] = {TopicPartition(r.topic, r.partition) for r in records}
        assert await consumer.apply(tp, records) == records[-1].offset + 1
        assert await consumer.apply(tp, records) is None  # all applied before
        assert applied == [r.offset for r in records]  # the duplicate too, and each once
        assert await pool.fetchval("SELECT count(*) FROM inbox_events") == 0
        await consumer.close()
    finally:
        await pool.close()
