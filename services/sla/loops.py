"""SLA's background loop: fire what is due, as long as something is, then wait a little."""

from __future__ import annotations

import asyncio

from services.sla.handlers import Sla
from shared.platform import db
from shared.platform.logging import get_logger

log = get_logger(__name__)


async def timer_loop(sla: Sla, interval: float = 0.5) -> None:
    while True:
        try:
            while await sla.fire_due(sla.clock.now()):
                pass
        except db.TRANSIENT as exc:
            log.warning("sla timer retry", error=type(exc).__name__)
        await asyncio.sleep(interval)
