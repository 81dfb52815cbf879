"""Intake's background loop: files stored for an open that never committed go after a while."""

from __future__ import annotations

import asyncpg

from services.intake import store
from shared.platform.clock import Clock
from shared.platform.logging import get_logger
from shared.platform.runtime import every

log = get_logger(__name__)


async def orphan_sweep(pool: asyncpg.Pool, clock: Clock, interval: float = 600.0) -> None:
    async def sweep() -> None:
        if removed := await store.sweep_orphans(pool, clock.now()):
            log.info("orphan files removed", count=removed)

    await every(interval, sweep, "orphan files", wait_first=True)
