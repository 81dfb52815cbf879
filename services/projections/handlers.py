"""Projection consumers: fold ticket.events into tickets + timeline, agent.events into agents.
Pure folds (services/projections/domain.py): they never emit; a replay rebuilds exactly the
same rows.

Events are opened (`Keyring.open_envelope`) before they are folded: the views hold what people
read. When a requester is erased their rows are scrubbed to what a rebuild would give once the
key is gone: `[erased]` text, the pseudonym for the person."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.projections import domain, store
from services.projections.domain import Erased, TicketView
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.consumer import BatchHandler, Delivery, in_bulk_replay
from shared.platform.keyring import Keyring

NAME = "projections"
TICKETS_CONSUMER = "projections-tickets"
AGENTS_CONSUMER = "projections-agents"
WORKSPACE_CONSUMER = "projections-workspace"


def ticket_folder(keyring: Keyring) -> BatchHandler[Envelope]:
    async def fold(conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        envs = await keyring.open_envelopes([env for env, _ in items], conn=conn)
        for gone in await on_ticket_events(conn, envs):
            keyring.forget(gone.ref)
            await store.scrub_timeline(conn, gone.ticket_id, gone.sub, gone.ref)
        return None

    return fold


async def on_ticket_events(conn: asyncpg.Connection, envs: list[Envelope]) -> list[Erased]:
    """Fold a partition's batch (of opened events): read the tickets it touches once, evolve them
    in memory, write each changed ticket once and the timeline in one statement. Returns the
    tickets whose requester was erased."""
    views = await store.tickets(conn, list(dict.fromkeys(env.subject for env in envs)))
    words_before = {ticket_id: v.words for ticket_id, v in views.items()}
    changed: dict[str, TicketView] = {}
    timeline: list[tuple[Any, ...]] = []
    erased: list[Erased] = []
    links: list[tuple[str, str, bool]] = []
    fields: list[tuple[str, dict[str, str], list[str]]] = []
    for env in envs:
        view, gone = domain.fold(views.get(env.subject), env)
        if view is None:
            continue  # an event about a ticket this view never saw opened
        views[env.subject] = changed[view.ticket.id] = view
        erased += [gone] if gone else []
        timeline.append(store.timeline_row(env, view.ticket))
        if isinstance(env.data, ev.TicketLinked):
            links.append((view.ticket.id, env.data.other, env.data.unlinked))
        if isinstance(env.data, ev.TicketFieldsSet):
            fields.append((view.ticket.id, {v.field: v.value for v in env.data.values}, list(env.data.cleared)))
    if changed:
        await store.save(conn, list(changed.values()))
        if not in_bulk_replay():  # a rebuild stems every ticket's words once, at its end (store.all_words)
            await store.save_words(conn, [v for tid, v in changed.items() if words_before.get(tid) != v.words])
        await store.append_timeline(conn, timeline)
    for ticket_id, other, unlinked in links:  # in order: a link taken back and made again stays
        await store.link(conn, ticket_id, other, unlinked=unlinked)
    for ticket_id, values, cleared in fields:
        await store.set_fields(conn, ticket_id, values, cleared)
    for gone in erased:
        await store.erase_fields(conn, gone.ticket_id)
    return erased


async def on_workspace_event(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
    await store.workspace_event(conn, env)


async def on_agent_event(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
    await store.agent_event(conn, env)
