"""The web: requester portal, agent console, supervisor dashboard, knowledge base, dev mailbox.

Server-rendered (Jinja2, autoescaped) from the same read models as the query API and with the
same access rules (`access`). Changes are never written here: a form becomes the same command
any client sends to intake (or routing, for a reassignment), with the signed-in person's own
token, and the page waits until the projection shows the new version before redirecting, so
people see what they just did.

The session is the JWT in an HttpOnly, SameSite=Lax cookie; every form carries a CSRF token
derived from it (HMAC), checked on every POST.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import asyncpg
import httpx
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from services.projections import kb, report
from services.projections.access import may_read
from services.projections.api import (
    TICKET_WITH_OWNER,
    _iso,
    read_ticket,
    record_reads,
    summary,
    teammates,
    visibility,
)
from services.projections.web import charts
from services.projections.web.report_view import report_charts
from services.projections.web.texts import CATEGORY, LEVEL, STATUS, label, text
from services.projections.web.timeline import describe
from shared.domain.events.catalogue import Category, Level
from shared.domain.i18n import pick_language
from shared.domain.masking import mask
from shared.domain.ticket import OPEN_STATUSES
from shared.platform.auth import SESSION_COOKIE, Authenticator, AuthError, Principal, dev_sign_ins, requires
from shared.platform.keyring import master_key
from shared.platform.settings import Settings
from shared.platform.topics import AUDIT_ACCESS

HERE = Path(__file__).parent
_OPEN = [s.value for s in OPEN_STATUSES]
LANG_COOKIE = "mesa_lang"
KB_WRITERS = ("agent", "supervisor", "admin", "service")
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
    def __init__(self, pool: asyncpg.Pool, kb_pool: asyncpg.Pool, auth: Authenticator, settings: Settings) -> None:
        self.pool, self.kb_pool, self.auth, self.settings = pool, kb_pool, auth, settings
        self._voter_key = hashlib.sha256(b"kb-voter|" + master_key(settings)).digest()
        self.templates = Jinja2Templates(directory=HERE / "templates")
        env = self.templates.env
        env.globals.update(STATUS=STATUS, CATEGORY=CATEGORY, LEVEL=LEVEL, label=label, categories=list(Category))
        env.filters["when"] = lambda v: (v[:16].replace("T", " ") + " UTC") if v else ""
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

    async def form(self, request: Request) -> dict[str, Any]:
        form = await request.form()
        sent = str(form.get("csrf", "")) or request.headers.get("x-csrf-token", "")
        if not request.cookies.get(SESSION_COOKIE) or not hmac.compare_digest(sent, self.csrf(request)):
            raise PageError(403, "forbidden", "CSRF")
        if not self.auth.same_origin(request):  # the token and the page it came from
            raise PageError(403, "forbidden", "Origin")
        return {k: v for k, v in form.multi_items()}

    def render(self, request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        who = self.session(request)
        ctx |= {
            "request": request,
            "lang": lang,
            "_": lambda key: text(key, lang),
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
        self, request: Request, path: str, body: dict[str, Any], service: str = "intake"
    ) -> httpx.Response:
        base = self.settings.intake_url if service == "intake" else self.settings.routing_url
        token = request.cookies.get(SESSION_COOKIE, "")
        async with httpx.AsyncClient(timeout=15) as http:
            return await http.post(
                f"{base}{path}",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Accept-Language": lang_of(request)},
            )

    async def caught_up(self, ticket_id: str, version: int, timeout: float = 5.0) -> None:
        """Wait (bounded) until the read model shows what the person just did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = await self.pool.fetchval("SELECT version FROM tickets WHERE id = $1", ticket_id)
            if seen is not None and seen >= version:
                return
            await asyncio.sleep(0.05)

    async def names(self) -> dict[str, str]:
        return {r["id"]: r["name"] for r in await self.pool.fetch("SELECT id, name FROM agents")}


DEV_MAIL_READERS = ("agent", "supervisor", "admin")


def _error_text(r: httpx.Response) -> str:
    try:
        message = r.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or r.text[:300])


def _sla_view(t: dict[str, Any], now_iso: str) -> dict[str, str]:
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


def build(app: FastAPI, pool: asyncpg.Pool, kb_pool: asyncpg.Pool, auth: Authenticator, settings: Settings) -> None:
    web = Web(pool, kb_pool, auth, settings)
    router = APIRouter(include_in_schema=False)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        return web.render(request, "error.html", exc.status, key=exc.key, detail=exc.detail)

    # -- sign-in --------------------------------------------------------------------------

    @router.get("/")
    async def root(request: Request) -> Response:
        who = web.session(request)
        return RedirectResponse(HOME.get(who.role, "/login") if who else "/login", 303)

    @router.get("/login")
    async def login_page(request: Request, next: str = "") -> Response:
        users: list[dict[str, str]] = []
        if settings.dev_login:
            users = dev_sign_ins(settings.dev_login_people)
        return web.render(request, "login.html", users=users, next=next)

    def signed_in(token: str, who: Principal, next_path: str) -> Response:
        target = next_path if next_path.startswith("/") and not next_path.startswith("//") else HOME[who.role]
        response = RedirectResponse(target, 303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=settings.public_url.startswith("https://"),
            max_age=8 * 3600,
        )
        return response

    @router.post("/login")
    async def login(request: Request) -> Response:
        if not auth.same_origin(request):  # another site must not sign a browser in (login CSRF)
            raise PageError(403, "forbidden", "Origin")
        form = await request.form()
        token = str(form.get("token", "")).strip()
        next_path = str(form.get("next", ""))
        if settings.dev_login and form.get("role") and form.get("sub"):
            known = {(u["role"], u["sub"]): u["name"] for u in dev_sign_ins(settings.dev_login_people)}
            key = (str(form["role"]), str(form["sub"]))
            if key in known:
                token = auth.issue(key[0], key[1], name=known[key])  # type: ignore[arg-type]
        try:
            who = auth.verify(token)
        except AuthError:
            return web.render(
                request, "login.html", 401, users=[], next=next_path, error=text("bad_token", lang_of(request))
            )
        return signed_in(token, who, next_path)

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        await web.form(request)
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # -- requester portal -------------------------------------------------------------------

    @router.get("/portal")
    async def portal(request: Request) -> Response:
        who = web.need(request)
        seen, args = visibility(who, [], 1)
        if who.role != "requester":
            return RedirectResponse(HOME[who.role], 303)
        rows = await pool.fetch(f"{TICKET_WITH_OWNER} WHERE {seen} ORDER BY t.updated_at DESC LIMIT 200", *args)
        tickets = [summary(r) for r in rows]
        now = _iso(None)
        for t in tickets:
            t["sla_view"] = _sla_view(t, now)
        return web.render(request, "portal.html", tickets=tickets)

    @router.get("/portal/new")
    async def new_ticket_page(request: Request) -> Response:
        web.need(request, "requester")
        return web.render(request, "new_ticket.html", values={}, error=None)

    @router.post("/portal/new")
    async def new_ticket(request: Request) -> Response:
        who = web.need(request, "requester")
        form = await request.form(max_files=5, max_fields=30)
        sent = str(form.get("csrf", ""))
        if not hmac.compare_digest(sent, web.csrf(request)):
            raise PageError(403, "forbidden", "CSRF")
        fields = {
            k: str(form.get(k, "")).strip()
            for k in ("subject", "description", "category", "impact", "urgency", "order_id")
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
            url = f"{settings.intake_url}/tickets"
            # intake reads multipart when there are files, JSON otherwise
            if files:
                r = await http.post(url, data=data, files=files, headers=headers)
            else:
                r = await http.post(url, json=data, headers=headers)
        if r.status_code not in (200, 201):
            return web.render(request, "new_ticket.html", r.status_code, values=fields, error=_error_text(r))
        created = r.json()
        await web.caught_up(created["id"], created["version"])
        del who
        return RedirectResponse(f"/t/{created['id']}" + ("?masked=1" if created.get("masked") else ""), 303)

    # -- one ticket, for everyone who may read it ---------------------------------------------

    async def load(request: Request, ticket_id: str, *, audited: bool = False) -> tuple[Principal, dict[str, Any]]:
        """The ticket as the person may see it; `audited`: a page view, recorded for staff."""
        who = web.need(request)
        topic = settings.topic(AUDIT_ACCESS) if audited else None
        t = await read_ticket(pool, who, ticket_id, via="page", access_topic=topic)
        if t is None:
            raise PageError(404, "not_found")
        return who, t

    async def ticket_context(who: Principal, t: dict[str, Any], request: Request) -> dict[str, Any]:
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
                }
            )
        agents = (
            [dict(r) for r in await pool.fetch("SELECT id, name FROM agents WHERE NOT removed ORDER BY name")]
            if who.role in ("supervisor", "admin")
            else []
        )
        return {
            "t": t,
            "entries": entries,
            "sla_view": _sla_view(t, ""),
            "owner_name": names.get(t["owner"] or "", t["owner"]),
            "agents": agents,
            "staff": who.is_staff,
            "levels": list(Level),
        }

    @router.get("/t/{ticket_id}")
    async def ticket_page(request: Request, ticket_id: str, masked: str = "") -> Response:
        # no text from the query string is ever shown as the page's own (an `?error=` link would
        # put anyone's words in Mesa's red alert): a refused action is shown where it is refused
        who, t = await load(request, ticket_id, audited=True)
        context = await ticket_context(who, t, request)
        return web.render(request, "ticket.html", error="", masked=bool(masked), **context)

    @router.get("/t/{ticket_id}/timeline")
    async def ticket_fragment(request: Request, ticket_id: str) -> Response:
        who, t = await load(request, ticket_id)
        return web.render(request, "_live.html", **await ticket_context(who, t, request))

    @router.get("/t/{ticket_id}/live")
    async def ticket_version(request: Request, ticket_id: str) -> Response:
        who = web.need(request)
        row = await pool.fetchrow("SELECT requester, owner, version FROM tickets WHERE id = $1", ticket_id)
        team = await teammates(pool, who.sub) if who.role == "agent" else []
        if row is None or not may_read(who, row["requester"], row["owner"], team):
            return JSONResponse({"error": "not_found"}, 404)
        return JSONResponse({"version": row["version"]}, headers={"Cache-Control": "no-store"})

    @router.get("/t/{ticket_id}/files/{sha256}")
    async def ticket_file(request: Request, ticket_id: str, sha256: str) -> Response:
        web.need(request)
        token = request.cookies.get(SESSION_COOKIE, "")
        async with httpx.AsyncClient(timeout=15) as http:
            r = await http.get(
                f"{settings.intake_url}/tickets/{ticket_id}/attachments/{sha256}",
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

    @router.post("/t/{ticket_id}/do/{command}")
    async def act(request: Request, ticket_id: str, command: str) -> Response:
        who, _ = await load(request, ticket_id)
        form = await web.form(request)
        body = command_body(command, form)
        if command == "assign":
            if who.role not in ("supervisor", "admin"):
                raise PageError(403, "forbidden")
            r = await web.command(request, f"/tickets/{ticket_id}/assign", body, service="routing")
        else:
            r = await web.command(request, f"/tickets/{ticket_id}/{command}", body)
        if r.status_code >= 400:  # the page again, with why (as a form with errors is shown again)
            who, t = await load(request, ticket_id)
            context = await ticket_context(who, t, request)
            return web.render(request, "ticket.html", r.status_code, error=_error_text(r), masked=False, **context)
        done = r.json()
        if isinstance(done.get("version"), int):
            await web.caught_up(ticket_id, done["version"])
        # a reassignment is routing's event: it reaches the view a moment later, and the page polls
        return RedirectResponse(f"/t/{ticket_id}" + ("?masked=1" if done.get("masked") else ""), 303)

    # -- agent console ----------------------------------------------------------------------

    @router.get("/console")
    async def console(
        request: Request,
        scope: str = "",
        status: str = "",
        priority: str = "",
        category: str = "",
    ) -> Response:
        who = web.need(request, "agent", "supervisor", "admin", "auditor", "service")
        team = await teammates(pool, who.sub) if who.role == "agent" else []
        scope = scope or ("mine" if who.role == "agent" else "all")
        seen, args = visibility(who, team, 1)
        where = [seen, f"t.status = ANY(${len(args) + 1}::text[])"]
        args.append(_OPEN)
        if scope == "mine":
            args.append(who.sub)
            where.append(f"t.owner = ${len(args)}")
        elif scope == "team":
            args.append(team)
            where.append(f"t.owner = ANY(${len(args)}::text[])")
        elif scope == "unassigned":
            where.append("t.owner IS NULL")
        for column, value in (("status", status), ("priority", priority), ("category", category)):
            if value:
                args.append(value)
                where.append(f"t.{column} = ${len(args)}")
        rows = await pool.fetch(
            "SELECT t.*, a.name AS owner_name,"
            " CASE WHEN t.first_response_at IS NULL THEN least(t.first_response_due, t.resolution_due)"
            " ELSE t.resolution_due END AS next_due,"
            " EXISTS (SELECT 1 FROM timeline w WHERE w.ticket_id = t.id AND w.type = 'ticket.sla_warning') AS warned"
            f" FROM tickets t LEFT JOIN agents a ON a.id = t.owner WHERE {' AND '.join(where)}"
            " ORDER BY next_due NULLS LAST, t.opened_at LIMIT 300",
            *args,
        )
        items = []
        for r in rows:
            item = summary(r) | {"next_due": _iso(r["next_due"])}
            item["risk"] = "breached" if r["breached"] else ("at_risk" if r["warned"] else "on_track")
            items.append(item)
        filters = {"scope": scope, "status": status, "priority": priority, "category": category}
        return web.render(request, "console.html", items=items, filters=filters)

    # -- supervisor dashboard ---------------------------------------------------------------

    @router.get("/dashboard")
    async def dashboard(request: Request) -> Response:
        web.need(request, "supervisor", "admin", "auditor")
        from services.projections.web.dashboard import figures

        lang = lang_of(request)
        data = await figures(pool)
        svg = {
            "volume": charts.bars(data["volume"], title=text("volume_30", lang)),
            "frt": charts.bars(data["frt_met"], title=text("frt_30", lang), target=90, max_value=100, unit="%"),
            "res": charts.bars(data["res_met"], title=text("res_30", lang), target=90, max_value=100, unit="%"),
        }
        return web.render(request, "dashboard.html", d=data, svg=svg, deflections=await kb.deflections(kb_pool))

    # -- knowledge base -----------------------------------------------------------------------

    @router.get("/kb")
    async def kb_index(request: Request, q: str = "", category: str = "") -> Response:
        articles = await kb.search(kb_pool, q, category=category or None)
        return web.render(request, "kb_index.html", articles=articles, q=q, category=category)

    @router.get("/kb/a/{article_id}")
    async def kb_article(request: Request, article_id: int, voted: str = "") -> Response:
        article = await kb.get(kb_pool, article_id)
        if article is None:
            raise PageError(404, "not_found")
        return web.render(request, "kb_article.html", a=article, voted=voted)

    @router.post("/kb/a/{article_id}/vote")
    async def kb_vote(request: Request, article_id: int) -> Response:
        who = web.need(request)
        form = await web.form(request)
        if not await kb.vote(kb_pool, article_id, web.voter(who), form.get("helpful") == "yes"):
            raise PageError(404, "not_found")
        return RedirectResponse(f"/kb/a/{article_id}?voted=1", 303)

    @router.post("/kb/a/{article_id}/deflect")
    async def kb_deflect(request: Request, article_id: int) -> Response:
        who = web.need(request)
        form = await web.form(request)
        if not await kb.deflect(kb_pool, article_id, web.voter(who), mask(str(form.get("q", ""))).text):
            return JSONResponse({"error": "not_found"}, 404)
        return JSONResponse({"deflected": article_id, "message": text("glad", lang_of(request))})

    @router.get("/kb/suggest")
    async def kb_suggest(request: Request, q: str = "") -> Response:
        found = await kb.search(kb_pool, q, limit=5, any_word=True) if len(q.strip()) >= 3 else []
        return JSONResponse([{"id": a["id"], "title": a["title"], "excerpt": a["excerpt"]} for a in found])

    @router.get("/kb/new")
    async def kb_new_page(request: Request) -> Response:
        web.need(request, "agent", "supervisor", "admin")
        return web.render(request, "kb_new.html", values={}, error=None)

    @router.post("/kb/new")
    async def kb_new(request: Request) -> Response:
        who = web.need(request, "agent", "supervisor", "admin")
        form = await web.form(request)
        values = {k: str(form.get(k, "")) for k in ("title", "body", "category", "tags", "language")}
        try:
            article = kb.ArticleIn(
                title=values["title"],
                body=values["body"],
                category=values["category"],
                tags=[x.strip() for x in values["tags"].split(",") if x.strip()],
                language=values["language"] or "es",
            )
        except ValidationError as exc:
            error = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            return web.render(request, "kb_new.html", 422, values=values, error=error)
        article_id = await kb.create(kb_pool, article, who.sub)
        return RedirectResponse(f"/kb/a/{article_id}", 303)

    # -- auditors: the process report and the periodic sample ---------------------------------

    def period(request: Request) -> tuple[datetime, datetime]:
        try:
            q = request.query_params
            return report.period(q.get("from") or None, q.get("to") or None, datetime.now(UTC))
        except ValueError:
            raise PageError(422, "not_found", "from/to: YYYY-MM-DD") from None

    @router.get("/audit/report")
    async def audit_report(request: Request, format: str = "html") -> Response:
        web.need(request, "auditor", "supervisor", "admin")
        start, end = period(request)
        data = await report.load(pool, kb_pool, start, end, datetime.now(UTC))
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
    async def audit_sample(request: Request, size: int = 10, seed: int = 1) -> Response:
        start, end = period(request)
        who = web.need(request, "auditor", "supervisor", "admin")
        items = await report.sample(pool, start, end, min(max(size, 1), 200), seed)
        await record_reads(pool, who, [str(i["id"]) for i in items], "page", settings.topic(AUDIT_ACCESS))
        return web.render(request, "audit_sample.html", items=items, start=start.date(), end=end.date(), seed=seed)

    # -- development mailbox ------------------------------------------------------------------

    def mails() -> list[tuple[str, EmailMessage]]:
        if not (settings.dev_login and web.mail_dir and web.mail_dir.is_dir()):
            raise PageError(404, "not_found")
        found = []
        for p in sorted(web.mail_dir.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)[:300]:
            msg = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            found.append((p.stem, msg))
        return found

    @router.get("/dev/correo")
    async def dev_mail(request: Request) -> Response:
        web.need(request, *DEV_MAIL_READERS)  # every mail of every person: staff only, even here
        rows = [
            {"name": name, "to": m["To"], "subject": m["Subject"], "date": m["Date"], "ticket": m["X-Mesa-Ticket"]}
            for name, m in mails()
        ]
        return web.render(request, "dev_mail.html", rows=rows, message=None)

    @router.get("/dev/correo/{name}")
    async def dev_mail_one(request: Request, name: str) -> Response:
        web.need(request, *DEV_MAIL_READERS)
        found = dict(mails()).get(name)
        if found is None:
            raise PageError(404, "not_found")
        part = found.get_body(preferencelist=("plain",))
        body = part.get_content() if part is not None else ""
        message = {"to": found["To"], "subject": found["Subject"], "date": found["Date"], "body": body}
        return web.render(request, "dev_mail.html", rows=[], message=message)

    app.include_router(router)

    # -- the knowledge base as JSON, for other systems and scripts ------------------------------
    kb_api = APIRouter(prefix="/kb/articles", tags=["knowledge base"])

    @kb_api.get("")
    async def kb_list(
        q: str = "",
        language: str | None = None,
        category: Category | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> JSONResponse:
        """Search (full text in each article's language); without `q`, the most helpful first."""
        found = await kb.search(
            kb_pool, q, language=language, category=category.value if category else None, limit=limit
        )
        return JSONResponse(found)

    @kb_api.get("/{article_id}")
    async def kb_one(article_id: int) -> JSONResponse:
        article = await kb.get(kb_pool, article_id)
        if article is None:
            return JSONResponse({"error": "not_found", "message": "artículo no encontrado / article not found"}, 404)
        return JSONResponse(article)

    @kb_api.post("", status_code=201)
    async def kb_publish(body: kb.ArticleIn, who: Annotated[Principal, Depends(requires(*KB_WRITERS))]) -> JSONResponse:
        article_id = await kb.create(kb_pool, body, who.sub)
        return JSONResponse({"id": article_id, "url": f"{settings.public_url}/kb/a/{article_id}"}, 201)

    app.include_router(kb_api)
