"""Signing in and out: a token, or (development) one of the demo's people."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.projections.web import profile_pages
from services.projections.web.site import HOME, PageError, Site, Web, lang_of
from services.projections.web.texts import text
from shared.domain.principal import AuthError, Principal
from shared.platform.auth import SESSION_COOKIE, dev_sign_ins

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root(web: Site, request: Request) -> Response:
    who = web.session(request)
    return RedirectResponse(HOME.get(who.role, "/login") if who else "/login", 303)


@router.get("/login")
async def login_page(web: Site, request: Request, next: str = "") -> Response:
    users: list[dict[str, str]] = []
    if web.settings.dev_login:
        users = dev_sign_ins(web.settings.dev_login_people)
    return web.render(request, "login.html", users=users, next=next)


def signed_in(web: Web, token: str, who: Principal, next_path: str) -> Response:
    target = next_path if next_path.startswith("/") and not next_path.startswith("//") else HOME[who.role]
    response = RedirectResponse(target, 303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=web.settings.public_url.startswith("https://"),
        max_age=8 * 3600,
    )
    return response


@router.post("/login")
async def login(web: Site, request: Request) -> Response:
    if not web.auth.same_origin(request):  # another site must not sign a browser in (login CSRF)
        raise PageError(403, "forbidden", "Origin")
    form = await request.form()
    token = str(form.get("token", "")).strip()
    next_path = str(form.get("next", ""))
    if web.settings.dev_login and form.get("role") and form.get("sub"):
        known = {(u["role"], u["sub"]): u["name"] for u in dev_sign_ins(web.settings.dev_login_people)}
        key = (str(form["role"]), str(form["sub"]))
        if key in known:
            token = web.auth.issue(key[0], key[1], name=known[key])  # type: ignore[arg-type]
    try:
        who = web.auth.verify(token)
    except AuthError:
        return web.render(
            request, "login.html", 401, users=[], next=next_path, error=text("bad_token", lang_of(request))
        )
    response = signed_in(web, token, who, next_path)
    # the person's own settings come back on any device they sign in on
    profile_pages.remember(response, *await profile_pages.load(web, f"{who.role}:{who.sub}"))
    return response


@router.post("/logout")
async def logout(web: Site, request: Request) -> Response:
    await web.form(request)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(SESSION_COOKIE)
    return response
