"""`python -m services.intake`: the HTTP API plus the ticket.requests and ticket.events consumers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.intake.api import create_app
from services.intake.handlers import EVENTS_CONSUMER, NAME, REQUESTS_CONSUMER, Intake
from shared.commands import Request, decode_request
from shared.consumer import Record
from shared.runtime import Parts, Runtime, serve
from shared.topics import TICKET_EVENTS, TICKET_REQUESTS

MIGRATIONS = Path(__file__).parent / "migrations"


def _decode(record: Record) -> Request:
    return decode_request(record.key, record.value, list(record.headers or ()))


async def build(rt: Runtime) -> Parts:
    intake = Intake(rt.settings, rt.pool, rt.clock)
    return Parts(
        consumers=[
            rt.consumer(EVENTS_CONSUMER, TICKET_EVENTS, intake.fold_event, group="events"),
            rt.consumer(REQUESTS_CONSUMER, TICKET_REQUESTS, intake.on_request, group="requests", decode=_decode),
        ],
        app=create_app(intake, rt.settings.public_url, rt.auth),
    )


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
