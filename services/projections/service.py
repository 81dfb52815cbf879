"""Projections, declared: the read models, the query API and the web."""

from __future__ import annotations

from pathlib import Path

from services.projections import audits, kb, store
from services.projections.api import create_app
from services.projections.handlers import (
    AGENTS_CONSUMER,
    TICKETS_CONSUMER,
    WORKSPACE_CONSUMER,
    on_agent_event,
    on_workspace_event,
    ticket_folder,
)
from services.projections.web import pages
from shared.platform import db, topology
from shared.platform.runtime import Parts, Runtime, ServiceSpec, every
from shared.platform.topics import AGENT_EVENTS, AUDIT_ACCESS, TICKET_EVENTS, WORKSPACE_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"
KB_MIGRATIONS = Path(__file__).parent / "kb_migrations"
# What the ticket views may lag behind the log: a page that shows what its person just did, and an
# API read with `min_version`, wait for it with the budget set aside (services/projections/
# freshness.py); lists and dashboards are read seconds apart.
TICKETS_WAIT_MS = 100


async def build(rt: Runtime) -> Parts:
    # The knowledge base lives in its own schema: a replay of the projections never touches it.
    kb_pool = await db.create_pool(rt.settings.database_url_for(kb.SCHEMA), kb.SCHEMA, max_size=5)
    await db.migrate(kb_pool, kb.SCHEMA, KB_MIGRATIONS)
    keyring = rt.keyring
    app = create_app(rt.pool, rt.auth, rt.settings.topic(AUDIT_ACCESS))
    pages.build(app, rt.pool, kb_pool, rt.auth, rt.settings)

    async def audit_schedule() -> None:
        # clause 12: the due period's audit, opened once whichever instance gets there first
        async def step() -> None:
            await audits.open_due_review(rt.pool, kb_pool, rt.settings, rt.auth, rt.clock.now())

        # not at start: the other services (notify, which mails it) come up meanwhile, and a
        # review opened before notify first ran would be history to it, never mailed
        await every(rt.settings.audit_check_interval_s, step, "audit schedule", wait_first=True)

    tickets = rt.consumer(
        TICKETS_CONSUMER, TICKET_EVENTS, group="tickets", batch_handler=ticket_folder(keyring), wait_ms=TICKETS_WAIT_MS
    )
    app.state.fresh.hurry = tickets.hurried

    return Parts(
        consumers=[
            tickets,
            rt.consumer(AGENTS_CONSUMER, AGENT_EVENTS, on_agent_event, group="agents"),
            rt.consumer(WORKSPACE_CONSUMER, WORKSPACE_EVENTS, on_workspace_event, group="workspace"),
        ],
        app=app,
        background=[audit_schedule],
        closers=[kb_pool.close],
    )


# a ticket is rewritten each time a batch holds one of its events, and each rewrite enters every
# index of the lists and of search again, and stems its words again: a replay does those once,
# at its end
SPEC = ServiceSpec(
    topology.PROJECTIONS,
    MIGRATIONS,
    build,
    replayable=True,
    replay_indexes_after=("tickets", "ticket_words"),
    replay_finish=store.all_words,
)
