"""Routing's background loops: offer the queue again and move tickets of long absences (a shift
that starts frees capacity without any event), and keep the roster gauges current."""

from __future__ import annotations

import contextlib

from prometheus_client import Gauge

from services.routing import store
from services.routing.handlers import Routing
from shared.platform.runtime import every

AGENT_LOAD = Gauge("mesa_agent_load", "Weighted load of an agent's open tickets", ["agent"])
AGENT_OPEN = Gauge("mesa_agent_open_tickets", "Open tickets an agent owns", ["agent"])
AGENT_CAPACITY = Gauge("mesa_agent_capacity", "Most weighted load an agent takes", ["agent"])
QUEUED = Gauge("mesa_tickets_queued", "Tickets waiting for an owner", ["level"])


async def sweep_loop(routing: Routing, interval: float = 5.0) -> None:
    async def sweep() -> None:
        await routing.drain_queue(routing.clock.now())
        await routing.sweep_long_absences(routing.clock.now())

    await every(interval, sweep, "routing sweep")


async def metrics_loop(routing: Routing, interval: float = 5.0) -> None:
    """Refresh the roster gauges from the shared tables (every instance reports the same)."""

    async def gauges() -> None:
        for agent, load, open_count, capacity, removed in await store.loads(routing.pool):
            if removed:
                for g in (AGENT_LOAD, AGENT_OPEN, AGENT_CAPACITY):
                    with contextlib.suppress(KeyError):
                        g.remove(agent)
                continue
            AGENT_LOAD.labels(agent).set(load)
            AGENT_OPEN.labels(agent).set(open_count)
            AGENT_CAPACITY.labels(agent).set(capacity)
        counts = await store.queued_per_level(routing.pool)
        for level in (1, 2, 3):
            QUEUED.labels(str(level)).set(counts.get(level, 0))

    await every(interval, gauges, "routing gauges")
