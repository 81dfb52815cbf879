"""The team's tools as pages: macros (shared ones kept by supervisors and admins, each agent's
own) and, for admins, the custom fields tickets carry. Each form is the intake command it means,
given with the person's own token; intake decides who may."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.projections import store
from services.projections.web.site import Site, error_text
from shared.domain.events.catalogue import Category, Level

router = APIRouter(include_in_schema=False)
STAFF = ("agent", "supervisor", "admin")


def macro_body(form: dict[str, Any], may_share: bool) -> dict[str, Any]:
    """The macro form as `POST /macros` takes it (empty choices left out)."""
    f = {k: str(v).strip() for k, v in form.items()}
    actions: dict[str, Any] = {"internal": f.get("internal") == "on"}
    for key in ("status", "category", "impact", "urgency"):
        if f.get(key):
            actions[key] = f[key]
    if tags := f.get("add_tags", "").replace(",", " ").split():
        actions["add_tags"] = tags
    return {
        "id": f.get("id", ""),
        "name": f.get("name", ""),
        "shared": may_share and f.get("shared") == "on",
        "text_es": f.get("text_es", ""),
        "text_en": f.get("text_en", ""),
        "actions": actions,
    }


async def _macros_page(web: Site, request: Request, status: int = 200, **extra: Any) -> Response:
    who = web.need(request, *STAFF)
    macros = await store.macros_for(web.pool, who.sub)
    return web.render(
        request,
        "macros.html",
        status,
        macros=macros,
        may_share=who.role in ("supervisor", "admin"),
        levels=list(Level),
        categories=list(Category),
        **extra,
    )


@router.get("/macros/edit")
async def macros_page(web: Site, request: Request, done: str = "") -> Response:
    return await _macros_page(web, request, done=done == "1")


@router.post("/macros/edit")
async def save_macro(web: Site, request: Request) -> Response:
    who = web.need(request, *STAFF)
    form = await web.form(request)
    body = macro_body(form, who.role in ("supervisor", "admin"))
    r = await web.command(request, "/macros", body)
    if r.status_code >= 400:
        return await _macros_page(web, request, r.status_code, error=error_text(r), values=form)
    await web.caught_up_workspace(body["id"])
    return RedirectResponse("/macros/edit?done=1", 303)


@router.post("/macros/edit/{macro_id}/remove")
async def remove_macro(web: Site, request: Request, macro_id: str) -> Response:
    web.need(request, *STAFF)
    await web.form(request)
    r = await web.command(request, f"/macros/{macro_id[:40]}", {}, method="DELETE")
    if r.status_code >= 400:
        return await _macros_page(web, request, r.status_code, error=error_text(r))
    await web.caught_up_workspace(macro_id[:40], gone=True)
    return RedirectResponse("/macros/edit?done=1", 303)
