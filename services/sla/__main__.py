"""`python -m services.sla`: the SLA consumer of ticket.events and the timer loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.sla.handlers import CONSUMER, NAME, Sla
from services.sla.policy import load_policy
from shared.runtime import Parts, Runtime, serve
from shared.topics import TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    sla = Sla(rt.settings, rt.pool, rt.clock, load_policy(rt.settings.sla_policy))

    async def timers() -> None:
        await sla.timer_loop()

    return Parts(
        consumers=[rt.consumer(CONSUMER, TICKET_EVENTS, sla.on_ticket_event, applied_by=CONSUMER)], background=[timers]
    )


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
