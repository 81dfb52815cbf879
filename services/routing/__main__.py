"""`python -m services.routing`: assignment consumer, roster consumer, roster admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.routing.api import create_app
from services.routing.handlers import AGENTS_CONSUMER, NAME, TICKETS_CONSUMER, Routing
from shared.consumer import InboxConsumer
from shared.events import Envelope
from shared.runtime import Parts, Runtime, serve
from shared.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    routing = Routing(rt.settings, rt.pool, rt.clock)
    tickets = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=TICKETS_CONSUMER,
        group_id=rt.settings.group(NAME, "tickets"),
        topics=[rt.settings.topic(TICKET_EVENTS)],
        handler=routing.on_ticket_event,
    )
    agents = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=AGENTS_CONSUMER,
        group_id=rt.settings.group(NAME, "agents"),
        topics=[rt.settings.topic(AGENT_EVENTS)],
        handler=routing.on_agent_event,
    )

    async def sweep() -> None:
        await routing.sweep_loop(rt.settings.routing_sweep_interval_s)

    async def gauges() -> None:
        await routing.metrics_loop()

    return Parts(consumers=[tickets, agents], app=create_app(routing), background=[sweep, gauges])


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
