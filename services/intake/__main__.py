"""`python -m services.intake`: the HTTP API plus the ticket.requests and ticket.events consumers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.intake.api import create_app
from services.intake.handlers import EVENTS_CONSUMER, NAME, REQUESTS_CONSUMER, Intake
from shared.commands import Request, decode_request
from shared.consumer import InboxConsumer, Record
from shared.events import Envelope
from shared.runtime import Parts, Runtime, serve
from shared.topics import TICKET_EVENTS, TICKET_REQUESTS

MIGRATIONS = Path(__file__).parent / "migrations"


def _decode(record: Record) -> Request:
    return decode_request(record.key, record.value, list(record.headers or ()))


async def build(rt: Runtime) -> Parts:
    intake = Intake(rt.settings, rt.pool, rt.clock)
    events = InboxConsumer[Envelope](
        rt.settings,
        rt.pool,
        name=EVENTS_CONSUMER,
        group_id=rt.settings.group(NAME, "events"),
        topics=[rt.settings.topic(TICKET_EVENTS)],
        handler=intake.fold_event,
    )
    requests = InboxConsumer[Request](
        rt.settings,
        rt.pool,
        name=REQUESTS_CONSUMER,
        group_id=rt.settings.group(NAME, "requests"),
        topics=[rt.settings.topic(TICKET_REQUESTS)],
        handler=intake.on_request,
        decode=_decode,
    )
    return Parts(consumers=[events, requests], app=create_app(intake, rt.settings.public_url))


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
