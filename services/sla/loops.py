"""SLA's background loop: fire what is due, as long as something is, then wait a little."""

from __future__ import annotations

from services.sla.handlers import Sla
from shared.platform.runtime import every


async def timer_loop(sla: Sla, interval: float = 0.5) -> None:
    async def fire() -> int:
        return await sla.fire_due(sla.clock.now())

    await every(interval, fire, "sla timers", while_busy=True)
