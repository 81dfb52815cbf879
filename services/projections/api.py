"""The query API: tickets, their timelines, agents and their queues. Read-only, signed in.

Every read goes through `access`: requesters see their own tickets and the public timeline,
agents their queue and their teams', supervisors/auditors/admins/services everything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.projections import report, store
from services.projections.access import may_read, timeline_for
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Category, Priority, Status
from shared.domain.i18n import pick_language, t
from shared.domain.principal import AuthError, Principal
from shared.domain.ticket import OPEN_STATUSES
from shared.platform import outbox
from shared.platform.auth import Authenticator, Caller, install, requires

_OPEN = [s.value for s in OPEN_STATUSES]


def _iso(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if v is not None and hasattr(v, "isoformat") else v


def summary(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "requester": r["requester"],
        "subject": r["subject"],
        "status": r["status"],
        "category": r["category"],
        "priority": r["priority"],
        "owner": r["owner"],
        "owner_name": r.get("owner_name"),
        "level": r["level"],
        "version": r["version"],
        "opened_at": _iso(r["opened_at"]),
        "updated_at": _iso(r["updated_at"]),
        "sla": {
            "first_response_due": _iso(r["first_response_due"]),
            "resolution_due": _iso(r["resolution_due"]),
            "first_response_at": _iso(r["first_response_at"]),
            "state": r["sla_state"],
            "breached": list(r["breached"]),
        },
    }


# Reads by these roles are recorded (who, when, which ticket): the policy's confidential handling.
# Other systems (service tokens) read everything, internal notes included: recorded too.
AUDITED_READERS = frozenset({"agent", "supervisor", "auditor", "admin", "service"})


async def record_read(conn: asyncpg.Connection, who: Principal, ticket_id: str, via: str, topic: str) -> None:
    """One `access.ticket_read` on audit.access, through the outbox, in the reader's snapshot."""
    if who.role not in AUDITED_READERS:
        return
    read = ev.TicketRead(ticket_id=ticket_id, reader=f"{who.role}:{who.sub}", via=via)
    env = Envelope.new(read, source="projections", subject=ticket_id, time=datetime.now(UTC), actor=read.reader)
    await outbox.enqueue(conn, topic, env)


async def record_reads(pool: asyncpg.Pool, who: Principal, ticket_ids: list[str], via: str, topic: str | None) -> None:
    """`record_read` for several tickets at once (a sample, say), in one transaction."""
    if topic is None or who.role not in AUDITED_READERS or not ticket_ids:
        return
    async with pool.acquire() as conn, conn.transaction():
        for ticket_id in ticket_ids:
            await record_read(conn, who, ticket_id, via, topic)


async def read_ticket(
    pool: asyncpg.Pool, who: Principal, ticket_id: str, *, via: str = "api", access_topic: str | None = None
) -> dict[str, Any] | None:
    """The ticket as `who` may see it, or None (missing, or not theirs: the same answer). With
    `access_topic`, the read is recorded (for staff and auditors)."""
    who.need("tickets:read")
    # one snapshot for the ticket and its timeline, or a change committed between the two
    # reads would show a timeline ahead of the ticket's own fields
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row, events = await store.ticket_with_timeline(conn, ticket_id)
        team = await store.teammates(conn, who.sub) if who.role == "agent" else []
        if row is None or not may_read(who, row["requester"], row["owner"], team):
            return None
    if access_topic is not None and who.role in AUDITED_READERS:
        async with pool.acquire() as conn, conn.transaction():
            await record_read(conn, who, ticket_id, via, access_topic)
    return ticket_body(who, row, events)


def ticket_body(who: Principal, row: asyncpg.Record, events: list[asyncpg.Record]) -> dict[str, Any]:
    body = summary(row)
    state = json.loads(row["state"])
    body |= {
        "description": row["description"],
        "language": state.get("language"),
        "pending_question": state.get("pending_question"),
        "resolution": state.get("resolution"),
        "confirmed": state.get("confirmed"),
        "feedback": (
            {"rating": row["feedback_rating"], "comment": row["feedback_comment"]}
            if row["feedback_rating"] is not None
            else None
        ),
        "timeline": timeline_for(
            who,
            (
                {
                    "seq": e["seq"],
                    "id": str(e["event_id"]),
                    "type": e["type"],
                    "time": _iso(e["time"]),
                    "source": e["source"],
                    "actor": e["actor"],
                    "data": json.loads(e["data"]),
                }
                for e in events
            ),
        ),
    }
    return body


def create_app(pool: asyncpg.Pool, auth: Authenticator, access_topic: str | None = None) -> FastAPI:
    app = FastAPI(
        title="Mesa",
        description="Consulta de tickets, agentes y colas. Tickets, agents and queues.",
        version="1",
    )
    install(app, auth)

    @app.get("/audit/samples", tags=["audit"])
    async def audit_samples(
        who: Annotated[Principal, Depends(requires("auditor", "supervisor", "admin"))],
        start: Annotated[str | None, Query(alias="from")] = None,
        end: Annotated[str | None, Query(alias="to")] = None,
        size: Annotated[int, Query(ge=1, le=200)] = 10,
        seed: int = 1,
    ) -> JSONResponse:
        """A reproducible random sample of the tickets closed in the period, whole (`mesa audit
        sample` asks here): every ticket drawn is a read, recorded in the access log."""
        try:
            since, to = report.period(start, end, datetime.now(UTC))
        except ValueError:
            return JSONResponse({"error": "invalid_request", "message": "from/to: an ISO date or time"}, 422)
        items = await report.sample(pool, since, to, size, seed)
        await record_reads(pool, who, [str(i["id"]) for i in items], "api", access_topic)
        return JSONResponse(json.loads(json.dumps(items, default=str)))

    @app.get("/tickets/{ticket_id}", tags=["tickets"])
    async def ticket(ticket_id: str, request: Request, who: Caller) -> JSONResponse:
        body = await read_ticket(pool, who, ticket_id, access_topic=access_topic)
        if body is None:
            lang = pick_language(request.headers.get("accept-language"))
            return JSONResponse({"error": "not_found", "message": t("not_found", lang, ticket_id=ticket_id)}, 404)
        return JSONResponse(body, headers={"ETag": f'"{body["version"]}"'})

    @app.get("/tickets", tags=["tickets"])
    async def tickets(
        who: Caller,
        requester: str | None = None,
        status: Status | None = None,
        owner: str | None = None,
        category: Category | None = None,
        priority: Priority | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        who.need("tickets:read")
        team = await store.teammates(pool, who.sub) if who.role == "agent" else []
        filters = {
            "requester": requester,
            "status": status.value if status else None,
            "owner": owner,
            "category": category.value if category else None,
            "priority": priority.value if priority else None,
        }
        total, rows = await store.ticket_page(pool, who, team, filters, limit, offset)
        return {"items": [summary(r) for r in rows], "total": total, "limit": limit, "offset": offset}

    @app.get("/agents", tags=["agents"])
    async def agents(who: Caller) -> list[dict[str, Any]]:
        if who.role == "requester":
            raise AuthError(403, "forbidden_role", role=who.role, allowed="agent, supervisor, auditor, admin, service")
        rows = await store.agents_with_load(pool)
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "skills": list(r["skills"]),
                "proficiency": json.loads(r["proficiency"]),
                "level": r["level"],
                "availability": r["availability"],
                "languages": list(r["languages"]),
                "teams": list(r["teams"]),
                "load": r["load"],
                "open_tickets": r["open_tickets"],
                "capacity": r["capacity"],
            }
            for r in rows
        ]

    @app.get("/agents/{agent_id}/queue", tags=["agents"])
    async def queue(agent_id: str, who: Caller) -> JSONResponse:
        if not (
            who.reads_all or (who.role == "agent" and agent_id in (who.sub, *await store.teammates(pool, who.sub)))
        ):
            raise AuthError(403, "forbidden_role", role=who.role, allowed="supervisor, auditor, admin, service")
        if not await store.agent_exists(pool, agent_id):
            return JSONResponse({"error": "not_found", "message": f"agente {agent_id} no existe"}, 404)
        rows = await store.open_queue(pool, agent_id)
        return JSONResponse([summary(r) | {"next_due": _iso(r["next_due"])} for r in rows])

    return app
