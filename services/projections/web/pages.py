"""The web: requester portal, agent console, supervisor dashboard, knowledge base, audit pages,
dev mailbox; one router module per area (`signin`, `portal`, `ticket_pages`, `console`,
`dashboard_page`, `kb_pages`, `audit_pages`, `devmail`), sharing `site.Web`.

Server-rendered (Jinja2, autoescaped) from the same read models as the query API and with the
same access rules (`access`). Changes are never written here: a form becomes the same command
any client sends to intake (or routing, for a reassignment), with the signed-in person's own
token, and the page waits until the projection shows the new version before redirecting, so
people see what they just did.

The session is the JWT in an HttpOnly, SameSite=Lax cookie; every form carries a CSRF token
derived from it (HMAC), checked on every POST.
"""

from __future__ import annotations

from urllib.parse import quote

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from services.projections.web import (
    audit_pages,
    audit_review_pages,
    console,
    dashboard_page,
    devmail,
    kb_pages,
    portal,
    profile_pages,
    signin,
    ticket_pages,
    workspace_pages,
)
from services.projections.web.site import HERE, LoginRequired, PageError, Web
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings


def build(app: FastAPI, pool: asyncpg.Pool, kb_pool: asyncpg.Pool, auth: Authenticator, settings: Settings) -> None:
    web = Web(pool, kb_pool, auth, settings, app.state.fresh)
    app.state.web = web
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return web.render(request, "error.html", exc.status, key=exc.key, detail=exc.detail)

    for area in (
        signin,
        portal,
        ticket_pages,
        console,
        workspace_pages,
        dashboard_page,
        kb_pages,
        audit_pages,
        audit_review_pages,
        profile_pages,
        devmail,
    ):
        app.include_router(area.router)
    app.include_router(kb_pages.api)
