"""Clause 12 as pages: the periodic audits (each period's figures and sample), what they found,
and the improvement actions with their owner, due date, status, notes and effect on the figures.
Each form is the intake command it means, given with the person's own token (opening a review
is the projections' own: its figures come from the read model)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.projections import audits
from services.projections.web.site import PageError, Site, error_text

router = APIRouter(include_in_schema=False)
AUDITORS = ("supervisor", "auditor", "admin")
STAFF = ("agent", *AUDITORS)


def ticket_ids(raw: str) -> list[str]:
    """The tickets a form names ("T-1234ABCD, T-…"), each once; anything else is left to intake."""
    words = raw.replace(",", " ").split()
    return list(dict.fromkeys(w.upper() for w in words))[:50]


async def _overview(web: Site, request: Request, status: int = 200, **extra: Any) -> Response:
    who = web.need(request, *STAFF)
    now = datetime.now(UTC)
    mine_only = who.role == "agent"  # an agent follows the actions given to them
    acts = await audits.actions(web.pool, owner=who.sub if mine_only else None)
    effects = {a["id"]: await audits.effect(web.pool, web.kb_pool, a, now) for a in acts if a["status"] == "done"}
    return web.render(
        request,
        "audits.html",
        status,
        reviews=[] if mine_only else await audits.reviews(web.pool),
        actions=acts,
        effects=effects,
        today=now.date(),
        names=await web.names(),
        may_open=who.role in AUDITORS,
        **extra,
    )


@router.get("/audits")
async def audits_page(web: Site, request: Request, done: str = "") -> Response:
    return await _overview(web, request, done=done == "update")


@router.post("/audits/open")
async def open_review(web: Site, request: Request) -> Response:
    """A review opened now, by hand, for the period the form names."""
    who = web.need(request, *AUDITORS)
    form = await web.form(request)
    try:
        first, last = date.fromisoformat(str(form.get("from", ""))), date.fromisoformat(str(form.get("to", "")))
    except ValueError:
        return await _overview(web, request, 422, error_key="audit_period_invalid")
    if last < first or (last - first).days > 366:
        return await _overview(web, request, 422, error_key="audit_period_invalid")
    period = audits.period_of(first, last)
    r = await audits.open_review(
        web.pool,
        web.kb_pool,
        web.settings,
        web.auth,
        period,
        now=datetime.now(UTC),
        scheduled=False,
        by=f"{who.role}:{who.sub}",
    )
    if r.status_code not in (201, 409):  # 409: it is open already, so show it
        return await _overview(web, request, r.status_code, error=error_text(r))
    await audits.caught_up(web.pool, "SELECT true FROM reviews WHERE id = $1", period.review_id)
    return RedirectResponse(f"/audits/{period.review_id}", 303)


async def _review_page(web: Site, request: Request, review_id: str, status: int = 200, **extra: Any) -> Response:
    web.need(request, *AUDITORS)
    review = await audits.review(web.pool, review_id[:30])
    if review is None:
        raise PageError(404, "not_found")
    found = await audits.findings(web.pool, review["id"])
    acts = await audits.actions(web.pool, finding_ids=[f["id"] for f in found])
    earlier = [r for r in await audits.reviews(web.pool) if r["period_to"] < review["period_from"]]
    # the sample is listed by number only: opening a ticket is the read the access log records
    return web.render(
        request,
        "audit_review.html",
        status,
        r=review,
        previous=earlier[0] if earlier else None,
        findings=found,
        actions=acts,
        names=await web.names(),
        today=datetime.now(UTC).date(),
        **extra,
    )


@router.get("/audits/{review_id}")
async def review_page(web: Site, request: Request, review_id: str, done: str = "") -> Response:
    return await _review_page(web, request, review_id, done=done in ("finding", "action", "update"))


@router.post("/audits/{review_id}/findings")
async def record_finding(web: Site, request: Request, review_id: str) -> Response:
    web.need(request, *AUDITORS)
    form = await web.form(request)
    body = {
        "review_id": review_id[:30],
        "text": str(form.get("text", "")),
        "tickets": ticket_ids(str(form.get("tickets", ""))),
    }
    r = await web.command(request, "/findings", body)
    if r.status_code >= 400:
        return await _review_page(web, request, review_id, r.status_code, error=error_text(r), values=form)
    await audits.caught_up(web.pool, "SELECT true FROM findings WHERE id = $1", r.json()["id"])
    return RedirectResponse(f"/audits/{review_id[:30]}?done=finding#findings", 303)


@router.post("/audits/{review_id}/actions")
async def plan_action(web: Site, request: Request, review_id: str) -> Response:
    who = web.need(request, *AUDITORS)
    form = await web.form(request)
    body = {
        "finding_id": str(form.get("finding_id", "")) or None,
        "what": str(form.get("what", "")),
        "owner": str(form.get("owner", "")) or who.sub,
        "due": str(form.get("due", "")),
        "tickets": ticket_ids(str(form.get("tickets", ""))),
    }
    r = await web.command(request, "/actions", body)
    if r.status_code >= 400:
        return await _review_page(web, request, review_id, r.status_code, error=error_text(r), values=form)
    await audits.caught_up(web.pool, "SELECT true FROM actions WHERE id = $1", r.json()["id"])
    return RedirectResponse(f"/audits/{review_id[:30]}?done=action#actions", 303)


@router.post("/audits/actions/{action_id}")
async def update_action(web: Site, request: Request, action_id: str) -> Response:
    """An action moved on, from the review's page or the overview (`back`)."""
    web.need(request, *STAFF)
    form = await web.form(request)
    action_id = action_id[:20]
    body = {"status": str(form.get("status", "")), "note": str(form.get("note", ""))}
    r = await web.command(request, f"/actions/{action_id}/status", body)
    back = str(form.get("back", ""))
    back = back if back.startswith("/audits") and "//" not in back and "\\" not in back else "/audits"
    if r.status_code >= 400:
        if back != "/audits":
            return await _review_page(web, request, back.removeprefix("/audits/"), r.status_code, error=error_text(r))
        return await _overview(web, request, r.status_code, error=error_text(r))
    await audits.caught_up(
        web.pool,
        "SELECT true FROM action_notes WHERE action_id = $1 AND status = $2 AND note = $3",
        action_id,
        body["status"],
        body["note"].strip(),
    )
    return RedirectResponse(f"{back}?done=update#{action_id}", 303)
