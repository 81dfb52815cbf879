"""Notify's background loops: deliver what is due (as long as something is), and the digest."""

from __future__ import annotations

import asyncio

from services.notify.digest import queue_digests
from services.notify.handlers import Notify
from shared.platform import db
from shared.platform.logging import get_logger

log = get_logger(__name__)


async def delivery_loop(notify: Notify, interval: float = 0.5) -> None:
    while True:
        try:
            while await notify.deliverer.deliver_due():
                pass
        except db.TRANSIENT as exc:
            log.warning("delivery loop retry", error=type(exc).__name__)
        await asyncio.sleep(interval)


async def digest_loop(notify: Notify, interval: float = 60.0) -> None:
    while True:
        try:
            if await queue_digests(notify):
                log.info("daily digests queued")
        except db.TRANSIENT as exc:
            log.warning("digest loop retry", error=type(exc).__name__)
        await asyncio.sleep(interval)
