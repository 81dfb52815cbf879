"""The query API: tickets, their timelines, agents and their queues. Read-only."""

from __future__ import annotations

import json
from typing import Annotated, Any

import asyncpg
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from shared.events.catalogue import Category, Priority, Status
from shared.i18n import pick_language, t
from shared.ticket import OPEN_STATUSES, PRIORITY_WEIGHT

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


def create_app(pool: asyncpg.Pool) -> FastAPI:
    app = FastAPI(
        title="Mesa",
        description="Consulta de tickets, agentes y colas. Tickets, agents and queues.",
        version="1",
    )

    @app.get("/tickets/{ticket_id}", tags=["tickets"])
    async def ticket(ticket_id: str, request: Request) -> JSONResponse:
        # one snapshot for the ticket and its timeline, or a change committed between the two
        # reads would show a timeline ahead of the ticket's own fields
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            row = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", ticket_id)
            events = await conn.fetch(
                "SELECT seq, event_id, type, time, source, actor, data FROM timeline WHERE ticket_id = $1 ORDER BY seq",
                ticket_id,
            )
        if row is None:
            lang = pick_language(request.headers.get("accept-language"))
            return JSONResponse({"error": "not_found", "message": t("not_found", lang, ticket_id=ticket_id)}, 404)
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
            "timeline": [
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
            ],
        }
        return JSONResponse(body, headers={"ETag": f'"{row["version"]}"'})

    @app.get("/tickets", tags=["tickets"])
    async def tickets(
        requester: str | None = None,
        status: Status | None = None,
        owner: str | None = None,
        category: Category | None = None,
        priority: Priority | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        where, args = [], []
        for column, value in (
            ("requester", requester),
            ("status", status.value if status else None),
            ("owner", owner),
            ("category", category.value if category else None),
            ("priority", priority.value if priority else None),
        ):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            total = await conn.fetchval(f"SELECT count(*) FROM tickets {clause}", *args)
            rows = await conn.fetch(
                f"SELECT * FROM tickets {clause} ORDER BY opened_at DESC, id LIMIT {limit} OFFSET {offset}", *args
            )
        return {"items": [summary(r) for r in rows], "total": total, "limit": limit, "offset": offset}

    @app.get("/agents", tags=["agents"])
    async def agents() -> list[dict[str, Any]]:
        # load: open tickets weighted by priority (what capacity is counted in), as routing counts it
        rows = await pool.fetch(
            "SELECT a.*, count(t.id) AS open_tickets,"
            " coalesce(sum(CASE t.priority WHEN 'P1' THEN $2::int WHEN 'P2' THEN $3::int"
            " WHEN 'P3' THEN $4::int ELSE $5::int END), 0)"
            " AS load"
            " FROM agents a LEFT JOIN tickets t ON t.owner = a.id AND t.status = ANY($1::text[])"
            " WHERE NOT a.removed GROUP BY a.id ORDER BY a.id",
            _OPEN,
            PRIORITY_WEIGHT[Priority.P1],
            PRIORITY_WEIGHT[Priority.P2],
            PRIORITY_WEIGHT[Priority.P3],
            PRIORITY_WEIGHT[Priority.P4],
        )
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
    async def queue(agent_id: str) -> JSONResponse:
        if not await pool.fetchval("SELECT 1 FROM agents WHERE id = $1", agent_id):
            return JSONResponse({"error": "not_found", "message": f"agente {agent_id} no existe"}, 404)
        rows = await pool.fetch(
            "SELECT *, CASE WHEN first_response_at IS NULL THEN least(first_response_due, resolution_due)"
            " ELSE resolution_due END AS next_due FROM tickets"
            " WHERE owner = $1 AND status = ANY($2::text[]) ORDER BY next_due NULLS LAST, opened_at",
            agent_id,
            _OPEN,
        )
        return JSONResponse([summary(r) | {"next_due": _iso(r["next_due"])} for r in rows])

    return app
