"""The agents' console: the tickets they may work on, found by words, order number or tag,
sorted by any column, counted and paged (services/projections/listing.py), and acted on in bulk
(one command, so one event, per ticket)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.projections import listing, store
from services.projections.api import _iso, summary
from services.projections.web.site import PageError, Site, error_text
from shared.domain.ticket import OPEN_STATUSES

_OPEN = tuple(s.value for s in OPEN_STATUSES)
router = APIRouter(include_in_schema=False)
COLUMNS = ("next_due", "id", "priority", "updated", "opened")  # the sortable columns
BULK = ("assign", "tag", "close", "merge")
PAGE = 50
TICKET_ID = re.compile(r"T-[0-9A-Z]{8}")  # what goes into a command's path, and nothing else


def _params(request: Request) -> dict[str, str]:
    keep = ("scope", "status", "priority", "category", "owner", "q", "tag", "sort")
    return {k: v for k in keep if (v := request.query_params.get(k, "").strip())}


def _query(who_sub: str, team: list[str], p: dict[str, str], cursor: str | None) -> listing.Query:
    scope = p.get("scope", "")
    filters: dict[str, str] = {k: p[k][:120] for k in ("priority", "category", "owner") if k in p}
    return listing.Query(
        filters=filters | ({"owner": who_sub} if scope == "mine" else {}),
        status=(p["status"],) if p.get("status") else _OPEN,
        tags=tuple(t for t in p.get("tag", "").lower().replace(",", " ").split() if t)[:5],
        words=p.get("q", "")[:200],
        unassigned=scope == "unassigned",
        owners=tuple(team) if scope == "team" else None,
        sort=p.get("sort", "next_due"),
        limit=PAGE,
        cursor=cursor,
    )


@router.get("/console")
async def console(web: Site, request: Request, cursor: str | None = None) -> Response:
    return await _page(web, request, cursor)


async def _page(web: Site, request: Request, cursor: str | None, **extra: Any) -> Response:
    who = web.need(request, "agent", "supervisor", "admin", "auditor", "service")
    team = await store.teammates(web.pool, who.sub) if who.role == "agent" else []
    p = _params(request)
    p.setdefault("scope", "mine" if who.role == "agent" else "all")
    try:
        total, rows, next_cursor = await store.listing(web.pool, who, team, _query(who.sub, team, p, cursor))
    except listing.BadQuery as exc:
        raise PageError(422, "invalid_request", str(exc)) from None
    items = []
    for r in rows:
        item = summary(r) | {"next_due": _iso(r["next_due"])}
        item["risk"] = "breached" if r["breached"] else ("at_risk" if r["warned"] else "on_track")
        items.append(item)

    def url(**changes: str | None) -> str:
        merged = {k: v for k, v in (p | changes).items() if v}
        return "/console?" + urlencode(merged)

    sort = p.get("sort", "next_due")
    sorts = {c: url(sort=(f"-{c}" if sort == c else c)) for c in COLUMNS}
    agents = await store.agents_with_load(web.pool) if who.role in ("supervisor", "admin") else []
    return web.render(
        request,
        "console.html",
        items=items,
        filters=p,
        total=total,
        count_cap=listing.COUNT_UP_TO,
        sort=sort,
        sorts=sorts,
        next_url=url(cursor=next_cursor) if next_cursor else "",
        first_url=url() if cursor else "",
        bulk_agents=agents,
        **extra,
    )


@router.post("/console/bulk")
async def bulk(web: Site, request: Request) -> Response:
    """One command per chosen ticket, each with the person's own token (each refused or done on
    its own, and said so)."""
    who = web.need(request, "agent", "supervisor", "admin")
    form = await web.form(request, max_fields=PAGE + 10)
    action = str(form.get("action", ""))
    chosen = [t for t in dict.fromkeys(await web.form_list(request, "ticket")) if TICKET_ID.fullmatch(t)][:PAGE]
    if action not in BULK or not chosen:
        raise PageError(422, "invalid_request", "elige tickets y una acción / choose tickets and an action")
    if action == "assign" and who.role not in ("supervisor", "admin"):
        raise PageError(403, "forbidden")
    value = str(form.get("value", "")).strip()[:300]
    reason = str(form.get("reason", "")).strip()[:300] or "bulk"
    done: list[str] = []
    refused: list[tuple[str, str]] = []
    for ticket_id in chosen:
        match action:
            case "assign":
                r = await web.command(
                    request, f"/tickets/{ticket_id}/assign", {"agent_id": value, "reason": reason}, service="routing"
                )
            case "tag":
                r = await web.command(request, f"/tickets/{ticket_id}/tags", {"add": value.replace(",", " ").split()})
            case "close":
                r = await web.command(request, f"/tickets/{ticket_id}/close", {"reason": reason})
            case _:
                r = await web.command(request, f"/tickets/{ticket_id}/merge", {"into": value.upper(), "reason": reason})
        if r.status_code < 400:
            done.append(ticket_id)
        else:
            refused.append((ticket_id, error_text(r)))
    return await _page(web, request, None, bulk_done=done, bulk_refused=refused, bulk_action=action)
