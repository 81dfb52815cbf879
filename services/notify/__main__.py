"""`python -m services.notify`: queues messages from ticket.events and delivers them by SMTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.notify.api import create_app
from services.notify.handlers import AGENTS_CONSUMER, NAME, TICKETS_CONSUMER, Notify
from shared.runtime import Parts, Runtime, serve
from shared.topics import AGENT_EVENTS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"
# Written by notify's API, not folded from the log: a replay does not rebuild them, a swap keeps them.
API_STATE = ("webhook_subscriptions", "preferences")
# The ledger rebuilt from notification.sent/failed knows what was sent to whom, not the words or
# the attempts' times: that is what a replay is compared on.
REPLAY_COMPARE = {"deliveries": "event_id, recipient, channel, ticket_id, template, status"}
# Messages still waiting to go exist only in the live ledger: a swap would drop them.
SWAP_GUARD = (
    "SELECT count(*) FROM {schema}.deliveries WHERE status IN ('pending', 'sending')",
    "notify has messages waiting to be sent; swap once they are out",
)


async def build(rt: Runtime) -> Parts:
    notify = Notify(rt.settings, rt.pool, rt.clock, rt.keyring)

    async def deliveries() -> None:
        await notify.delivery_loop()

    async def digests() -> None:
        await notify.digest_loop()

    return Parts(
        consumers=[
            rt.consumer(TICKETS_CONSUMER, TICKET_EVENTS, notify.on_ticket_event, group="tickets"),
            rt.consumer(AGENTS_CONSUMER, AGENT_EVENTS, notify.on_agent_event, group="agents"),
        ],
        background=[deliveries, digests],
        app=create_app(notify, rt.auth),
    )


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
