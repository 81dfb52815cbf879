"""Notify's background loops: deliver what is due (as long as something is), and the digest."""

from __future__ import annotations

from services.notify.digest import queue_digests
from services.notify.handlers import Notify
from shared.platform.logging import get_logger
from shared.platform.runtime import every

log = get_logger(__name__)


async def delivery_loop(notify: Notify, interval: float = 0.5) -> None:
    await every(interval, notify.deliverer.deliver_due, "deliveries", while_busy=True)


async def digest_loop(notify: Notify, interval: float = 60.0) -> None:
    async def digests() -> None:
        if await queue_digests(notify):
            log.info("daily digests queued")

    await every(interval, digests, "digests")
