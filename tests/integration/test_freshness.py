"""Waiting for a ticket's view to reach a version (services/projections/freshness.py), on a real
database: bounded in time and in how many wait at once, with the consumer hurried meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import pytest

from services.projections.freshness import Freshness, TooManyWaiting
from services.projections.service import MIGRATIONS
from shared.platform import db
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(60)


async def test_waiting_is_bounded_in_time_and_in_readers(fresh: Isolated) -> None:
    pool = await db.create_pool(fresh.settings.database_url, "projections")
    try:
        await db.migrate(pool, "projections", MIGRATIONS)
        hurried: list[str] = []
        waiting = asyncio.Event()

        @contextlib.contextmanager
        def hurry() -> Iterator[None]:
            hurried.append("in")
            waiting.set()
            try:
                yield
            finally:
                hurried.append("out")

        waits = Freshness(pool, limit=1)
        waits.hurry = hurry
        started = time.monotonic()
        assert await waits.reached("T-NOSUCH01", 1, timeout=0.3) is False
        assert time.monotonic() - started >= 0.3
        assert hurried == ["in", "out"]  # the consumer's budget gave way for exactly the wait

        waiting.clear()
        first = asyncio.create_task(waits.reached("T-NOSUCH01", 1, timeout=1.0))
        await asyncio.wait_for(waiting.wait(), 5)
        with pytest.raises(TooManyWaiting):
            await waits.reached("T-NOSUCH02", 1, timeout=1.0)
        assert await first is False
        assert waits.waiting == 0
        assert await waits.reached("T-NOSUCH02", 1, timeout=0.0) is False  # a slot again, no wait
    finally:
        await pool.close()
