"""Read-your-writes on an eventually consistent view: wait, bounded, until a ticket's view shows
at least the version a command answered with (the web after a form, an API client with
`?min_version=`). While anyone waits, the ticket consumer's latency budget gives way (`hurry`:
`InboxConsumer.hurried`), so the wait is the log's few milliseconds, not the budget.

Waiting costs a request slot and a lookup every `POLL_S`: at most `MAX_WAITING` reads wait at
once in a process, the next are refused at once, so waiting readers cannot take every slot of
the overload limit from the requests that make progress."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator

import asyncpg

from services.projections import store

POLL_S = 0.05
MAX_WAITING = 32
LONGEST_WAIT_S = 5.0
DEFAULT_WAIT_S = 2.0

Hurry = Callable[[], contextlib.AbstractContextManager[None]]


class TooManyWaiting(Exception):
    pass


class Freshness:
    """The one place a reader waits for a ticket's view to reach a version."""

    def __init__(self, pool: asyncpg.Pool, limit: int = MAX_WAITING) -> None:
        self.pool, self.limit = pool, limit
        self.hurry: Hurry = contextlib.nullcontext  # set by the service to its consumer's `hurried`
        self.waiting = 0

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        if self.waiting >= self.limit:
            raise TooManyWaiting
        self.waiting += 1
        try:
            yield
        finally:
            self.waiting -= 1

    async def reached(
        self,
        ticket_id: str,
        version: int,
        timeout: float,
        readable: Callable[[asyncpg.Record], bool] = lambda _row: True,
    ) -> bool:
        """Whether the view of `ticket_id` reached `version` (and is `readable`) within `timeout`
        seconds. A ticket that is missing and one the caller may not read are waited for alike,
        to the end: how long the answer took says nothing about tickets that are not theirs.
        Raises TooManyWaiting when `limit` readers already wait here."""
        deadline = time.monotonic() + min(timeout, LONGEST_WAIT_S)
        with self._slot(), self.hurry():
            while True:
                row = await store.reader_facts(self.pool, ticket_id)
                if row is not None and row["version"] >= version and readable(row):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                await asyncio.sleep(min(POLL_S, left))
