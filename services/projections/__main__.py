"""`python -m services.projections`: the read models and the query API (port 8080)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.projections.api import create_app
from services.projections.handlers import (
    AGENTS_CONSUMER,
    NAME,
    TICKETS_CONSUMER,
    on_agent_event,
    on_ticket_event,
)
from shared.consumer import InboxConsumer
from shared.events import Envelope
from shared.runtime import Parts, Runtime, serve
from shared.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    tickets = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=TICKETS_CONSUMER,
        group_id=rt.settings.group(NAME, "tickets"),
        topics=[rt.settings.topic(TICKET_EVENTS)],
        handler=on_ticket_event,
    )
    agents = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=AGENTS_CONSUMER,
        group_id=rt.settings.group(NAME, "agents"),
        topics=[rt.settings.topic(AGENT_EVENTS)],
        handler=on_agent_event,
    )
    return Parts(consumers=[tickets, agents], app=create_app(rt.pool))


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
