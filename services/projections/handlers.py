"""Projection consumers: fold ticket.events into tickets + timeline, agent.events into agents.
Pure folds: they never emit; a replay rebuilds exactly the same rows.

Events are opened (`Keyring.open_envelope`) before they are folded: the views hold what people
read. When a requester is erased their rows are scrubbed to what a rebuild would give once the
key is gone: `[erased]` text, the pseudonym for the person."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.privacy import ERASED, scrub
from shared.domain.ticket import Ticket, evolve
from shared.platform.consumer import BatchHandler, Delivery
from shared.platform.keyring import Keyring

NAME = "projections"
TICKETS_CONSUMER = "projections-tickets"
AGENTS_CONSUMER = "projections-agents"


@dataclass
class TicketView:
    """One row of `tickets` while a batch is folded into it."""

    ticket: Ticket
    description: str
    opened_at: datetime
    updated_at: datetime
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_response_at: datetime | None = None
    sla_state: str | None = None
    breached: list[str] = field(default_factory=list)
    feedback_rating: int | None = None
    feedback_comment: str | None = None
    queued_at: datetime | None = None
    resolved_at: datetime | None = None


_COLUMNS = (
    "id, requester, subject, description, status, category, priority, owner, level, version, state, opened_at,"
    " updated_at, first_response_due, resolution_due, first_response_at, sla_state, breached, feedback_rating,"
    " feedback_comment, queued_at, resolved_at"
)


def fold_sla(v: TicketView, env: Envelope) -> None:
    """The SLA, feedback and queue columns a ticket event changes (pure)."""
    d = env.data
    match d:
        case ev.TicketSlaTargetsSet():
            v.first_response_due, v.resolution_due = d.first_response_due, d.resolution_due
            v.sla_state = "breached" if v.breached else "running"
        case ev.TicketSlaFirstResponseMet():
            v.first_response_at = d.at
        case ev.TicketSlaPaused():
            if v.sla_state == "running":
                v.sla_state = "paused"
        case ev.TicketSlaResumed():
            v.resolution_due = d.resolution_due
            if v.sla_state == "paused":
                v.sla_state = "running"
        case ev.TicketSlaBreached():
            v.sla_state = "breached"
            if d.target not in v.breached:
                v.breached.append(d.target)
        case ev.TicketResolved():
            v.resolved_at = env.time
            if v.sla_state in ("running", "paused"):
                v.sla_state = "met"
        case ev.TicketReopened():
            if v.sla_state == "met":
                v.sla_state = "running"
        case ev.TicketQueued():
            v.queued_at = v.queued_at or env.time
        case ev.TicketAssigned():
            v.queued_at = None
        case ev.TicketFeedbackGiven():
            v.feedback_rating, v.feedback_comment = d.rating, d.comment


def ticket_folder(keyring: Keyring) -> BatchHandler[Envelope]:
    async def fold(conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]) -> None:
        envs = await keyring.open_envelopes([env for env, _ in items], conn=conn)
        opened = [(env, d) for env, (_, d) in zip(envs, items, strict=True)]
        erased = await on_ticket_events(conn, opened)
        for ticket_id, (sub, ref) in erased.items():
            keyring.forget(ref)
            await _scrub_timeline(conn, ticket_id, sub, ref)
        return None

    return fold


async def _scrub_timeline(conn: asyncpg.Connection, ticket_id: str, sub: str, ref: str) -> None:
    rows = await conn.fetch("SELECT seq, type, actor, data FROM timeline WHERE ticket_id = $1", ticket_id)
    changes = []
    for r in rows:
        payload, actor = scrub(ev.model_for(r["type"]).model_validate_json(r["data"]), r["actor"], sub, ref)
        changes.append((ticket_id, r["seq"], actor, payload.model_dump_json()))
    await conn.executemany(
        "UPDATE timeline SET actor = $3, data = $4::jsonb WHERE ticket_id = $1 AND seq = $2", changes
    )


async def on_ticket_events(
    conn: asyncpg.Connection, items: list[tuple[Envelope, Delivery]]
) -> dict[str, tuple[str, str]]:
    """Fold a partition's batch (of opened events): read the tickets it touches once, evolve them
    in memory, write each changed ticket once and the timeline in one statement. Returns the tickets
    whose requester was erased: id -> (who they were in the view, their pseudonym)."""
    erased: dict[str, tuple[str, str]] = {}
    ids = list(dict.fromkeys(env.subject for env, _ in items))
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM tickets WHERE id = ANY($1::text[]) FOR UPDATE", ids)
    views: dict[str, TicketView] = {}
    for r in rows:
        views[r["id"]] = TicketView(
            ticket=Ticket.model_validate_json(r["state"]),
            description=r["description"],
            opened_at=r["opened_at"],
            updated_at=r["updated_at"],
            first_response_due=r["first_response_due"],
            resolution_due=r["resolution_due"],
            first_response_at=r["first_response_at"],
            sla_state=r["sla_state"],
            breached=list(r["breached"]),
            feedback_rating=r["feedback_rating"],
            feedback_comment=r["feedback_comment"],
            queued_at=r["queued_at"],
            resolved_at=r["resolved_at"],
        )
    changed: dict[str, TicketView] = {}
    timeline: list[tuple[Any, ...]] = []
    for env, _d in items:
        view = views.get(env.subject)
        after = evolve(view.ticket if view else None, env)
        if after is None:
            continue  # an event about a ticket this view never saw opened
        if view is None:
            assert isinstance(env.data, ev.TicketOpened)
            view = views[env.subject] = TicketView(after, env.data.description, env.time, env.time)
        if isinstance(env.data, ev.TicketRequesterErased):
            erased[after.id] = (view.ticket.requester, env.data.requester)
            view.description = ERASED
            view.feedback_comment = ERASED if view.feedback_comment else view.feedback_comment
        view.ticket, view.updated_at = after, env.time
        fold_sla(view, env)
        changed[after.id] = view
        timeline.append(
            (after.id, after.version, env.id, env.type, env.time, env.source, env.actor, env.data.model_dump_json())
        )
    if not changed:
        return erased
    await conn.executemany(
        f"INSERT INTO tickets({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14,"
        " $15, $16, $17, $18, $19, $20, $21, $22) ON CONFLICT (id) DO UPDATE SET status = $5, category = $6,"
        " priority = $7, owner = $8, level = $9, version = $10, state = $11::jsonb, updated_at = $13,"
        " first_response_due = $14, resolution_due = $15, first_response_at = $16, sla_state = $17, breached = $18,"
        " feedback_rating = $19, feedback_comment = $20, queued_at = $21, resolved_at = $22,"
        " requester = $2, subject = $3, description = $4",
        [
            (
                t.id,
                t.requester,
                t.subject,
                v.description,
                t.status.value,
                t.category.value,
                t.priority.value,
                t.owner,
                t.level,
                t.version,
                t.model_dump_json(),
                v.opened_at,
                v.updated_at,
                v.first_response_due,
                v.resolution_due,
                v.first_response_at,
                v.sla_state,
                v.breached,
                v.feedback_rating,
                v.feedback_comment,
                v.queued_at,
                v.resolved_at,
            )
            for v in changed.values()
            for t in (v.ticket,)
        ],
    )
    await _append_timeline(conn, timeline)
    return erased


_TIMELINE = ["ticket_id", "seq", "event_id", "type", "time", "source", "actor", "data"]
# COPY costs PostgreSQL about 0.25 ms to set up: worth it for a replay's thousands of rows, not
# for the handful a live batch brings, which one INSERT of arrays writes for a tenth of that.
COPY_FROM_ROWS = 200


async def _append_timeline(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    if len(rows) < COPY_FROM_ROWS:
        await conn.execute(
            f"INSERT INTO timeline({', '.join(_TIMELINE)}) SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[],"
            " $4::text[], $5::timestamptz[], $6::text[], $7::text[], $8::jsonb[])",
            *(list(column) for column in zip(*rows, strict=True)),
        )
        return
    # COPY needs the schema named: this connection's (its search_path's first)
    schema = await conn.fetchval("SELECT current_schema()")
    await conn.copy_records_to_table("timeline", records=rows, columns=_TIMELINE, schema_name=schema)


async def on_agent_event(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
    d = env.data
    match d:
        case ev.AgentRegistered():
            await conn.execute(
                "INSERT INTO agents(id, name, email, skills, level, capacity, availability, languages, teams,"
                " proficiency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)"
                " ON CONFLICT (id) DO UPDATE SET name = $2, email = $3, skills = $4, level = $5, capacity = $6,"
                " availability = $7, languages = $8, teams = $9, proficiency = $10::jsonb, removed = false",
                d.agent_id,
                d.name,
                d.email,
                [s.value for s in d.skills],
                d.level,
                d.capacity,
                d.availability,
                list(d.languages),
                list(d.teams),
                json.dumps({k.value: v for k, v in d.proficiency.items()}),
            )
        case ev.AgentUpdated():
            await conn.execute(
                "UPDATE agents SET skills = coalesce($2, skills), level = coalesce($3, level),"
                " capacity = coalesce($4, capacity), languages = coalesce($5, languages), teams = coalesce($6, teams),"
                " proficiency = coalesce($7::jsonb, proficiency) WHERE id = $1",
                d.agent_id,
                [s.value for s in d.skills] if d.skills is not None else None,
                d.level,
                d.capacity,
                list(d.languages) if d.languages is not None else None,
                list(d.teams) if d.teams is not None else None,
                json.dumps({k.value: v for k, v in d.proficiency.items()}) if d.proficiency is not None else None,
            )
        case ev.AgentAvailabilityChanged():
            await conn.execute("UPDATE agents SET availability = $2 WHERE id = $1", d.agent_id, d.availability)
        case ev.AgentRemoved():
            await conn.execute("UPDATE agents SET removed = true, availability = 'offline' WHERE id = $1", d.agent_id)
