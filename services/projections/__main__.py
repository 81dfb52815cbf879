"""`python -m services.projections`: the read models and the query API (port 8080)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.projections.api import create_app
from services.projections.handlers import AGENTS_CONSUMER, NAME, TICKETS_CONSUMER, on_agent_event, on_ticket_event
from shared.runtime import Parts, Runtime, serve
from shared.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    return Parts(
        consumers=[
            rt.consumer(TICKETS_CONSUMER, TICKET_EVENTS, on_ticket_event, group="tickets"),
            rt.consumer(AGENTS_CONSUMER, AGENT_EVENTS, on_agent_event, group="agents"),
        ],
        app=create_app(rt.pool, rt.auth),
    )


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
