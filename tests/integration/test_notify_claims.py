"""Claiming deliveries from notify's ledger on a real PostgreSQL: a ticket (else a recipient) with
a message on its way has no other message claimed until it settles, on this instance or
another, so one ticket's mail never leaves on two connections at once, out of order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.notify import ledger
from services.notify.service import MIGRATIONS
from shared.platform import db
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(60)
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@pytest.fixture
async def pool(fresh: Isolated) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(fresh.settings.database_url, "notify", max_size=4)
    await db.migrate(p, "notify", MIGRATIONS)
    yield p
    await p.close()


async def row(pool: asyncpg.Pool, ticket: str, recipient: str, status: str, next_at: datetime) -> UUID:
    event_id = uuid4()
    await pool.execute(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, status, next_at)"
        " VALUES ($1, $2, 'email', $3, 'update', 's', 'b', $4, $5)",
        event_id,
        recipient,
        ticket,
        status,
        next_at,
    )
    return event_id


async def test_a_group_with_a_message_on_its_way_waits_for_it(pool: asyncpg.Pool) -> None:
    due = NOW - timedelta(seconds=1)
    await row(pool, "T-1", "ana", "sending", NOW + timedelta(seconds=30))  # on its way, leased
    t1_next = await row(pool, "T-1", "ana", "pending", due)
    t2 = await row(pool, "T-2", "ana", "pending", due)
    await row(pool, "", "bea", "sending", NOW + timedelta(seconds=30))  # a digest on its way
    await row(pool, "", "bea", "pending", due)
    carla = await row(pool, "", "carla", "pending", due)
    dead = await row(pool, "T-3", "ana", "sending", due)  # its sender died: the lease ran out
    t3_next = await row(pool, "T-3", "ana", "pending", due + timedelta(milliseconds=1))

    claimed = await ledger.claim(pool, NOW, 100, LEASE)
    assert {d.event_id for d in claimed} == {t2, carla, dead, t3_next}

    await pool.execute("UPDATE deliveries SET status = 'sent' WHERE ticket_id = 'T-1' AND status = 'sending'")
    assert [d.event_id for d in await ledger.claim(pool, NOW, 100, LEASE)] == [t1_next]


async def test_two_instances_claiming_at_once_never_share_a_ticket(fresh: Isolated, pool: asyncpg.Pool) -> None:
    other = await db.create_pool(fresh.settings.database_url, "notify", max_size=4)
    try:
        for i in range(60):
            for k in range(3):
                await row(pool, f"T-{i}", "ana", "pending", NOW - timedelta(seconds=10) + timedelta(milliseconds=k))
        holder: dict[str, str] = {}
        shared: set[str] = set()

        async def instance(name: str, p: asyncpg.Pool) -> None:
            for _ in range(10):
                for d in await ledger.claim(p, NOW, 7, LEASE):  # nothing settles meanwhile
                    if holder.setdefault(d.ticket_id, name) != name:
                        shared.add(d.ticket_id)

        await asyncio.gather(instance("a", pool), instance("b", other), instance("c", pool), instance("d", other))
        assert not shared
        assert len(holder) == 60  # and every ticket was claimed by someone
    finally:
        await other.close()
