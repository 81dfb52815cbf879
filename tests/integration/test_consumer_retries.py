"""A record that loses a deadlock is retried until it is applied, never dead-lettered as poisonous
(shared.platform.consumer), on a real broker and a real database."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import TopicPartition

from shared.domain.events import Envelope
from shared.platform import db
from shared.platform.consumer import POISON_AFTER, Delivery, InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME
from tests.integration.test_delivery_contract import ticket_stream
from tests.kafka_tools import produce, read_all

pytestmark = pytest.mark.timeout(120)


async def test_a_deadlocked_record_is_retried_not_dead_lettered(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=1, comments=2)
    await produce(fresh.settings, topic, events)
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    losses = {"left": POISON_AFTER + 2}  # more than the tries after which a failing record is isolated
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        if env.type == "ticket.commented" and losses["left"] > 0:
            losses["left"] -= 1
            raise asyncpg.DeadlockDetectedError("deadlock detected")
        applied.append(str(env.id))

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
        )
        records = await read_all(fresh.settings, topic)
        [tp] = {TopicPartition(r.topic, r.partition) for r in records}
        assert await consumer.apply(tp, records) == records[-1].offset + 1
        assert losses["left"] == 0
        assert set(applied) == {str(e.id) for e in events}
        assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # no dead letter
        await consumer.close()
    finally:
        await pool.close()
