"""Durable by default (issue 22): a consumer's transaction commits without waiting for the disk
unless it wrote the outbox, and so the relay never publishes a row before the commit that wrote it
is on disk (shared.platform.durability)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from services.sla.service import MIGRATIONS
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform import db, inbox, outbox
from shared.platform.bus import start_producer
from shared.platform.outbox import OutboxRelay
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import signer_of

pytestmark = pytest.mark.timeout(120)


async def test_the_server_is_durable_and_a_consumer_claim_commits_lazily(fresh: Isolated) -> None:
    pool = await db.create_pool(fresh.settings.database_url, "sla")
    topic = fresh.settings.topic(TICKET_EVENTS)
    try:
        await db.migrate(pool, "sla", MIGRATIONS)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW fsync") == "on"
            assert await conn.fetchval("SHOW synchronous_commit") == "on"  # a command's commit waits
            async with conn.transaction():
                await inbox.claim_batch(conn, "sla-test", "t", 0, 1, [0], [uuid4()])
                assert await conn.fetchval("SHOW synchronous_commit") == "off"  # only in this transaction
            assert await conn.fetchval("SHOW synchronous_commit") == "on"
            async with conn.transaction():  # a claim, then events: the commit waits again
                await inbox.claim_batch(conn, "sla-test", "t", 0, 2, [1], [uuid4()])
                await outbox.enqueue(conn, topic, _envelope(0))
                assert await conn.fetchval("SHOW synchronous_commit") == "on"
            async with conn.transaction():  # events, then a claim: it stays waiting
                await outbox.enqueue(conn, topic, _envelope(1))
                await inbox.claim_batch(conn, "sla-test", "t", 0, 3, [2], [uuid4()])
                assert await conn.fetchval("SHOW synchronous_commit") == "on"
            async with conn.transaction():  # the mark is the transaction's: the next one is lazy again
                await inbox.claim_batch(conn, "sla-test", "t", 0, 4, [3], [uuid4()])
                assert await conn.fetchval("SHOW synchronous_commit") == "off"
    finally:
        await pool.close()


def _envelope(i: int) -> Envelope:
    event = ev.TicketCommented(ticket_id=f"T-{i}", author="ana", author_role="agent", body="hola")
    return Envelope.new(event, source="sla", subject=f"T-{i}", time=datetime.now(UTC))


async def test_the_relay_publishes_only_what_is_on_disk(fresh: Isolated, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a consumer writes: a lazy claim and events in one transaction, in either order. PostgreSQL's
    WAL writer flushes on its own within 200 ms; the relay publishes at once."""
    pool = await db.create_pool(fresh.settings.database_url, "sla")
    producer = await start_producer(fresh.settings, "durability-test")
    relay = OutboxRelay(pool, producer, "sla", signer_of(fresh.settings, "sla"))
    topic = fresh.settings.topic(TICKET_EVENTS)
    observer = await asyncpg.connect(fresh.settings.database_url)
    on_disk_at_send: list[Any] = []
    send = producer.send

    async def observed(*args: Any, **kwargs: Any) -> Any:
        """The real send, after noting how far the WAL was on disk at that moment."""
        on_disk_at_send.append(await observer.fetchval("SELECT pg_current_wal_flush_lsn()"))
        return await send(*args, **kwargs)

    monkeypatch.setattr(producer, "send", observed)
    try:
        await db.migrate(pool, "sla", MIGRATIONS)
        for i in range(40):
            async with pool.acquire() as conn:
                async with conn.transaction():
                    if i % 2:
                        await inbox.claim_batch(conn, "sla-test", "t", 0, i + 1, [i], [uuid4()])
                    await outbox.enqueue(conn, topic, _envelope(i))
                    if not i % 2:
                        await inbox.claim_batch(conn, "sla-test", "t", 0, i + 1, [i], [uuid4()])
                    # the commit record comes after this: a commit that waited flushed at least this far
                    written = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
                assert await relay.publish_batch() == 1
            assert on_disk_at_send[-1] >= written, f"published before its commit was on disk ({i})"
    finally:
        await observer.close()
        await producer.stop()
        await pool.close()
