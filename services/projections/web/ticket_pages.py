"""One ticket, for everyone who may read it: the page, its live parts, its files, and the
commands its forms send (to intake, or to routing for a reassignment)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.projections import store
from services.projections.access import may_read
from services.projections.api import read_ticket
from services.projections.web.site import PageError, Site, Web, error_text, lang_of, sla_view
from services.projections.web.timeline import describe
from shared.domain.commands import WITH_FILES
from shared.domain.events.catalogue import Level
from shared.domain.principal import Principal
from shared.platform.auth import SESSION_COOKIE
from shared.platform.topics import AUDIT_ACCESS

router = APIRouter(include_in_schema=False)


async def load(
    web: Web, request: Request, ticket_id: str, *, audited: bool = False
) -> tuple[Principal, dict[str, Any]]:
    """The ticket as the person may see it; `audited`: a page view, recorded for staff."""
    who = web.need(request)
    topic = web.settings.topic(AUDIT_ACCESS) if audited else None
    t = await read_ticket(web.pool, who, ticket_id, via="page", access_topic=topic)
    if t is None:
        raise PageError(404, "not_found")
    return who, t


async def ticket_context(web: Web, who: Principal, t: dict[str, Any], request: Request) -> dict[str, Any]:
    names = await web.names()
    lang = lang_of(request)
    entries = []
    for e in t["timeline"]:
        head, body = describe(e, lang, names)
        entries.append(
            {
                **e,
                "head": head,
                "body": body,
                "internal": e["type"] == "ticket.commented" and e["data"].get("internal"),
                "attachments": e["data"].get("attachments", []),
                "follows": e["data"].get("follows") if e["type"] == "ticket.opened" else None,
            }
        )
    agents = (
        [{"id": i, "name": n} for i, n in (await store.agent_names(web.pool, active=True)).items()]
        if who.role in ("supervisor", "admin")
        else []
    )
    return {
        "t": t,
        "entries": entries,
        "sla_view": sla_view(t, ""),
        "owner_name": names.get(t["owner"] or "", t["owner"]),
        "agents": agents,
        "staff": who.is_staff,
        "levels": list(Level),
    }


@router.get("/t/{ticket_id}")
async def ticket_page(web: Site, request: Request, ticket_id: str, masked: str = "") -> Response:
    # no text from the query string is ever shown as the page's own (an `?error=` link would
    # put anyone's words in Mesa's red alert): a refused action is shown where it is refused
    who, t = await load(web, request, ticket_id, audited=True)
    context = await ticket_context(web, who, t, request)
    return web.render(request, "ticket.html", error="", masked=bool(masked), **context)


@router.get("/t/{ticket_id}/timeline")
async def ticket_fragment(web: Site, request: Request, ticket_id: str) -> Response:
    who, t = await load(web, request, ticket_id)
    return web.render(request, "_live.html", **await ticket_context(web, who, t, request))


@router.get("/t/{ticket_id}/live")
async def ticket_version(web: Site, request: Request, ticket_id: str) -> Response:
    who = web.need(request)
    row = await store.reader_facts(web.pool, ticket_id)
    team = await store.teammates(web.pool, who.sub) if who.role == "agent" else []
    if row is None or not may_read(who, row["requester"], row["owner"], team):
        return JSONResponse({"error": "not_found"}, 404)
    return JSONResponse({"version": row["version"]}, headers={"Cache-Control": "no-store"})


@router.get("/t/{ticket_id}/files/{sha256}")
async def ticket_file(web: Site, request: Request, ticket_id: str, sha256: str) -> Response:
    web.need(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    async with httpx.AsyncClient(timeout=15) as http:
        r = await http.get(
            f"{web.settings.intake_url}/tickets/{ticket_id}/attachments/{sha256}",
            headers={"Authorization": f"Bearer {token}"},
        )
    if r.status_code != 200:
        raise PageError(404, "not_found")
    keep = ("content-type", "content-disposition", "x-content-type-options", "cache-control")
    return Response(r.content, headers={k: v for k, v in r.headers.items() if k in keep})


def command_body(command: str, form: dict[str, Any]) -> dict[str, Any]:
    """A form's fields as the command's JSON (empty optional fields left out)."""
    fields = {k: str(v).strip() for k, v in form.items() if k != "csrf" and isinstance(v, str)}
    match command:
        case "comment":
            return {"body": fields.get("body", ""), "internal": fields.get("internal") == "on"}
        case "feedback":
            rating = fields.get("rating", "")
            return {"rating": int(rating) if rating.isdigit() else 0, "comment": fields.get("comment", "")}
        case "categorize":
            return {k: v for k, v in fields.items() if k in ("category", "impact", "urgency", "reason") and v}
        case "confirm":
            return {}
    wanted = {
        "request-info": ("question",),
        "reply": ("body",),
        "resolve": ("summary",),
        "reject": ("reason",),
        "reopen": ("reason",),
        "escalate": ("reason",),
        "close": ("reason",),
        "assign": ("agent_id", "reason"),
    }.get(command, ())
    return {k: fields.get(k, "") for k in wanted}


@router.post("/t/{ticket_id}/do/{command}")
async def act(web: Site, request: Request, ticket_id: str, command: str) -> Response:
    who, _ = await load(web, request, ticket_id)
    form = await web.form(request)
    body = command_body(command, form)
    if command == "assign":
        if who.role not in ("supervisor", "admin"):
            raise PageError(403, "forbidden")
        r = await web.command(request, f"/tickets/{ticket_id}/assign", body, service="routing")
    else:
        files = await web.form_files(request) if command in WITH_FILES else []
        r = await web.command(request, f"/tickets/{ticket_id}/{command}", body, files=files)
    if r.status_code >= 400:  # the page again, with why (as a form with errors is shown again)
        who, t = await load(web, request, ticket_id)
        context = await ticket_context(web, who, t, request)
        return web.render(request, "ticket.html", r.status_code, error=error_text(r), masked=False, **context)
    done = r.json()
    if isinstance(done.get("version"), int):
        await web.caught_up(ticket_id, done["version"])
    # a reassignment is routing's event: it reaches the view a moment later, and the page polls
    return RedirectResponse(f"/t/{ticket_id}" + ("?masked=1" if done.get("masked") else ""), 303)
