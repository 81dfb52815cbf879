"""The relay is woken by the commits that fill its outbox (LISTEN/NOTIFY): it reads the outbox
once per wake-up, not once more to find it empty, and a commit made while a batch is on its way
is published at once, never left for the next poll."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from services.sla.service import MIGRATIONS
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform import db, outbox
from shared.platform.bus import start_producer
from shared.platform.outbox import OutboxRelay
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import signer_of
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

POLL_S = 600.0  # far beyond the test's deadlines: only a wake-up can publish in time


async def commit_one(pool: asyncpg.Pool, topic: str, i: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        data = ev.TicketCommented(ticket_id=f"T-W{i}", author="ana", author_role="agent", body="hola")
        await outbox.enqueue(conn, topic, Envelope.new(data, source="sla", subject=f"T-W{i}", time=datetime.now(UTC)))


async def test_a_relay_reads_its_outbox_once_per_wake_up_and_misses_no_commit_made_during_a_batch(
    fresh: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = fresh.settings
    topic = s.topic(TICKET_EVENTS)
    pool = await db.create_pool(s.database_url, "sla")
    await db.migrate(pool, "sla", MIGRATIONS)
    producer = await start_producer(s, "relay-wakeups")
    relay = OutboxRelay(pool, producer, "sla", signer_of(s, "sla"), poll_seconds=POLL_S)
    looks = 0
    publish_batch = relay.publish_batch

    async def counted() -> int:
        nonlocal looks
        looks += 1
        return await publish_batch()

    monkeypatch.setattr(relay, "publish_batch", counted)

    async def published(n: int) -> bool:
        return relay.published >= n

    running = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _true(looks == 1), timeout=10, what="the relay's first look")
        for i in range(5):
            await commit_one(pool, topic, i)
            await eventually(lambda i=i: published(i + 1), timeout=10, what=f"row {i} published")  # type: ignore[misc]
            # one look for the first, empty, outbox and one per commit: none more to find it empty
            assert looks == i + 2, looks

        # a commit lands while a batch is being sent, after the batch read the outbox
        send = producer.send
        during: list[int] = []

        async def send_and_commit(*args: Any, **kwargs: Any) -> Any:
            if not during:
                during.append(1)
                await commit_one(pool, topic, 100)
            return await send(*args, **kwargs)

        monkeypatch.setattr(producer, "send", send_and_commit)
        await commit_one(pool, topic, 99)
        await eventually(lambda: published(7), timeout=10, what="the row committed during a batch")
        assert during and await pool.fetchval("SELECT count(*) FROM outbox") == 0
    finally:
        relay.stop()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await producer.stop()
        await pool.close()


async def _true(value: bool) -> bool:
    return value
