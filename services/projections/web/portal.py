"""The requester's portal: their tickets, and a new one (with screenshots)."""

from __future__ import annotations

import hmac

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.projections import store
from services.projections.api import _iso, summary
from services.projections.web.site import HOME, PageError, Site, error_text, lang_of, sla_view
from shared.platform.auth import SESSION_COOKIE

router = APIRouter(include_in_schema=False)


@router.get("/portal")
async def portal(web: Site, request: Request) -> Response:
    who = web.need(request)
    if who.role != "requester":
        return RedirectResponse(HOME[who.role], 303)
    rows = await store.requesters_tickets(web.pool, who)
    tickets = [summary(r, staff=False) for r in rows]
    now = _iso(None)
    for t in tickets:
        t["sla_view"] = sla_view(t, now)
    return web.render(request, "portal.html", tickets=tickets)


@router.get("/portal/new")
async def new_ticket_page(web: Site, request: Request) -> Response:
    web.need(request, "requester")
    return web.render(request, "new_ticket.html", values={}, error=None)


@router.post("/portal/new")
async def new_ticket(web: Site, request: Request) -> Response:
    who = web.need(request, "requester")
    form = await request.form(max_files=5, max_fields=30)
    sent = str(form.get("csrf", ""))
    if not hmac.compare_digest(sent, web.csrf(request)):
        raise PageError(403, "forbidden", "CSRF")
    fields = {
        k: str(form.get(k, "")).strip() for k in ("subject", "description", "category", "impact", "urgency", "order_id")
    }
    data = {k: v for k, v in fields.items() if v}
    data["language"] = lang_of(request)
    files = [
        ("screenshots", (f.filename or "archivo", await f.read(), f.content_type or "application/octet-stream"))
        for f in form.getlist("screenshots")
        if not isinstance(f, str) and f.filename
    ]
    token = request.cookies.get(SESSION_COOKIE, "")
    async with httpx.AsyncClient(timeout=30) as http:
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang_of(request)}
        url = f"{web.settings.intake_url}/tickets"
        # intake reads multipart when there are files, JSON otherwise
        if files:
            r = await http.post(url, data=data, files=files, headers=headers)
        else:
            r = await http.post(url, json=data, headers=headers)
    if r.status_code not in (200, 201):
        return web.render(request, "new_ticket.html", r.status_code, values=fields, error=error_text(r))
    created = r.json()
    await web.caught_up(created["id"], created["version"])
    del who
    # the page says it was received and what comes next (the promised times arrive on it, live)
    return RedirectResponse(f"/t/{created['id']}?done=opened" + ("&masked=1" if created.get("masked") else ""), 303)
