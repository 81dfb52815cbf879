"""The supervisors' dashboard: volume, targets met, queues, deflections."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.projections import kb
from services.projections.figures import figures
from services.projections.web import charts
from services.projections.web.site import Site, lang_of
from services.projections.web.texts import text

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
async def dashboard(web: Site, request: Request) -> Response:
    web.need(request, "supervisor", "admin", "auditor")
    lang = lang_of(request)
    data = await figures(web.pool)
    svg = {
        "volume": charts.bars(data["volume"], title=text("volume_30", lang)),
        "frt": charts.bars(data["frt_met"], title=text("frt_30", lang), target=90, max_value=100, unit="%"),
        "res": charts.bars(data["res_met"], title=text("res_30", lang), target=90, max_value=100, unit="%"),
    }
    return web.render(request, "dashboard.html", d=data, svg=svg, deflections=await kb.deflections(web.kb_pool))
