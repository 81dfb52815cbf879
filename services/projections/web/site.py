"""What every page shares: the signed-in person, the words in their language, CSRF, rendering,
and talking to intake and routing with the person's own token. Routers take the site as a
dependency (`web: Site`); `services.projections.web.pages.build` puts it on the app."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import httpx
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from services.projections import store
from services.projections.freshness import Freshness, TooManyWaiting
from services.projections.web import when
from services.projections.web.texts import CATEGORY, LEVEL, STAFF_STATUS, STATUS, label, owner_of, text
from shared.domain.events.catalogue import Category
from shared.domain.i18n import pick_language
from shared.domain.principal import AuthError, Principal
from shared.platform.auth import SESSION_COOKIE, Authenticator
from shared.platform.keyring import master_key
from shared.platform.settings import Settings

HERE = Path(__file__).parent
LANG_COOKIE = "mesa_lang"
MAX_FILES = 5  # a form brings at most this many files (intake checks each)
HOME = {
    "requester": "/portal",
    "agent": "/console",
    "supervisor": "/dashboard",
    "admin": "/dashboard",
    "auditor": "/dashboard",
    "service": "/console",
}


class PageError(Exception):
    def __init__(self, status: int, key: str, detail: str = "") -> None:
        super().__init__(key)
        self.status, self.key, self.detail = status, key, detail


class LoginRequired(Exception):
    pass


def lang_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in ("es", "en"):
        return asked
    return pick_language(request.headers.get("accept-language"))


class Web:
    def __init__(
        self, pool: asyncpg.Pool, kb_pool: asyncpg.Pool, auth: Authenticator, settings: Settings, fresh: Freshness
    ) -> None:
        self.pool, self.kb_pool, self.auth, self.settings, self.fresh = pool, kb_pool, auth, settings, fresh
        self._voter_key = hashlib.sha256(b"kb-voter|" + master_key(settings)).digest()
        self.templates = Jinja2Templates(directory=HERE / "templates")
        env = self.templates.env
        env.globals.update(
            STATUS=STATUS, CATEGORY=CATEGORY, LEVEL=LEVEL, label=label, owner_of=owner_of, categories=list(Category)
        )
        # times in the viewer's zone and words; `ago`: how far from now
        env.filters["when"] = pass_context(lambda ctx, v: when.human(v, ctx.get("lang", "es"), ctx.get("tz", "UTC")))
        env.filters["ago"] = pass_context(lambda ctx, v: when.relative(v, ctx.get("lang", "es")))
        self.mail_dir = Path(settings.mail_dir) if settings.mail_dir else None

    # -- session --------------------------------------------------------------------------

    def voter(self, who: Principal) -> str:
        """Who voted or was helped, as the knowledge base keeps it: one person one vote, but not
        who (a keyed hash), so a requester's erasure leaves nothing of them there."""
        digest = hmac.new(self._voter_key, f"{who.role}:{who.sub}".encode(), hashlib.sha256).hexdigest()
        return f"h:{digest[:32]}"

    def session(self, request: Request) -> Principal | None:
        token = request.cookies.get(SESSION_COOKIE)
        if not token:
            return None
        try:
            return self.auth.verify(token)
        except AuthError:
            return None

    def need(self, request: Request, *roles: str) -> Principal:
        who = self.session(request)
        if who is None:
            raise LoginRequired
        if roles and who.role not in roles:
            raise PageError(403, "forbidden")
        return who

    def csrf(self, request: Request) -> str:
        return self.auth.csrf_token(request.cookies.get(SESSION_COOKIE, ""))

    async def form(self, request: Request, max_fields: int = 50) -> dict[str, Any]:
        form = await request.form(max_files=MAX_FILES, max_fields=max_fields)
        sent = str(form.get("csrf", "")) or request.headers.get("x-csrf-token", "")
        if not request.cookies.get(SESSION_COOKIE) or not hmac.compare_digest(sent, self.csrf(request)):
            raise PageError(403, "forbidden", "CSRF")
        if not self.auth.same_origin(request):  # the token and the page it came from
            raise PageError(403, "forbidden", "Origin")
        return {k: v for k, v in form.multi_items() if isinstance(v, str)}

    async def form_list(self, request: Request, name: str) -> list[str]:
        """Every value of a repeated field (checkboxes), after `form`, which checked the form."""
        form = await request.form()  # (parsed once, by `form`)
        return [v for v in form.getlist(name) if isinstance(v, str)]

    async def form_files(self, request: Request) -> list[tuple[str, tuple[str, bytes, str]]]:
        """The files a form brought (after `form`, which checked it), as they go on to intake."""
        form = await request.form(max_files=MAX_FILES, max_fields=50)  # (parsed once, by `form`)
        return [
            ("screenshots", (f.filename or "archivo", await f.read(), f.content_type or "application/octet-stream"))
            for f in form.getlist("screenshots")
            if not isinstance(f, str) and f.filename
        ]

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        who = self.session(request)
        ctx |= {
            "request": request,
            "lang": lang,
            # the profile's zone, else the browser's, else the business calendar's
            "tz": when.zone(
                request.cookies.get(when.PROFILE_ZONE_COOKIE) or request.cookies.get(when.ZONE_COOKIE),
                self.settings.display_timezone,
            ),
            # customers read statuses in their words ("esperando tu respuesta"), staff in theirs
            "STATUS": STAFF_STATUS if who and (who.is_staff or who.reads_all) else STATUS,
            "_": lambda key, **params: text(key, lang, **params),
            "who": who,
            "csrf": self.csrf(request) if who else "",
            "home": HOME.get(who.role, "/") if who else "/login",
            "dev": self.settings.dev_login,
        }
        response = self.templates.TemplateResponse(request, name, ctx, status_code=status)
        if request.query_params.get("lang") in ("es", "en"):
            response.set_cookie(LANG_COOKIE, request.query_params["lang"], samesite="lax", max_age=365 * 86400)
        return response

    # -- talking to intake and routing with the person's own token -------------------------

    async def command(
        self,
        request: Request,
        path: str,
        body: dict[str, Any],
        service: str = "intake",
        files: list[tuple[str, tuple[str, bytes, str]]] | None = None,
        headers: dict[str, str] | None = None,
        method: str = "POST",
    ) -> httpx.Response:
        """The command as the person gives it, with their own token: JSON, or multipart when
        files go with it (intake checks them as it checks any upload)."""
        base = self.settings.intake_url if service == "intake" else self.settings.routing_url
        token = request.cookies.get(SESSION_COOKIE, "")
        headers = {"Authorization": f"Bearer {token}", "Accept-Language": lang_of(request), **(headers or {})}
        async with httpx.AsyncClient(timeout=30 if files else 15) as http:
            if files:
                fields = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in body.items()}
                return await http.post(f"{base}{path}", data=fields, files=files, headers=headers)
            if method != "POST":
                return await http.request(method, f"{base}{path}", headers=headers)
            return await http.post(f"{base}{path}", json=body, headers=headers)

    async def caught_up(self, ticket_id: str, version: int, timeout: float = 5.0) -> None:
        """Wait (bounded) until the read model shows what the person just did (when too many
        already wait, the page shows what the view has: it says when it was last updated)."""
        with contextlib.suppress(TooManyWaiting):
            await self.fresh.reached(ticket_id, version, timeout)

    async def caught_up_workspace(self, macro_id: str, *, gone: bool = False, timeout: float = 5.0) -> None:
        """Wait (bounded) until the macro list shows what the person just saved or removed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await store.macro_known(self.pool, macro_id) != gone:
                return
            await asyncio.sleep(0.05)

    async def names(self) -> dict[str, str]:
        return await store.agent_names(self.pool)


def site(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


Site = Annotated[Web, Depends(site)]


def error_text(r: httpx.Response) -> str:
    try:
        message = r.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or r.text[:300])


def sla_view(t: dict[str, Any], now_iso: str) -> dict[str, str]:
    """How each target stands, in one word, for lists and the ticket header."""
    sla = t["sla"]
    breached = set(sla["breached"])

    def state(target: str, due: str | None, done: str | None) -> str:
        if target in breached:
            return "breached"
        if done:
            return "met"
        if due is None:
            return ""
        if sla["state"] == "paused" and target == "resolution":
            return "paused"
        return "on_track"

    return {
        "first_response": state("first_response", sla["first_response_due"], sla["first_response_at"]),
        "resolution": state(
            "resolution", sla["resolution_due"], t["updated_at"] if t["status"] in ("resolved", "closed") else None
        ),
    }
