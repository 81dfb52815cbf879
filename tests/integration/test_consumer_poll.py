"""A batch handler takes a poll's partitions at once, on a real broker and a real database: one
claim for all of them, one call with every fresh record (each partition's in order), each
partition's position moved; a redelivered poll changes nothing, and an event re-sent at another
offset is applied once."""

from __future__ import annotations

from collections import defaultdict

import asyncpg
import pytest
from aiokafka import TopicPartition

from shared.domain.events import Envelope
from shared.platform import db, inbox
from shared.platform.consumer import Delivery, InboxConsumer, Record, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME
from tests.integration.test_delivery_contract import ticket_stream
from tests.kafka_tools import produce, read_all

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("kind", ["batch handler", "handler"])
async def test_a_poll_of_many_partitions_is_one_claim_and_one_call(fresh: Isolated, kind: str) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=12, comments=2)
    await produce(fresh.settings, topic, [*events, events[0]])  # the last one: a relay re-sent the first
    records = await read_all(fresh.settings, topic)
    by_partition: dict[TopicPartition, list[Record]] = defaultdict(list)
    for r in records:
        by_partition[TopicPartition(r.topic, r.partition)].append(r)
    parts = sorted(by_partition.items(), key=lambda item: item[0].partition)
    assert len(parts) >= 3, "twelve tickets land on several partitions"
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    calls: list[list[tuple[str, int, int]]] = []

    async def fold(conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        calls.append([(env.subject, d.record.partition, d.record.offset) for env, d in items])

    async def one(conn: asyncpg.Connection, env: Envelope, d: Delivery) -> None:
        if not calls:
            calls.append([])
        calls[0].append((env.subject, d.record.partition, d.record.offset))

    handlers = {"batch_handler": fold} if kind == "batch handler" else {"handler": one}

    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = InboxConsumer[Envelope](
            fresh.settings,
            pool,
            name=NAME,
            group_id=fresh.settings.group(NAME),
            topics=[topic],
            **handlers,
            decode=verified_events(Trust.load(fresh.settings.signing_folder)),
            letters=Letters(await Keyring.open(pool, fresh.settings)),
        )
        # every partition but the last adopted, as on assignment; the last has no inbox row yet
        await inbox.adopt_partitions(pool, NAME, {(tp.topic, tp.partition): 0 for tp, _ in parts[:-1]})

        async with pool.acquire() as conn, conn.transaction():
            done = await consumer._apply_together(conn, parts)

        assert done == [(tp, rs[-1].offset + 1) for tp, rs in parts]
        [applied] = calls  # one call for the whole poll (a handler: called for each record in turn)
        assert len(applied) == len(events)  # the re-sent copy is not applied a second time
        assert [(p, o) for _, p, o in applied] == sorted((p, o) for _, p, o in applied)  # partition after partition
        for tp, rs in parts:
            assert await inbox.position(pool, NAME, tp.topic, tp.partition) == rs[-1].offset + 1
        for subject in {e.subject for e in events}:
            mine = [e for e in events if e.subject == subject]
            seen = [o for s, _, o in applied if s == subject]
            assert len(seen) == len(mine) and seen == sorted(seen)  # a ticket's events once each, in order

        async with pool.acquire() as conn, conn.transaction():  # the same poll delivered again
            again = await consumer._apply_together(conn, parts)
        assert again == [(tp, None) for tp, _ in parts]
        assert len(calls) == 1  # nothing fresh: the handler is not called
        await consumer.close()
    finally:
        await pool.close()
