"""A consumer that declares the event types it acts on (`wants`) passes the others over unread,
on a real broker and a real database: its position still moves past them, nothing of them is
recorded, and a record of a wanted type is still verified (a forged one is dead-lettered). One
that passes a type over only live (`passes_over_live`) still reads it in its history, and one
that applies its own decisions as it makes them passes their copies over as it reads them back."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform import db, inbox
from shared.platform.bus import start_producer
from shared.platform.consumer import Delivery, InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.outbox import OutboxRelay
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME
from tests.integration.test_delivery_contract import ticket_stream
from tests.kafka_tools import produce, read_all, signed, signer_of
from tests.support import eventually, holding_every_partition

pytestmark = pytest.mark.timeout(120)


async def ledger_consumer(fresh: Isolated, pool: asyncpg.Pool, handler: Any, **options: Any) -> InboxConsumer[Envelope]:
    """The test ledger's consumer of ticket.events, verifying signatures, with `options`."""
    return InboxConsumer[Envelope](
        fresh.settings,
        pool,
        name=NAME,
        group_id=fresh.settings.group(NAME),
        topics=[fresh.settings.topic(TICKET_EVENTS)],
        handler=handler,
        decode=verified_events(Trust.load(fresh.settings.signing_folder)),
        letters=Letters(await Keyring.open(pool, fresh.settings)),
        **options,
    )


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
        consumer = await ledger_consumer(fresh, pool, handler, wants=frozenset({"ticket.opened"}))
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


def set_aside() -> float:
    return REGISTRY.get_sample_value("mesa_batches_passed_over_total", {"consumer": NAME}) or 0.0


async def test_live_polls_of_nothing_wanted_are_set_aside_and_their_position_stored_later(fresh: Isolated) -> None:
    """Records all of types not wanted, arriving live, cost no transaction of their own: the
    stored position moves past them a moment later (within `PASSED_OVER_STORED_WITHIN_S`), or
    with the partition's next claim; nothing of them is recorded, a wanted one after them is
    applied, and a stopped consumer has stored how far it got."""
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=1, comments=3)  # T-0000: opened, three comments (one partition)
    opened, comments = events[0], events[1:]
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        applied.append(env.type)

    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = await ledger_consumer(fresh, pool, handler, wants=frozenset({"ticket.opened"}))
        task = asyncio.create_task(consumer.run())
        try:
            await holding_every_partition(consumer, fresh.settings)
            before_aside, before_unwanted = set_aside(), unwanted()
            await produce(fresh.settings, topic, comments)  # live, none of them wanted
            records = await read_all(fresh.settings, topic)
            [tp] = {TopicPartition(r.topic, r.partition) for r in records}
            end = int(records[-1].offset) + 1

            async def stored() -> bool:
                return await inbox.position(pool, NAME, tp.topic, tp.partition) == end

            await eventually(stored, timeout=30, what="the position past the passed-over records")
            assert set_aside() - before_aside >= 1  # (a poll or more, however the broker split them)
            assert unwanted() - before_unwanted == len(comments)
            assert applied == []
            assert await pool.fetchval("SELECT count(*) FROM inbox_events") == 0

            await produce(fresh.settings, topic, [opened, *comments[:1]])  # a wanted one, then not
            end = int((await read_all(fresh.settings, topic))[-1].offset) + 1

            async def seen() -> bool:
                return consumer.applied_up_to(tp) == end

            await eventually(seen, timeout=30, what="the consumer at the log's end")
        finally:
            consumer.stop()
            await task
        assert applied == ["ticket.opened"]
        assert await inbox.position(pool, NAME, tp.topic, tp.partition) == end  # stored on the way out at the latest
        remembered = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox_events")}
        assert remembered == {opened.id}
    finally:
        await pool.close()


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
        consumer = await ledger_consumer(fresh, pool, handler, by_offset=True)
        records = await read_all(fresh.settings, topic)
        [tp] = {TopicPartition(r.topic, r.partition) for r in records}
        assert await consumer.apply(tp, records) == records[-1].offset + 1
        assert await consumer.apply(tp, records) is None  # all applied before
        assert applied == [r.offset for r in records]  # the duplicate too, and each once
        assert await pool.fetchval("SELECT count(*) FROM inbox_events") == 0
        await consumer.close()
    finally:
        await pool.close()


async def test_types_passed_over_live_are_still_read_as_history(fresh: Isolated) -> None:
    """notify's way with its own outcomes: records of the type that were on the log before the
    consumer joined (its history) are read and handed over as history; the same type arriving
    live is passed over unread, and other types still come, the position moving past both."""
    topic = fresh.settings.topic(TICKET_EVENTS)
    one = ticket_stream(tickets=1, comments=2)  # T-0000: opened, two comments
    other = next(e for e in ticket_stream(tickets=2, comments=0) if e.subject == "T-0001")  # opened
    await produce(fresh.settings, topic, one[:2])  # history: the opening and a comment
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    applied: list[tuple[str, str, bool]] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, d: Delivery) -> None:
        applied.append((env.subject, env.type, d.replaying))

    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = await ledger_consumer(fresh, pool, handler, passes_over_live=frozenset({"ticket.commented"}))
        task = asyncio.create_task(consumer.run())
        before = unwanted()
        try:
            await holding_every_partition(consumer, fresh.settings)
            await produce(fresh.settings, topic, [one[2], other])  # live: a comment, another opening
            ends = {(r.topic, r.partition): r.offset + 1 for r in await read_all(fresh.settings, topic)}

            async def caught_up() -> bool:
                return all([await inbox.position(pool, NAME, t, p) >= end for (t, p), end in ends.items()])

            await eventually(caught_up, timeout=30, what="the consumer at the log's end")
        finally:
            consumer.stop()
            await task
        # (the two tickets' partitions are fetched independently: order holds within a ticket)
        assert [a for a in applied if a[0] == "T-0000"] == [
            ("T-0000", "ticket.opened", True),
            ("T-0000", "ticket.commented", True),
        ]
        assert [a for a in applied if a[0] == "T-0001"] == [("T-0001", "ticket.opened", False)]
        assert unwanted() - before == 1
        remembered = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox_events")}
        assert one[2].id not in remembered and {one[0].id, one[1].id, other.id} <= remembered
    finally:
        await pool.close()


def duplicates(kind: str) -> float:
    return REGISTRY.get_sample_value("mesa_records_duplicate_total", {"consumer": NAME, "kind": kind}) or 0.0


async def test_own_decisions_read_back_live_are_set_aside_without_a_claim(fresh: Isolated) -> None:
    """A consumer that applies its decisions as it makes them (`applied_by` its own name, as routing
    and SLA do) meets each of them a moment later, read back from the log: a poll of those alone is
    set aside like one of types it never reads (no transaction of its own), the handler never sees
    it, and the stored position still moves past it."""
    topic = fresh.settings.topic(TICKET_EVENTS)
    [opened] = ticket_stream(tickets=1, comments=0)
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    producer = await start_producer(fresh.settings, "own-decisions")
    relay = OutboxRelay(pool, producer, NAME, signer_of(fresh.settings, "routing"))
    applied: list[str] = []
    decided: list[Envelope] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> list[tuple[str, Envelope]]:
        applied.append(env.type)
        if not isinstance(env.data, ev.TicketOpened):
            return []
        assigned = ev.TicketAssigned(ticket_id=env.subject, agent_id="ana", level=1, reason="prueba")
        decided.append(Envelope.new(assigned, source="routing", subject=env.subject, time=env.time, cause=env))
        return [(topic, decided[-1])]

    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = await ledger_consumer(
            fresh, pool, handler, wants=frozenset({"ticket.opened", "ticket.assigned"}), applied_by=NAME
        )
        task = asyncio.create_task(consumer.run())
        try:
            await holding_every_partition(consumer, fresh.settings)
            before_aside, before_own, before_by_id = set_aside(), duplicates("own"), duplicates("event_id")
            await produce(fresh.settings, topic, [opened])

            async def published() -> bool:
                if decided:
                    await relay.publish_batch()
                return relay.published > 0

            await eventually(published, timeout=30, what="the decision published")
            records = await read_all(fresh.settings, topic)
            assert [r.offset for r in records] == [0, 1] and records[1].key == opened.subject.encode()
            tp = TopicPartition(records[1].topic, records[1].partition)

            async def stored() -> bool:
                return await inbox.position(pool, NAME, tp.topic, tp.partition) == 2

            await eventually(stored, timeout=30, what="the position past the decision read back")
        finally:
            consumer.stop()
            await task
        assert applied == ["ticket.opened"]
        assert duplicates("own") - before_own == 1
        assert duplicates("event_id") == before_by_id  # no claim met it
        assert set_aside() - before_aside == 1
        remembered = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox_events")}
        assert remembered == {opened.id, decided[0].id}
    finally:
        await producer.stop()
        await pool.close()
