"""For auditors: the process report (HTML, JSON, CSV) and the periodic sample, whose every
ticket is a read in the access log."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from services.projections import report
from services.projections.api import record_reads
from services.projections.web.report_view import report_charts
from services.projections.web.site import PageError, Site, lang_of
from services.projections.web.timeline import describe
from shared.platform.topics import AUDIT_ACCESS

router = APIRouter(include_in_schema=False)


def period(request: Request) -> tuple[datetime, datetime]:
    try:
        q = request.query_params
        return report.period(q.get("from") or None, q.get("to") or None, datetime.now(UTC))
    except ValueError:
        raise PageError(422, "not_found", "from/to: YYYY-MM-DD") from None


@router.get("/audit/report")
async def audit_report(web: Site, request: Request, format: str = "html") -> Response:
    web.need(request, "auditor", "supervisor", "admin")
    start, end = period(request)
    data = await report.load(web.pool, web.kb_pool, start, end, datetime.now(UTC))
    if format == "json":
        return JSONResponse(data)
    if format == "csv":
        return Response(
            report.to_csv(data),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="mesa-report.csv"'},
        )
    return web.render(request, "audit_report.html", r=data, charts=report_charts(data, lang_of(request)))


@router.get("/audit/sample")
async def audit_sample(web: Site, request: Request, size: int = 10, seed: int = 1) -> Response:
    start, end = period(request)
    who = web.need(request, "auditor", "supervisor", "admin")
    items = await report.sample(web.pool, start, end, min(max(size, 1), 200), seed)
    await record_reads(web.pool, who, [str(i["id"]) for i in items], "page", web.settings.topic(AUDIT_ACCESS))
    lang, names = lang_of(request), await web.names()
    for item in items:  # each step in the reader's words, never its type name
        for e in item["timeline"]:
            e["headline"] = describe(e, lang, names)[0]
    return web.render(request, "audit_sample.html", items=items, start=start.date(), end=end.date(), seed=seed)
