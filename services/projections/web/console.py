"""The agents' console: the open tickets they may work on, the one due first at the top."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.projections import store
from services.projections.api import _iso, summary
from services.projections.web.site import Site
from shared.domain.ticket import OPEN_STATUSES

_OPEN = [s.value for s in OPEN_STATUSES]
router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console(
    web: Site,
    request: Request,
    scope: str = "",
    status: str = "",
    priority: str = "",
    category: str = "",
) -> Response:
    who = web.need(request, "agent", "supervisor", "admin", "auditor", "service")
    team = await store.teammates(web.pool, who.sub) if who.role == "agent" else []
    scope = scope or ("mine" if who.role == "agent" else "all")
    filters = {"status": status, "priority": priority, "category": category}
    rows = await store.console(web.pool, who, team, scope, filters)
    items = []
    for r in rows:
        item = summary(r) | {"next_due": _iso(r["next_due"])}
        item["risk"] = "breached" if r["breached"] else ("at_risk" if r["warned"] else "on_track")
        items.append(item)
    filters |= {"scope": scope}
    return web.render(request, "console.html", items=items, filters=filters)
