"""The benchmarks' HTTP load generator: keep-alive connections, one POST per opened ticket, paced.

aiohttp's client costs about a tenth of httpx's per request, and the load generator shares the
machine's two cores with what it measures: with httpx it used ~2.5 ms of CPU per ticket, as much
as intake itself, and every millisecond it burns is one the services do not get.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

Post = Callable[[str, dict[str, Any]], Awaitable[tuple[int, dict[str, Any] | None]]]


@asynccontextmanager
async def poster(token: str, *, connections: int = 64, timeout_s: float = 60) -> AsyncIterator[Post]:
    """`post(url, json) -> (status, body)`; status 0 when the request failed (refused, timed out)."""
    connector = aiohttp.TCPConnector(limit=connections, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        headers={"Authorization": f"Bearer {token}"},
        timeout=aiohttp.ClientTimeout(total=timeout_s),
    ) as session:

        async def post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
            try:
                async with session.post(url, json=body) as r:
                    return r.status, (await r.json() if r.content_type == "application/json" else None)
            except (aiohttp.ClientError, TimeoutError):
                return 0, None

        yield post


async def paced(rate: float, seconds: float, one: Callable[[int], Coroutine[Any, Any, None]]) -> float:
    """Start `one(i)` `rate` times a second for `seconds` (on schedule, not after the previous
    finished: an open-loop load); wait for all; return how long the offering took."""
    tasks = []
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        tasks.append(asyncio.create_task(one(i)))
        await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start
