"""A minimal service built only from `shared/`, for the delivery-contract tests.

It folds `ticket.events` into `ledger` (a count and an order-sensitive hash chain per ticket) and,
for every `ticket.opened`, emits one `ticket.categorized` through its outbox: enough to observe
duplicates, losses and reordering after crashes, without depending on any real service. It
records its own events, as it consumes them back, in `acks`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import asyncpg

from shared.domain.events import Envelope
from shared.domain.events.catalogue import TicketCategorized, TicketOpened
from shared.platform.consumer import Delivery, InboxConsumer, verified_events
from shared.platform.letters import Letters
from shared.platform.runtime import Parts, Runtime, ServiceSpec, serve
from shared.platform.settings import Settings
from shared.platform.signing import Trust
from shared.platform.topics import TICKET_EVENTS
from shared.platform.topology import Station

NAME = "ledger"
MIGRATIONS = Path(__file__).parent / "migrations"


def chain(previous: str, event_id: str) -> str:
    return hashlib.sha256(f"{previous}:{event_id}".encode()).hexdigest()


def ledger_consumer(settings: Settings, pool: asyncpg.Pool, letters: Letters) -> InboxConsumer[Envelope]:
    events_topic = settings.topic(TICKET_EVENTS)

    async def apply(conn: asyncpg.Connection, env: Envelope, _delivery: Delivery) -> list[tuple[str, Envelope]]:
        if env.source == NAME:
            await conn.execute(
                "INSERT INTO acks(event_id, cause, seen) VALUES ($1, $2, 1)"
                " ON CONFLICT (event_id) DO UPDATE SET seen = acks.seen + 1",
                env.id,
                env.causationid,
            )
            return []
        row = await conn.fetchrow("SELECT events, chain FROM ledger WHERE ticket_id = $1", env.subject)
        count, prev = (row["events"], row["chain"]) if row else (0, "")
        await conn.execute(
            "INSERT INTO ledger(ticket_id, events, chain) VALUES ($1, $2, $3)"
            " ON CONFLICT (ticket_id) DO UPDATE SET events = $2, chain = $3",
            env.subject,
            count + 1,
            chain(prev, str(env.id)),
        )
        if isinstance(env.data, TicketOpened):
            ack = TicketCategorized(
                ticket_id=env.subject,
                category=env.data.category,
                priority=env.data.priority,
                reason="ledger acknowledgement",
            )
            return [(events_topic, Envelope.new(ack, source=NAME, subject=env.subject, time=env.time, cause=env))]
        return []

    return InboxConsumer[Envelope](
        settings,
        pool,
        name=NAME,
        group_id=settings.group(NAME),
        topics=[events_topic],
        handler=apply,
        decode=verified_events(Trust.load(settings.signing_folder)),
        letters=letters,
    )


async def build(rt: Runtime) -> Parts:
    return Parts(consumers=[ledger_consumer(rt.settings, rt.pool, rt.letters)])


if __name__ == "__main__":
    spec = ServiceSpec(Station(NAME, 0, "the delivery contract's test service"), MIGRATIONS, build)
    asyncio.run(serve(spec, Settings(), port=int(os.environ.get("LEDGER_PORT", "0"))))
