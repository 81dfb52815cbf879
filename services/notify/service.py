"""Notify, declared: queues messages from ticket.events and delivers them (SMTP, webhooks)."""

from __future__ import annotations

from pathlib import Path

from services.notify.api import create_app
from services.notify.handlers import AGENTS_CONSUMER, OWN_OUTCOMES, TICKETS_CONSUMER, WORKSPACE_CONSUMER, Notify
from services.notify.loops import delivery_loop, digest_loop
from shared.platform import topology
from shared.platform.runtime import Parts, Runtime, ServiceSpec, SwapGuard
from shared.platform.topics import AGENT_EVENTS, TICKET_EVENTS, WORKSPACE_EVENTS

MIGRATIONS = Path(__file__).parent / "migrations"
# A mail leaves a quarter of a second later than it could, and a batch of them shares one
# transaction, one read of their tickets and one round of SMTP lanes.
WAIT_MS = 250


async def build(rt: Runtime) -> Parts:
    notify = Notify(rt.settings, rt.pool, rt.clock, rt.keyring)

    async def deliveries() -> None:
        await delivery_loop(notify)

    async def digests() -> None:
        await digest_loop(notify)

    return Parts(
        consumers=[
            rt.consumer(
                TICKETS_CONSUMER,
                TICKET_EVENTS,
                group="tickets",
                batch_handler=notify.on_ticket_events,
                wait_ms=WAIT_MS,
                passes_over_live=OWN_OUTCOMES,  # two records in five of the log, written as it settled
            ),
            rt.consumer(AGENTS_CONSUMER, AGENT_EVENTS, notify.on_agent_event, group="agents"),
            rt.consumer(WORKSPACE_CONSUMER, WORKSPACE_EVENTS, notify.on_workspace_event, group="workspace"),
        ],
        background=[deliveries, digests],
        app=create_app(notify, rt.auth),
        closers=[notify.deliverer.close_connections],
        finishers=[notify.deliverer.finish],
    )


SPEC = ServiceSpec(
    topology.NOTIFY,
    MIGRATIONS,
    build,
    replayable=True,
    # Written by notify's API, not folded from the log: a replay does not rebuild them, a swap keeps them.
    api_state=("webhook_subscriptions", "preferences"),
    # The ledger rebuilt from notification.sent/failed knows what was sent to whom, not the words or
    # the attempts' times: that is what a replay is compared on.
    replay_compare={
        "deliveries": "event_id, recipient, channel, ticket_id, template, status",
        # what notify keeps of a ticket and reads (the digest: status, priority, due, owner); the
        # rest of the fold's JSON (its version, say) is incidental to notify, and its own
        # outcomes are no longer counted in it
        "tickets": "id, requester, subject, language, requester_ref, owner, resolution_due,"
        " state->>'status' AS status, state->>'priority' AS priority",
    },
    # a mail about no ticket (a digest, a shift's notice to staff) is not told on the log
    replay_rows={"deliveries": "ticket_id <> ''"},
    # Messages still waiting to go exist only in the live ledger: a swap would drop them.
    swap_guard=SwapGuard(
        "SELECT count(*) FROM {schema}.deliveries WHERE status IN ('pending', 'sending')",
        "notify has messages waiting to be sent; swap once they are out",
    ),
)
