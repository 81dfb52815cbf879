"""The agents' daily digest: their open tickets, the one due first at the top, once per agent
and day (the ledger's key is derived from both).

A digest is not an event on the log, so a ledger folded from history (notify's schema rebuilt,
or a new deployment joining a log) cannot know whether the digest of a day was sent before it
joined: it sends none whose time came before then (one day's digest at most is skipped; nobody
gets one twice)."""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import asyncpg

from services.notify import audience, ledger
from services.notify.handlers import TICKETS_CONSUMER, Notify

DIGEST_NAMESPACE = UUID("6f1c1d2e-1b8e-4c7a-9a57-2c0a8f6d9e10")


async def queue_digests(notify: Notify) -> int:
    """Queue today's digest for every agent with open tickets; return how many were new."""
    settings = notify.settings
    day = audience.digest_day(notify.clock.now(), settings.digest_hour, settings.digest_timezone)
    if day is None:
        return 0
    queued = 0
    async with notify.pool.acquire() as conn, conn.transaction():
        if not await _may_know(conn, day, settings.digest_hour, settings.digest_timezone):
            return 0
        for agent_id, agent in await ledger.agents(conn):
            tickets = await ledger.open_tickets_of(conn, agent_id, audience.OPEN)
            m = audience.digest(agent, tickets, day, notify.audience)
            if m is None:
                continue
            event_id = uuid5(DIGEST_NAMESPACE, f"{agent_id}|{day.isoformat()}")
            queued += await ledger.queue_digest(conn, event_id, m, notify.clock.now())
    return queued


async def _may_know(conn: asyncpg.Connection, day: date, hour: int, timezone: str) -> bool:
    """Whether this ledger was there when `day`'s digest became due: always, unless it was
    folded from history and joined after that moment."""
    joined: datetime | None = await conn.fetchval(
        "SELECT min(adopted_at) FROM inbox_offsets WHERE consumer = $1 AND history_end > 0", TICKETS_CONSUMER
    )
    due = datetime.combine(day, time(hour), tzinfo=ZoneInfo(timezone))
    return joined is None or joined <= due
