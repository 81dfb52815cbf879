"""A consumer with a latency budget (`wait_ms`) applies a small poll late, with what follows it;
while a reader in its process waits for what a person just did (`hurried`, the web after a
form), the budget gives way: on a real broker and a real database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from shared.domain.events import Envelope
from shared.platform import db
from shared.platform.consumer import Delivery, InboxConsumer, verified_events
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME
from tests.integration.test_delivery_contract import ticket_stream
from tests.kafka_tools import produce
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)
BUDGET_MS = 600_000  # far beyond any deadline below: only giving way can apply a record in time


async def test_a_waiting_reader_cuts_the_budget_short(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    first, second = ticket_stream(tickets=2, comments=0)
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    applied: list[str] = []

    async def handler(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
        applied.append(env.subject)

    def applied_(subject: str) -> Callable[[], Awaitable[bool]]:
        async def probe() -> bool:
            return subject in applied

        return probe

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
            wait_ms=BUDGET_MS,
        )
        task = asyncio.create_task(consumer.run())
        try:
            async with asyncio.timeout(30):
                await consumer.joined.wait()
            # a record read before anyone waits: its linger is under way when a reader comes
            await produce(fresh.settings, topic, [first])
            with consumer.hurried():
                await eventually(applied_(first.subject), timeout=30, what="the first record applied")
                # and one read while the reader waits is applied without a linger of the budget's length
                await produce(fresh.settings, topic, [second])
                await eventually(applied_(second.subject), timeout=30, what="the second record applied")
        finally:
            consumer.stop()
            await task
        assert applied == [first.subject, second.subject]
    finally:
        await pool.close()
