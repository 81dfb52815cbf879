"""Concurrent writers share one statement: each caller hands over its item and waits until the
item is written; the items that arrive while a write is under way go together in the next one.

Alone, an item is written at once, as if by itself (no timer, no added latency). Under load, N
callers' N round trips and commits become one. A caller's item is on disk when its `write`
returns, so a caller that writes before its next step (notify's lanes: the mail sent, then the
next mail) keeps its own window of at most one item unrecorded.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import asyncpg

from shared.platform import db
from shared.platform.logging import get_logger

log = get_logger(__name__)
T = TypeVar("T")

Write = Callable[[asyncpg.Connection, Sequence[T]], Awaitable[None]]


class GroupWrite(Generic[T]):
    """`write(conn, items)` writes many items in one statement (atomic on its own or in a
    transaction of its making). PostgreSQL's transient failures are retried with backoff while
    the callers wait; anything else reaches every caller whose item was in that write."""

    def __init__(self, pool: asyncpg.Pool, write: Write[T], name: str, most: int = 500) -> None:
        self._pool = pool
        self._write = write
        self._name = name
        self._most = most
        self._waiting: list[tuple[T, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def write(self, item: T) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, done))
        if self._writer is None or self._writer.done():
            # its own task: a caller cancelled while it waits (a lane stopped) cancels neither the
            # write under way nor the others' items
            self._writer = asyncio.create_task(self._drain(), name=f"group write: {self._name}")
        await done

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
            try:
                await self._retrying([item for item, _ in batch])
            except asyncio.CancelledError:
                for _, done in [*batch, *self._waiting]:
                    done.cancel()
                self._waiting = []
                raise
            except Exception as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for _, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _retrying(self, items: Sequence[T]) -> None:
        for attempt in itertools.count():
            try:
                async with self._pool.acquire() as conn:
                    await self._write(conn, items)
                return
            except db.TRANSIENT as exc:
                log.warning("a group write failed; again", what=self._name, error=type(exc).__name__, attempt=attempt)
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
