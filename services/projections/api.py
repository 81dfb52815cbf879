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

from services.projections import listing, report, store
from services.projections.access import may_read, timeline_for
from services.projections.freshness import DEFAULT_WAIT_S, LONGEST_WAIT_S, Freshness, TooManyWaiting
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Category, Priority, Status
from shared.domain.i18n import pick_language, t
from shared.domain.principal import AuthError, Principal
from shared.domain.ticket import OPEN_STATUSES
from shared.platform import outbox
from shared.platform.auth import Authenticator, Caller, install, requires
from shared.platform.http_guard import RETRY_AFTER_S

_OPEN = [s.value for s in OPEN_STATUSES]


def _iso(v: Any) -> Any:
    return v.isoformat().replace("+00:00", "Z") if v is not None and hasattr(v, "isoformat") else v


def summary(r: asyncpg.Record, staff: bool = True) -> dict[str, Any]:
    """A ticket in a list. `staff`: with what only staff read (tags)."""
    merged_into = r.get("merged_into")
    return {
        "id": r["id"],
        "requester": r["requester"],
        "subject": r["subject"],
        # a duplicate closed into another ticket reads as `merged`, and says where
        "status": "merged" if merged_into else r["status"],
        "merged_into": merged_into,
        "order_id": r.get("order_id"),
        **({"tags": list(r.get("tags") or [])} if staff else {}),
        "category": r["category"],
        "priority": r["priority"],
        "owner": r["owner"],
        "owner_name": r.get("owner_name"),
        "level": r["level"],
        "queued_since": _iso(r.get("queued_at")),  # in the queue at `level`, nobody holds it
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
    pool: asyncpg.Pool,
    who: Principal,
    ticket_id: str,
    *,
    via: str = "api",
    access_topic: str | None = None,
    min_version: int = 0,
) -> dict[str, Any] | None:
    """The ticket as `who` may see it, or None (missing, or not theirs: the same answer). With
    `access_topic`, the read is recorded (for staff and auditors), unless the view is older than
    `min_version`: then only its version is answered (`{"version": n}`), which is not a read."""
    who.need("tickets:read")
    # one snapshot for the ticket and its timeline, or a change committed between the two
    # reads would show a timeline ahead of the ticket's own fields
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        row, events = await store.ticket_with_timeline(conn, ticket_id)
        team = await store.teammates(conn, who.sub) if who.role == "agent" else []
        if row is None or not may_read(who, row["requester"], row["owner"], team):
            return None
        if row["version"] < min_version:
            return {"version": row["version"]}
        around = await _around(conn, who, team, row)
    if access_topic is not None and who.role in AUDITED_READERS:
        async with pool.acquire() as conn, conn.transaction():
            await record_read(conn, who, ticket_id, via, access_topic)
    return ticket_body(who, row, events) | around


async def _around(conn: asyncpg.Connection, who: Principal, team: list[str], row: asyncpg.Record) -> dict[str, Any]:
    """What surrounds a ticket, each one as the one access rule allows `who`: the duplicates merged
    into it (their conversation goes on here), and for staff the related tickets and the
    requester's other tickets."""

    def readable(r: asyncpg.Record) -> bool:
        return may_read(who, r["requester"], r["owner"], team)

    def brief(r: asyncpg.Record) -> dict[str, Any]:
        merged = r["merged_into"]
        status = "merged" if merged else r["status"]
        return {"id": r["id"], "subject": r["subject"], "status": status, "opened_at": _iso(r["opened_at"])}

    merged = [r for r in await store.merged_into(conn, row["id"]) if readable(r)]
    merged_from = []
    for r in merged:
        _dup, events = await store.ticket_with_timeline(conn, r["id"])
        merged_from.append(brief(r) | {"description": r["description"], "timeline": timeline_for(who, _events(events))})
    out: dict[str, Any] = {"merged_from": merged_from}
    if who.role != "requester":
        out["fields"] = await store.fields_of(conn, row["id"])
        out["links"] = [brief(r) for r in await store.linked(conn, row["id"]) if readable(r)]
        others = await store.requesters_others(conn, row["requester"], row["id"])
        out["requester_tickets"] = [brief(r) for r in others if readable(r)]
    return out


def _events(events: list[asyncpg.Record]) -> list[dict[str, Any]]:
    return [
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
    ]


def ticket_body(who: Principal, row: asyncpg.Record, events: list[asyncpg.Record]) -> dict[str, Any]:
    body = summary(row, staff=who.role != "requester")
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
        "timeline": timeline_for(who, _events(events)),
    }
    return body


STATUS_NAMES = (*(s.value for s in Status), "merged")


def _unprocessable(message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "message": message}, 422)


def create_app(pool: asyncpg.Pool, auth: Authenticator, access_topic: str | None = None) -> FastAPI:
    app = FastAPI(
        title="Mesa",
        description="Consulta de tickets, agentes y colas. Tickets, agents and queues.",
        version="1",
    )
    install(app, auth)
    fresh = app.state.fresh = Freshness(pool)

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
    async def ticket(
        ticket_id: str,
        request: Request,
        who: Caller,
        min_version: Annotated[
            int | None,
            Query(
                ge=1,
                le=2**31 - 1,
                description="read your own write: wait until the view shows at least this version"
                " (a command's answer carries it); 503 with Retry-After if it does not within `wait`",
            ),
        ] = None,
        wait: Annotated[
            float, Query(ge=0, le=LONGEST_WAIT_S, description="seconds to wait for `min_version`")
        ] = DEFAULT_WAIT_S,
    ) -> JSONResponse:
        lang = pick_language(request.headers.get("accept-language"))
        if min_version is not None:
            who.need("tickets:read")
            team = await store.teammates(pool, who.sub) if who.role == "agent" else []
            try:
                await fresh.reached(
                    ticket_id, min_version, wait, lambda row: may_read(who, row["requester"], row["owner"], team)
                )
            except TooManyWaiting:
                message = t("overloaded", lang, seconds=RETRY_AFTER_S)
                return JSONResponse(
                    {"error": "overloaded", "message": message}, 503, headers={"Retry-After": str(RETRY_AFTER_S)}
                )
        body = await read_ticket(pool, who, ticket_id, access_topic=access_topic, min_version=min_version or 0)
        if body is None:
            return JSONResponse({"error": "not_found", "message": t("not_found", lang, ticket_id=ticket_id)}, 404)
        if min_version is not None and body["version"] < min_version:
            message = t("view_behind", lang, ticket_id=ticket_id, version=min_version, seen=body["version"])
            return JSONResponse(
                {"error": "view_behind", "message": message, "version": body["version"]},
                503,
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        return JSONResponse(body, headers={"ETag": f'"{body["version"]}"'})

    @app.get("/tickets", tags=["tickets"])
    async def tickets(
        who: Caller,
        q: Annotated[str, Query(max_length=200, description="words, an order number or a ticket id")] = "",
        requester: str | None = None,
        status: Annotated[list[str] | None, Query(description="any of these; `merged` too")] = None,
        owner: str | None = None,
        unassigned: bool = False,
        category: Category | None = None,
        priority: Priority | None = None,
        tag: Annotated[list[str] | None, Query(description="all of these tags")] = None,
        order_id: Annotated[str | None, Query(max_length=120)] = None,
        field: Annotated[list[str] | None, Query(description="custom field value, `field:value`; all of them")] = None,
        sort: Annotated[
            str, Query(description="updated, opened, priority, due or id; '-' first: descending")
        ] = "-updated",
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        cursor: Annotated[str | None, Query(max_length=300)] = None,
    ) -> JSONResponse:
        """Tickets `who` may read: by words (subject, description, conversation; Spanish and
        English stems), order number, tag, requester, owner, status, category, priority; sorted,
        with `total` and the `next` page's cursor."""
        who.need("tickets:read")
        statuses = tuple(status or ())
        if unknown := [s for s in statuses if s not in STATUS_NAMES]:
            return _unprocessable(f"status: unknown {', '.join(unknown)}; one of {', '.join(STATUS_NAMES)}")
        for t_ in tag or ():
            if len(t_) > 40:
                return _unprocessable("tag: at most 40 characters")
        pairs = [f.partition(":") for f in field or ()]
        if any(not sep or not name or len(f) > 340 for f, (name, sep, _v) in zip(field or (), pairs, strict=True)):
            return _unprocessable("field: `field:value`")
        filters = {
            "requester": requester,
            "owner": owner,
            "category": category.value if category else None,
            "priority": priority.value if priority else None,
            "order_id": order_id,
        }
        query = listing.Query(
            filters={k: v for k, v in filters.items() if v is not None},
            status=statuses,
            tags=tuple(t_.lower() for t_ in tag or ()),
            words=q,
            unassigned=unassigned,
            fields=tuple((name, value) for name, _sep, value in pairs),
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
        team = await store.teammates(pool, who.sub) if who.role == "agent" else []
        try:
            total, rows, next_cursor = await store.listing(pool, who, team, query)
        except listing.BadQuery as exc:
            return _unprocessable(str(exc))
        items = [summary(r, staff=who.role != "requester") for r in rows]
        # `total` is exact up to 10,000; past it, `total_at_least` says the count stopped there
        body = {"items": items, "total": total, "total_at_least": total >= listing.COUNT_UP_TO}
        return JSONResponse(body | {"limit": limit, "next": next_cursor})

    @app.get("/macros", tags=["workspace"])
    async def macros(who: Caller) -> list[dict[str, Any]]:
        """The shared macros and your own (staff)."""
        if not who.is_staff:
            raise AuthError(403, "forbidden_role", role=who.role, allowed="agent, supervisor, admin")
        return [m.model_dump(mode="json") | {"shared": m.owner is None} for m in await store.macros_for(pool, who.sub)]

    @app.get("/fields", tags=["workspace"])
    async def fields(who: Caller) -> list[dict[str, Any]]:
        """The custom fields tickets carry, by category (staff)."""
        if not who.is_staff and not who.reads_all:
            raise AuthError(403, "forbidden_role", role=who.role, allowed="agent, supervisor, auditor, admin")
        return [f.model_dump(mode="json") for f in await store.field_definitions(pool)]

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
