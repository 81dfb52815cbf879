"""Each person's settings: the zone times are shown in (else the browser's, else the business
calendar's) and the language. Kept per person (role:sub) so they follow them to another device:
signing in puts them back in the browser's cookies, which is what every page reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.projections.web import when
from services.projections.web.site import LANG_COOKIE, Site, Web

router = APIRouter(include_in_schema=False)
# The zones a shop in Spain and its customers mostly live in, first; any other may be typed.
COMMON_ZONES = (
    "Europe/Madrid",
    "Atlantic/Canary",
    "Europe/Lisbon",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/Mexico_City",
    "America/Bogota",
    "America/Lima",
    "America/Santiago",
    "America/Argentina/Buenos_Aires",
    "America/New_York",
    "UTC",
)
YEAR = 365 * 86400


async def load(web: Web, who: str) -> tuple[str | None, str | None]:
    row = await web.kb_pool.fetchrow("SELECT timezone, language FROM profiles WHERE who = $1", who)
    return (row["timezone"], row["language"]) if row else (None, None)


def remember(response: Response, timezone: str | None, language: str | None) -> None:
    """The person's choices as the cookies the pages read (none chosen: the browser decides)."""
    if timezone:
        response.set_cookie(when.PROFILE_ZONE_COOKIE, timezone, samesite="lax", max_age=YEAR)
    else:
        response.delete_cookie(when.PROFILE_ZONE_COOKIE)
    if language:
        response.set_cookie(LANG_COOKIE, language, samesite="lax", max_age=YEAR)


@router.get("/profile")
async def profile_page(web: Site, request: Request, done: str = "") -> Response:
    who = web.need(request)
    timezone, language = await load(web, f"{who.role}:{who.sub}")
    return _page(web, request, 200, timezone, language, done=done == "1")


def _page(
    web: Web, request: Request, status: int, timezone: str | None, language: str | None, **extra: Any
) -> Response:
    return web.render(
        request,
        "profile.html",
        status,
        zones=COMMON_ZONES,
        all_zones=sorted(when.zones()),
        browser_zone=when.zone(request.cookies.get(when.ZONE_COOKIE), web.settings.display_timezone),
        now=datetime.now(UTC),
        chosen=timezone,
        language=language,
        **extra,
    )


@router.post("/profile")
async def save_profile(web: Site, request: Request) -> Response:
    who = web.need(request)
    form = await web.form(request)
    timezone = str(form.get("timezone", "")).strip() or None
    language = str(form.get("language", "")).strip() or None
    if (timezone and when.zone(timezone, "") != timezone) or language not in (None, "es", "en"):
        return _page(web, request, 422, None, None, done=False, error_key="profile_invalid")
    await web.kb_pool.execute(
        "INSERT INTO profiles VALUES ($1, $2, $3, now())"
        " ON CONFLICT (who) DO UPDATE SET timezone = $2, language = $3, updated_at = now()",
        f"{who.role}:{who.sub}",
        timezone,
        language,
    )
    response = RedirectResponse("/profile?done=1", 303)
    remember(response, timezone, language)
    return response
