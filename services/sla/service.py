"""SLA, declared: the SLA consumer of ticket.events and the timer loop."""

from __future__ import annotations

from pathlib import Path

from services.sla import figures
from services.sla.handlers import CONSUMER, TICKET_EVENTS_WANTED, Sla
from services.sla.loops import timer_loop
from services.sla.policy import load_policy
from shared.platform import topology
from shared.platform.runtime import Parts, Runtime, ServiceSpec, every
from shared.platform.topics import TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"
# Targets are hours away; a tenth of a second lets a batch of tickets share a transaction. (The
# routing consumer, on the path from opened to assigned, keeps the short service-wide linger.)
WAIT_MS = 100


async def build(rt: Runtime) -> Parts:
    sla = Sla(rt.settings, rt.pool, rt.clock, load_policy(rt.settings.sla_policy))

    async def timers() -> None:
        await timer_loop(sla)

    async def metrics() -> None:
        priorities = [str(p) for p in sla.policy.priorities]
        await every(rt.settings.metrics_interval_s, lambda: figures.measure(rt.pool, priorities), "sla figures")

    return Parts(
        consumers=[
            rt.consumer(
                CONSUMER,
                TICKET_EVENTS,
                batch_handler=sla.on_ticket_events,
                applied_by=CONSUMER,
                wait_ms=WAIT_MS,
                wants=TICKET_EVENTS_WANTED,
            )
        ],
        background=[timers, metrics],
    )


SPEC = ServiceSpec(topology.SLA, MIGRATIONS, build, replayable=True)
