"""One ticket, for everyone who may read it: the page, its live parts, its files, and the
commands its forms send (to intake, or to routing for a reassignment)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.projections import kb, store
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
    agents = await _agents(web) if who.role in ("supervisor", "admin") else []
    picks = (
        await kb.search(web.kb_pool, t["subject"], language=t.get("language"), limit=8, any_word=True)
        if who.is_staff
        else []
    )
    macros = await store.macros_for(web.pool, who.sub) if who.is_staff else []
    definitions = (
        [d for d in await store.field_definitions(web.pool) if not d.categories or t["category"] in d.categories]
        if who.is_staff
        else []
    )
    asked = [e["data"].get("question", "") for e in t["timeline"] if e["type"] == "ticket.info_requested"]
    return {
        "question": asked[-1] if asked and t.get("pending_question") else "",
        "macros": macros,
        "field_defs": definitions,
        "t": t,
        "entries": entries,
        "sla_view": sla_view(t, ""),
        "owner_name": names.get(t["owner"] or "", t["owner"]),
        "agents": agents,
        "staff": who.is_staff,
        "levels": list(Level),
        "kb_picks": picks,
        "others_here": await kb.here(web.kb_pool, t["id"], f"{who.role}:{who.sub}", who.name or who.sub)
        if who.is_staff
        else [],
    }


async def _agents(web: Web) -> list[dict[str, Any]]:
    """Whom a ticket can go to: told apart (name and id), with load against capacity, availability
    and skills; the least loaded first."""
    rows = await store.agents_with_load(web.pool)
    agents = [
        {
            "id": r["id"],
            "name": r["name"],
            "load": r["load"],
            "capacity": r["capacity"],
            "full": r["load"] >= r["capacity"],
            "availability": r["availability"],
            "skills": list(r["skills"]),
            "level": r["level"],
        }
        for r in rows
    ]
    return sorted(agents, key=lambda a: (a["full"], a["availability"] != "online", a["load"] / max(a["capacity"], 1)))


# What a done action says, by its name: the query string only picks one of these, never brings words
DONE = frozenset(
    {"comment", "note", "request-info", "resolve", "reply", "confirm", "reject", "reopen", "close", "feedback"}
    | {"escalate", "categorize", "assign", "tags", "link", "merge", "apply-macro", "fields", "opened"}
)


@router.get("/t/{ticket_id}")
async def ticket_page(web: Site, request: Request, ticket_id: str, masked: str = "", done: str = "") -> Response:
    # no text from the query string is ever shown as the page's own (an `?error=` link would
    # put anyone's words in Mesa's red alert): a refused action is shown where it is refused
    who, t = await load(web, request, ticket_id, audited=True)
    context = await ticket_context(web, who, t, request)
    said = f"done_{done}" if done in DONE else ""
    return web.render(request, "ticket.html", error="", masked=bool(masked), done=said, **context)


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
    others = await kb.here(web.kb_pool, ticket_id, f"{who.role}:{who.sub}", who.name or who.sub) if who.is_staff else []
    return JSONResponse({"version": row["version"], "others": others}, headers={"Cache-Control": "no-store"})


@router.get("/t/{ticket_id}/actions")
async def ticket_actions(web: Site, request: Request, ticket_id: str) -> Response:
    """The forms as the ticket stands now (the page swaps them in when it changes, if untouched)."""
    who, t = await load(web, request, ticket_id)
    context = await ticket_context(web, who, t, request)
    return web.render(request, "_actions.html", error="", done="", **context)


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
        case "tags":
            return {"add": fields.get("add", "").replace(",", " ").split(), "remove": fields.get("remove", "").split()}
        case "link":
            return {"to": fields.get("to", "").upper(), "unlink": fields.get("unlink") == "on"}
        case "merge":
            return {"into": fields.get("into", "").upper(), "reason": fields.get("reason") or "duplicate"}
        case "apply-macro":
            return {"macro": fields.get("macro", "")}
        case "fields":
            given = {k.removeprefix("f_"): v for k, v in fields.items() if k.startswith("f_") and v}
            had = [k.removeprefix("had_") for k in fields if k.startswith("had_")]
            return {"values": given, "clear": [k for k in had if k not in given]}
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


def composed(form: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
    """The composer's one form as the command it means: (command, body, what is said when done).
    A public reply may also ask and wait for the customer, or resolve; a note is only a note."""
    text = str(form.get("body", "")).strip()
    if form.get("mode") == "internal":
        return "comment", {"body": text, "internal": True}, "note"
    match form.get("send"):
        case "wait":
            return "request-info", {"question": text}, "request-info"
        case "resolve":
            return "resolve", {"summary": text}, "resolve"
    return "comment", {"body": text, "internal": False}, "comment"


@router.post("/t/{ticket_id}/do/{command}")
async def act(web: Site, request: Request, ticket_id: str, command: str) -> Response:
    who, t = await load(web, request, ticket_id)
    form = await web.form(request)
    said = command
    if command == "compose":
        command, body, said = composed(form)
    else:
        body = command_body(command, form)
    if command == "tags":  # the tags to take off are ticked boxes: every one of them
        body["remove"] = await web.form_list(request, "remove")
    # the version a staff form was drawn at: a form older than the ticket is a conflict, said so
    # (with what was typed kept); the page swaps untouched forms for fresh ones as the ticket moves
    version = str(form.get("version", "")).strip()
    headers = {"If-Match": f'"{version}"'} if version.isdigit() else {}
    if command == "assign":
        if who.role not in ("supervisor", "admin"):
            raise PageError(403, "forbidden")
        chosen = next((a for a in await _agents(web) if a["id"] == body.get("agent_id")), None)
        if chosen is not None and chosen["full"] and form.get("over_capacity") != "on":
            context = await ticket_context(web, who, t, request)
            warning = {"name": chosen["name"], "load": chosen["load"], "capacity": chosen["capacity"]}
            return web.render(
                request, "ticket.html", 409, error="", masked=False, done="", over=warning, form=form, **context
            )
        r = await web.command(request, f"/tickets/{ticket_id}/assign", body, service="routing")
    else:
        files = await web.form_files(request) if command in WITH_FILES else []
        r = await web.command(request, f"/tickets/{ticket_id}/{command}", body, files=files, headers=headers)
    if r.status_code >= 400:  # the page again, with why (as a form with errors is shown again)
        who, t = await load(web, request, ticket_id)
        context = await ticket_context(web, who, t, request)
        return web.render(
            request, "ticket.html", r.status_code, error=error_text(r), masked=False, done="", form=form, **context
        )
    done = r.json()
    if isinstance(done.get("version"), int):
        await web.caught_up(ticket_id, done["version"])
    # a reassignment is routing's event: it reaches the view a moment later, and the page polls
    query = urlencode({"done": said, **({"masked": "1"} if done.get("masked") else {})})
    return RedirectResponse(f"/t/{ticket_id}?{query}", 303)
