"""Concurrent writers sharing one statement (shared/platform/groupwrite.py), on a real
PostgreSQL: every caller returns only once its own item is in the table, the items that arrive
while a write is under way go together, a failure PostgreSQL reports is retried while the callers
wait, and a bug reaches exactly the callers whose items it spoiled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import asyncpg
import pytest

from shared.platform import db
from shared.platform.groupwrite import GroupWrite
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def pool(fresh: Isolated) -> AsyncIterator[asyncpg.Pool]:
    p = await db.create_pool(fresh.settings.database_url, "groupwrite", max_size=4)
    await p.execute("CREATE TABLE IF NOT EXISTS items (n int PRIMARY KEY)")
    await p.execute("TRUNCATE items")
    yield p
    await p.close()


class Recorder:
    """A write of many items in one statement, which remembers each write's items."""

    def __init__(self) -> None:
        self.writes: list[list[int]] = []
        self.fail_next: list[BaseException] = []

    async def __call__(self, conn: asyncpg.Connection, items: Sequence[int]) -> None:
        self.writes.append(list(items))
        if self.fail_next:
            raise self.fail_next.pop(0)
        await conn.execute("INSERT INTO items(n) SELECT unnest($1::int[])", list(items))


async def stored(pool: asyncpg.Pool) -> set[int]:
    return {r["n"] for r in await pool.fetch("SELECT n FROM items")}


async def test_each_caller_returns_once_its_item_is_stored_and_concurrent_items_share_a_write(
    pool: asyncpg.Pool,
) -> None:
    record = Recorder()
    group: GroupWrite[int] = GroupWrite(pool, record, "items")

    async def caller(n: int) -> None:
        await group.write(n)
        assert n in await stored(pool)  # on disk when the call returns, not later

    await asyncio.gather(*(caller(n) for n in range(200)))
    assert await stored(pool) == set(range(200))
    assert sorted(n for w in record.writes for n in w) == list(range(200))  # each item written once
    assert len(record.writes) < 200 / 4  # together: what arrived while a write was under way

    await group.write(1000)  # alone: written at once, by itself
    assert record.writes[-1] == [1000]


async def test_a_failure_postgresql_reports_is_retried_while_the_callers_wait(pool: asyncpg.Pool) -> None:
    record = Recorder()
    record.fail_next = [asyncpg.exceptions.SerializationError("could not serialize")]
    group: GroupWrite[int] = GroupWrite(pool, record, "items")
    await asyncio.gather(*(group.write(n) for n in range(5)))
    assert await stored(pool) == set(range(5))
    assert record.writes[0] == record.writes[1]  # the same items, again


async def test_a_bug_reaches_the_callers_of_that_write_and_the_next_write_goes_on(pool: asyncpg.Pool) -> None:
    record = Recorder()
    record.fail_next = [ValueError("a bug")]
    group: GroupWrite[int] = GroupWrite(pool, record, "items")
    first = asyncio.ensure_future(group.write(1))
    await asyncio.sleep(0)  # the first write is under way: these two wait for the next one
    later = [asyncio.ensure_future(group.write(n)) for n in (2, 3)]
    with pytest.raises(ValueError, match="a bug"):
        await first
    await asyncio.gather(*later)
    assert await stored(pool) == {2, 3}


async def test_a_caller_that_stops_waiting_does_not_stop_its_write(pool: asyncpg.Pool) -> None:
    started, go_on = asyncio.Event(), asyncio.Event()

    async def slow(conn: asyncpg.Connection, items: Sequence[int]) -> None:
        started.set()
        await go_on.wait()
        await conn.execute("INSERT INTO items(n) SELECT unnest($1::int[])", list(items))

    group: GroupWrite[int] = GroupWrite(pool, slow, "items")
    caller = asyncio.ensure_future(group.write(7))
    other = asyncio.ensure_future(group.write(8))
    await started.wait()
    caller.cancel()  # a lane stopped while its mail was being recorded
    go_on.set()
    await other
    assert await stored(pool) == {7, 8}
