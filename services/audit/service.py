"""Audit, declared: the tamper-evidence chain over ticket.events and the access log."""

from __future__ import annotations

from pathlib import Path

from services.audit.api import create_app
from services.audit.handlers import ACCESS_CONSUMER, CHAIN_CONSUMER, Auditor, raw
from services.audit.loops import checkpoint_loop
from shared.platform import topology
from shared.platform.runtime import Parts, Runtime, ServiceSpec
from shared.platform.topics import AUDIT_ACCESS, TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"
# Nobody waits on a link of the chain (checkpoints are signed every few seconds): a second's
# records share one transaction, one claim and one head write per partition.
WAIT_MS = 1000


async def build(rt: Runtime) -> Parts:
    auditor = Auditor(rt.settings, rt.pool, rt.clock)

    async def checkpoints() -> None:
        await checkpoint_loop(auditor)

    return Parts(
        consumers=[
            rt.consumer(
                CHAIN_CONSUMER,
                TICKET_EVENTS,
                group="chain",
                decode=raw,
                batch_handler=auditor.on_records,
                by_offset=True,  # every record is a link, a duplicate too
                wait_ms=WAIT_MS,
            ),
            rt.consumer(ACCESS_CONSUMER, AUDIT_ACCESS, auditor.on_access, group="access", wait_ms=WAIT_MS),
        ],
        background=[checkpoints],
        app=create_app(rt.pool, rt.auth),
    )


SPEC = ServiceSpec(topology.AUDIT, MIGRATIONS, build)
