"""`python -m services.notify`: queues messages from ticket.events and delivers them by SMTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.notify.handlers import AGENTS_CONSUMER, NAME, TICKETS_CONSUMER, Notify
from shared.consumer import InboxConsumer
from shared.events import Envelope
from shared.runtime import Parts, Runtime, serve
from shared.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    notify = Notify(rt.settings, rt.pool, rt.clock)
    tickets = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=TICKETS_CONSUMER,
        group_id=rt.settings.group(NAME, "tickets"),
        topics=[rt.settings.topic(TICKET_EVENTS)],
        handler=notify.on_ticket_event,
    )
    agents = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=AGENTS_CONSUMER,
        group_id=rt.settings.group(NAME, "agents"),
        topics=[rt.settings.topic(AGENT_EVENTS)],
        handler=notify.on_agent_event,
    )

    async def deliveries() -> None:
        await notify.delivery_loop()

    return Parts(consumers=[tickets, agents], background=[deliveries])


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
