"""Intake, declared: the HTTP API plus the ticket.requests, ticket.events and agent.events consumers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from services.intake.api import create_app
from services.intake.handlers import (
    AGENTS_CONSUMER,
    CATCH_UP_S,
    EVENTS_CONSUMER,
    REQUESTS_CONSUMER,
    Intake,
)
from services.intake.loops import orphan_sweep
from shared.domain.commands import Actor, Request, decode_request
from shared.domain.events.errors import Forbidden, ForgedActor, InvalidRecord, Oversized, Unauthenticated
from shared.domain.principal import AuthError, command_scope
from shared.platform import topology
from shared.platform.auth import Authenticator
from shared.platform.consumer import Record
from shared.platform.logging import get_logger
from shared.platform.runtime import Parts, Runtime, ServiceSpec
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS, TICKET_REQUESTS

MIGRATIONS = Path(__file__).parent / "migrations"
log = get_logger(__name__)


# What intake's fold of ticket.events may lag behind the log: no command waits on it, only one
# that would be refused on state others changed (`Intake._moved_on` catches up, then decides
# again); a poll every 15 ms cost a transaction per few records at the rate users create.
FOLD_WAIT_MS = 100
MAX_REQUEST_BYTES = 256 * 1024  # a ticket's text is at most 20,000 characters; files go over HTTP


def request_decoder(auth: Authenticator) -> Callable[[Record], Request]:
    """ticket.requests records: signed by a service token (`authorization: Bearer <JWT>` header),
    acting only as that service (`system:<sub>`); anything else is dead-lettered with why."""

    def decode(record: Record) -> Request:
        if len(record.value or b"") > MAX_REQUEST_BYTES:
            raise Oversized(f"{len(record.value or b'')} bytes; requests are at most {MAX_REQUEST_BYTES}")
        headers = list(record.headers or ())
        raw = next((bytes(v) for k, v in headers if k.lower() == "authorization"), b"").decode("utf-8", "replace")
        scheme, _, token = raw.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("no 'authorization: Bearer <service token>' header")
        try:
            who = auth.verify(token.strip())
        except AuthError:
            raise Unauthenticated("token refused (expired, not yet valid, or not signed by a key we trust)") from None
        if who.role != "service":
            raise Unauthenticated(f"a {who.role} token cannot publish requests; only service tokens can")
        try:
            request = decode_request(record.key, record.value, headers)
            identity = Actor("system", who.sub)
            if request.actor_given and request.actor != identity:
                raise ForgedActor(f"actor {request.actor} but the token is {identity}")
            scope = command_scope(request.type.removeprefix("ticket.").replace("_", "-"))
            if scope not in who.scopes:
                raise Forbidden(f"the token of {who.sub} does not grant {scope}")
        except InvalidRecord as exc:
            exc.sender = who.sub  # verified: a re-drive after a fix may sign as them again
            exc.sender_scopes = who.scopes
            raise
        return dataclasses.replace(request, actor=identity, granted=who.scopes)

    return decode


async def build(rt: Runtime) -> Parts:
    intake = Intake(rt.settings, rt.pool, rt.clock, rt.keyring)

    async def sweep() -> None:
        await orphan_sweep(rt.pool, rt.clock)

    events = rt.consumer(
        EVENTS_CONSUMER, TICKET_EVENTS, group="events", batch_handler=intake.fold_events, wait_ms=FOLD_WAIT_MS
    )

    async def catch_up(ticket_id: str) -> bool:
        return await events.catch_up(ticket_id.encode(), CATCH_UP_S)

    intake.catch_up = catch_up
    return Parts(
        background=[sweep],
        consumers=[
            events,
            rt.consumer(AGENTS_CONSUMER, AGENT_EVENTS, intake.on_agent_event, group="agents"),
            rt.consumer(
                REQUESTS_CONSUMER,
                TICKET_REQUESTS,
                intake.on_request,
                group="requests",
                decode=request_decoder(rt.auth),
                letter_owner=intake.letter_owner,
            ),
        ],
        app=create_app(intake, rt.settings.public_url, rt.auth),
    )


SPEC = ServiceSpec(topology.INTAKE, MIGRATIONS, build)
