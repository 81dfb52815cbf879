"""`python -m services.routing`: assignment and roster consumers, the sweep, the admin API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.routing.api import create_app
from services.routing.handlers import AGENTS_CONSUMER, NAME, TICKETS_CONSUMER, Routing
from shared.runtime import Parts, Runtime, serve
from shared.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    routing = Routing(rt.settings, rt.pool, rt.clock)

    async def sweep() -> None:
        await routing.sweep_loop(rt.settings.routing_sweep_interval_s)

    async def gauges() -> None:
        await routing.metrics_loop()

    return Parts(
        consumers=[
            # both consumers' decisions are ticket events the tickets consumer applied as it made them
            rt.consumer(
                TICKETS_CONSUMER, TICKET_EVENTS, routing.on_ticket_event, group="tickets", applied_by=TICKETS_CONSUMER
            ),
            rt.consumer(
                AGENTS_CONSUMER, AGENT_EVENTS, routing.on_agent_event, group="agents", applied_by=TICKETS_CONSUMER
            ),
        ],
        app=create_app(routing, rt.auth),
        background=[sweep, gauges],
    )


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
