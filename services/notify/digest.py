"""The agents' daily digest: their open tickets, the one due first at the top, once per agent
and day (the ledger's key is derived from both)."""

from __future__ import annotations

from uuid import UUID, uuid5

from services.notify import audience, ledger
from services.notify.handlers import Notify

DIGEST_NAMESPACE = UUID("6f1c1d2e-1b8e-4c7a-9a57-2c0a8f6d9e10")


async def queue_digests(notify: Notify) -> int:
    """Queue today's digest for every agent with open tickets; return how many were new."""
    settings = notify.settings
    day = audience.digest_day(notify.clock.now(), settings.digest_hour, settings.digest_timezone)
    if day is None:
        return 0
    queued = 0
    async with notify.pool.acquire() as conn, conn.transaction():
        for agent_id, agent in await ledger.agents(conn):
            tickets = await ledger.open_tickets_of(conn, agent_id, audience.OPEN)
            m = audience.digest(agent, tickets, day, notify.audience)
            if m is None:
                continue
            event_id = uuid5(DIGEST_NAMESPACE, f"{agent_id}|{day.isoformat()}")
            queued += await ledger.queue_digest(conn, event_id, m, notify.clock.now())
    return queued
