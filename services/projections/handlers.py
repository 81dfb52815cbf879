"""Projection consumers: fold ticket.events into tickets + timeline, agent.events into agents.
Pure folds: they never emit; a replay rebuilds exactly the same rows."""

from __future__ import annotations

import json

import asyncpg

from shared.consumer import Delivery
from shared.events import Envelope
from shared.events import catalogue as ev
from shared.ticket import Ticket, evolve

NAME = "projections"
TICKETS_CONSUMER = "projections-tickets"
AGENTS_CONSUMER = "projections-agents"


async def on_ticket_event(conn: asyncpg.Connection, env: Envelope, _d: Delivery) -> None:
    raw = await conn.fetchval("SELECT state FROM tickets WHERE id = $1 FOR UPDATE", env.subject)
    before = Ticket.model_validate_json(raw) if raw else None
    after = evolve(before, env)
    if after is None:
        return  # an event about a ticket this view never saw opened
    data = env.data
    if before is None:
        assert isinstance(data, ev.TicketOpened)
        await conn.execute(
            "INSERT INTO tickets(id, requester, subject, description, status, category, priority, owner,"
            " level, version, state, opened_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $12)",
            after.id,
            after.requester,
            after.subject,
            data.description,
            after.status.value,
            after.category.value,
            after.priority.value,
            after.owner,
            after.level,
            after.version,
            after.model_dump_json(),
            env.time,
        )
    else:
        await conn.execute(
            "UPDATE tickets SET status = $2, category = $3, priority = $4, owner = $5, level = $6,"
            " version = $7, state = $8::jsonb, updated_at = $9 WHERE id = $1",
            after.id,
            after.status.value,
            after.category.value,
            after.priority.value,
            after.owner,
            after.level,
            after.version,
            after.model_dump_json(),
            env.time,
        )
    await _sla(conn, env)
    await conn.execute(
        "INSERT INTO timeline(ticket_id, seq, event_id, type, time, source, actor, data)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)",
        after.id,
        after.version,
        env.id,
        env.type,
        env.time,
        env.source,
        env.actor,
        json.dumps(data.model_dump(mode="json")),
    )


async def _sla(conn: asyncpg.Connection, env: Envelope) -> None:
    d = env.data
    tid = env.subject
    match d:
        case ev.TicketSlaTargetsSet():
            await conn.execute(
                "UPDATE tickets SET first_response_due = $2, resolution_due = $3,"
                " sla_state = CASE WHEN cardinality(breached) > 0 THEN 'breached' ELSE 'running' END"
                " WHERE id = $1",
                tid,
                d.first_response_due,
                d.resolution_due,
            )
        case ev.TicketSlaFirstResponseMet():
            await conn.execute("UPDATE tickets SET first_response_at = $2 WHERE id = $1", tid, d.at)
        case ev.TicketSlaPaused():
            await conn.execute("UPDATE tickets SET sla_state = 'paused' WHERE id = $1 AND sla_state = 'running'", tid)
        case ev.TicketSlaResumed():
            await conn.execute(
                "UPDATE tickets SET resolution_due = $2, sla_state = CASE WHEN sla_state = 'paused'"
                " THEN 'running' ELSE sla_state END WHERE id = $1",
                tid,
                d.resolution_due,
            )
        case ev.TicketSlaBreached():
            await conn.execute(
                "UPDATE tickets SET sla_state = 'breached',"
                " breached = array(SELECT DISTINCT unnest(breached || $2::text)) WHERE id = $1",
                tid,
                d.target,
            )
        case ev.TicketResolved():
            await conn.execute(
                "UPDATE tickets SET resolved_at = $2, sla_state = CASE WHEN sla_state IN ('running', 'paused')"
                " THEN 'met' ELSE sla_state END WHERE id = $1",
                tid,
                env.time,
            )
        case ev.TicketReopened():
            await conn.execute("UPDATE tickets SET sla_state = 'running' WHERE id = $1 AND sla_state = 'met'", tid)
        case ev.TicketQueued():
            await conn.execute("UPDATE tickets SET queued_at = coalesce(queued_at, $2) WHERE id = $1", tid, env.time)
        case ev.TicketAssigned():
            await conn.execute("UPDATE tickets SET queued_at = NULL WHERE id = $1", tid)
        case ev.TicketFeedbackGiven():
            await conn.execute(
                "UPDATE tickets SET feedback_rating = $2, feedback_comment = $3 WHERE id = $1",
                tid,
                d.rating,
                d.comment,
            )


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
