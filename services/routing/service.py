"""Routing, declared: assignment and roster consumers, the sweep, the admin API."""

from __future__ import annotations

from pathlib import Path

from services.routing.api import create_app
from services.routing.handlers import AGENTS_CONSUMER, TICKET_EVENTS_WANTED, TICKETS_CONSUMER, Routing
from services.routing.loops import metrics_loop, sweep_loop
from shared.platform import topology
from shared.platform.runtime import Parts, Runtime, ServiceSpec
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    routing = Routing(rt.settings, rt.pool, rt.clock)

    async def sweep() -> None:
        await sweep_loop(routing, rt.settings.routing_sweep_interval_s)

    async def gauges() -> None:
        await metrics_loop(routing)

    return Parts(
        consumers=[
            # both consumers' decisions are ticket events the tickets consumer applied as it made them
            rt.consumer(
                TICKETS_CONSUMER,
                TICKET_EVENTS,
                routing.on_ticket_event,
                group="tickets",
                applied_by=TICKETS_CONSUMER,
                wants=TICKET_EVENTS_WANTED,
            ),
            rt.consumer(
                AGENTS_CONSUMER, AGENT_EVENTS, routing.on_agent_event, group="agents", applied_by=TICKETS_CONSUMER
            ),
        ],
        app=create_app(routing, rt.auth),
        background=[sweep, gauges],
    )


SPEC = ServiceSpec(topology.ROUTING, MIGRATIONS, build, replayable=True)
