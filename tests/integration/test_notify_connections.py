"""Notify's SMTP connections against a real server (aiosmtpd) with a manual clock: kept open while
mail trickles in, so a message that comes a moment after the last goes without a new greeting,
and closed once nothing has been due for NOTIFY_SMTP_IDLE_S."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from aiosmtpd.controller import Controller

from services.notify.delivery import Deliverer
from services.notify.handlers import audience_of
from services.notify.service import MIGRATIONS
from shared.platform import db
from shared.platform.clock import ManualClock
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from tests.conftest import Isolated
from tests.support import free_port

pytestmark = pytest.mark.timeout(60)


class Counting:
    def __init__(self) -> None:
        self.greetings = 0
        self.accepted = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted += 1
        return "250 OK"


@pytest.fixture
def server() -> Iterator[tuple[Counting, int]]:
    handler, port = Counting(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
async def pool(fresh: Isolated) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(fresh.settings.database_url, "notify", max_size=4)
    await db.migrate(p, "notify", MIGRATIONS)
    yield p
    await p.close()


async def queue_one(pool: asyncpg.Pool, at: datetime) -> None:
    await pool.execute(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at, address)"
        " VALUES ($1, 'ana@example.com', 'email', 'T-1', 'update', 'Novedades', 'Hola', $2, 'ana@example.com')",
        uuid4(),
        at,
    )


async def test_connections_outlive_a_quiet_moment_and_close_after_the_idle_time(
    fresh: Isolated, pool: asyncpg.Pool, server: tuple[Counting, int]
) -> None:
    handler, port = server
    settings = fresh.settings.model_copy(update={"smtp_port": port, "notify_smtp_idle_s": 10.0})
    clock = ManualClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    keyring = await Keyring.open(pool, settings)
    deliverer = Deliverer(settings, pool, clock, Letters(keyring), audience_of(settings))
    try:
        await queue_one(pool, clock.now())
        assert await deliverer.deliver_due() == 1
        assert (handler.greetings, handler.accepted) == (1, 1)

        clock.advance(timedelta(seconds=9))
        assert await deliverer.deliver_due() == 0  # a quiet moment: the connection stays
        await queue_one(pool, clock.now())
        assert await deliverer.deliver_due() == 1
        assert (handler.greetings, handler.accepted) == (1, 2)  # sent without a new greeting

        clock.advance(timedelta(seconds=9))
        assert await deliverer.deliver_due() == 0  # 9 s since the last mail: still open
        clock.advance(timedelta(seconds=2))
        assert await deliverer.deliver_due() == 0  # 11 s: closed
        await queue_one(pool, clock.now())
        assert await deliverer.deliver_due() == 1
        assert (handler.greetings, handler.accepted) == (2, 3)
    finally:
        await deliverer.close_connections()
