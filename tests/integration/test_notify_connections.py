"""Notify's SMTP connections against a real server (aiosmtpd) with a manual clock: kept open while
mail trickles in, so a message that comes a moment after the last goes without a new greeting,
and closed once nothing has been due for NOTIFY_SMTP_IDLE_S; and what a sender that stops does
with the messages it claimed."""

from __future__ import annotations

import asyncio
import threading
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
from tests.support import eventually, free_port

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


async def queue_one(pool: asyncpg.Pool, at: datetime, subject: str = "Novedades") -> None:
    await pool.execute(
        "INSERT INTO deliveries(event_id, recipient, channel, ticket_id, template, subject, body, next_at, address)"
        " VALUES ($1, 'ana@example.com', 'email', 'T-1', 'update', $3, 'Hola', $2, 'ana@example.com')",
        uuid4(),
        at,
        subject,
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


class Holding:
    """Accepts mail, holding the first message's DATA until `go` is set."""

    def __init__(self) -> None:
        self.subjects: list[str] = []
        self.arrived = threading.Event()
        self.go = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.arrived.is_set():
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.go.wait, 10)
        subject = next(line for line in envelope.content.decode().splitlines() if line.startswith("Subject: "))
        self.subjects.append(subject.removeprefix("Subject: "))
        return "250 OK"


async def test_a_stopping_sender_settles_the_message_on_its_way_and_hands_back_the_rest_in_order(
    fresh: Isolated, pool: asyncpg.Pool
) -> None:
    handler, port = Holding(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings = fresh.settings.model_copy(update={"smtp_port": port, "notify_smtp_connections": 1})
    clock = ManualClock(datetime(2026, 11, 30, 12, 0, tzinfo=UTC))
    keyring = await Keyring.open(pool, settings)
    stopping = Deliverer(settings, pool, clock, Letters(keyring), audience_of(settings))
    following = Deliverer(settings, pool, clock, Letters(keyring), audience_of(settings))
    try:
        for n in range(6):  # one ticket's messages: they leave in this order, one at a time
            await queue_one(pool, clock.now() - timedelta(seconds=1, microseconds=-n), subject=f"Mensaje {n}")
        sending = asyncio.create_task(stopping.deliver_due())
        await eventually(lambda: asyncio.to_thread(handler.arrived.wait, 0.1), what="the first message on its way")
        finishing = asyncio.create_task(stopping.finish())
        handler.go.set()
        await asyncio.wait_for(finishing, 10)
        assert await asyncio.wait_for(sending, 10) == 6  # claimed: one sent, five handed back
        rows = await pool.fetch("SELECT subject, status FROM deliveries ORDER BY subject")
        assert [(r["subject"], r["status"]) for r in rows] == [("Mensaje 0", "sent")] + [
            (f"Mensaje {n}", "pending") for n in range(1, 6)
        ]
        due = await pool.fetch("SELECT subject, next_at FROM deliveries WHERE status = 'pending' ORDER BY next_at")
        assert [r["subject"] for r in due] == [f"Mensaje {n}" for n in range(1, 6)]  # in the order claimed
        assert all(r["next_at"] <= clock.now() for r in due)  # due now, not when the lease runs out
        assert await stopping.deliver_due() == 0  # a stopping sender claims nothing more
        # the next instance sends them now (their lease of 60 s has not run out), in order
        assert await following.deliver_due() == 5
        assert handler.subjects == [f"Mensaje {n}" for n in range(6)]
    finally:
        handler.go.set()
        await stopping.close_connections()
        await following.close_connections()
        controller.stop()
