"""`python -m services.audit`: the tamper-evidence chain over ticket.events (port 8085)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.audit.handlers import CHAIN_CONSUMER, NAME, Auditor, raw
from shared.runtime import Parts, Runtime, serve
from shared.topics import TICKET_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    auditor = Auditor(rt.settings, rt.pool, rt.clock)

    async def checkpoints() -> None:
        await auditor.checkpoint_loop()

    return Parts(
        consumers=[rt.consumer(CHAIN_CONSUMER, TICKET_EVENTS, auditor.on_record, group="chain", decode=raw)],
        background=[checkpoints],
    )


if __name__ == "__main__":
    asyncio.run(serve(NAME, MIGRATIONS, build))
