"""Times as people read them: in their zone (their browser's, else the business calendar's), in
their language, in words ("lunes 30 nov, 12:00"), with a hint of how far ("dentro de 3 h").
Babel knows how each language writes a date; this module only chooses."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from babel.dates import format_datetime, format_timedelta

ZONE_COOKIE = "mesa_tz"  # the browser's zone, as mesa.js reads it (Intl), for pages drawn on the server
PROFILE_ZONE_COOKIE = "mesa_tz_profile"  # the zone the person chose in their profile: before the browser's


@cache
def zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(asked: str | None, default: str) -> str:
    """`asked` if it names a real zone (a cookie is anyone's text), else `default`."""
    return asked if asked and len(asked) <= 64 and asked in zones() else default


def _moment(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def human(value: str | datetime | None, lang: str, tz: str, now: datetime | None = None) -> str:
    """ "lunes 30 nov, 12:00" (with the year when it is not this one); "" for no time."""
    moment = _moment(value)
    if moment is None:
        return ""
    local_zone = ZoneInfo(tz)
    this_year = (now or datetime.now(UTC)).astimezone(local_zone).year
    pattern = "EEEE d MMM, HH:mm" if moment.astimezone(local_zone).year == this_year else "EEEE d MMM y, HH:mm"
    return str(format_datetime(moment, pattern, tzinfo=local_zone, locale="en" if lang == "en" else "es"))


def relative(value: str | datetime | None, lang: str, now: datetime | None = None) -> str:
    """How far from now: "dentro de 3 h", "hace 2 días"."""
    moment = _moment(value)
    if moment is None:
        return ""
    delta = moment - (now or datetime.now(UTC))
    locale = "en" if lang == "en" else "es"
    return str(format_timedelta(delta, add_direction=True, format="short", threshold=1.1, locale=locale))
