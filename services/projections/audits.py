"""Clause 12, audits that happen: which period's review is due (pure), its figures from the read
model, and opening it through intake, the writer of workspace.events.

The schedule runs in every projections instance: a review's id is its period, and intake opens
it once (409 after), so two instances, or a restart in the middle, open one review. The sample
is reproducible: its seed is derived from the review's id."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import structlog

from services.projections import report
from shared.domain.events import catalogue as ev
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings

log = structlog.get_logger()
SCOPES = ("audits:open",)


@dataclass(frozen=True)
class Period:
    review_id: str
    first: date  # the first day included
    last: date  # the last day included

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """[start, end) in UTC: the period's local days."""
        zone = ZoneInfo(timezone)
        start = datetime.combine(self.first, time(0), zone)
        end = datetime.combine(self.last + timedelta(days=1), time(0), zone)
        return start.astimezone(UTC), end.astimezone(UTC)


def period_of(first: date, last: date) -> Period:
    """A period chosen by hand: a whole calendar month is named as the schedule names it."""
    whole_month = first.day == 1 and (last + timedelta(days=1)).day == 1 and first.month == last.month
    if whole_month:
        return Period(f"{first:%Y-%m}", first, last)
    return Period(f"{first.isoformat()}_{last.isoformat()}", first, last)


def due_period(now: datetime, schedule: str, timezone: str, hour: int) -> Period | None:
    """The last whole period at `now` whose review is due: monthly, the previous calendar month
    (from `hour` o'clock local on the 1st); weekly, the previous Monday-to-Sunday week (from
    `hour` on Monday). None: the schedule is off, or it is too early in the day."""
    if schedule == "off":
        return None
    local = now.astimezone(ZoneInfo(timezone))
    today = local.date()
    if schedule == "monthly":
        this_month = today.replace(day=1)
        if today == this_month and local.hour < hour:
            this_month = (this_month - timedelta(days=1)).replace(day=1)
        last = this_month - timedelta(days=1)
        return Period(f"{last:%Y-%m}", last.replace(day=1), last)
    monday = today - timedelta(days=today.weekday())
    if today == monday and local.hour < hour:
        monday -= timedelta(days=7)
    return period_of(monday - timedelta(days=7), monday - timedelta(days=1))


def seed_of(review_id: str) -> int:
    """A review's sample seed: the same period draws the same tickets, whoever asks."""
    return int.from_bytes(hashlib.sha256(f"mesa-audit|{review_id}".encode()).digest()[:4], "big")


def figures(r: dict[str, Any]) -> ev.ReviewFigures:
    """What a review keeps of the period's report."""
    ratings = r["csat"]["distribution"]
    return ev.ReviewFigures(
        tickets=r["tickets"],
        first_response_met_pct=r["overall"]["first_response_met_pct"],
        resolution_met_pct=r["overall"]["resolution_met_pct"],
        csat_average=r["csat"]["average"],
        csat_responses=r["csat"]["responses"],
        low_ratings=ratings["1"] + ratings["2"],
        closed_confirmed=r["closing"]["confirmed"],
        closed_unconfirmed=r["closing"]["auto"],
        escalations=r["escalations"]["count"],
        reopen_rate_pct=r["reopen_rate_pct"],
    )


async def period_figures(
    pool: asyncpg.Pool, kb_pool: asyncpg.Pool | None, start: datetime, end: datetime, now: datetime
) -> ev.ReviewFigures:
    return figures(await report.load(pool, kb_pool, start, end, now))


async def open_review(
    pool: asyncpg.Pool,
    kb_pool: asyncpg.Pool | None,
    settings: Settings,
    auth: Authenticator,
    period: Period,
    *,
    now: datetime,
    scheduled: bool,
    by: str,
) -> httpx.Response:
    """Draw the sample, take the figures, and ask intake to open the review (201; 409 when it
    is open already)."""
    start, end = period.bounds(settings.display_timezone)
    seed = seed_of(period.review_id)
    sample = await report.sample_ids(pool, start, end, settings.audit_sample_size, seed)
    body = {
        "review_id": period.review_id,
        "period_from": period.first.isoformat(),
        "period_to": period.last.isoformat(),
        "sample": sample,
        "seed": seed,
        "figures": (await period_figures(pool, kb_pool, start, end, now)).model_dump(),
        "scheduled": scheduled,
        "by": by,
    }
    token = auth.issue("service", "projections", ttl_s=300, scopes=SCOPES)
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(
            f"{settings.intake_url}/reviews", json=body, headers={"Authorization": f"Bearer {token}"}
        )


async def review_known(pool: asyncpg.Pool, review_id: str) -> bool:
    return bool(await pool.fetchval("SELECT true FROM reviews WHERE id = $1", review_id))


async def open_due_review(
    pool: asyncpg.Pool, kb_pool: asyncpg.Pool | None, settings: Settings, auth: Authenticator, now: datetime
) -> str | None:
    """One pass of the schedule: the due period's review opened if nobody has yet; its id when
    this pass opened it."""
    period = due_period(now, settings.audit_schedule, settings.display_timezone, settings.audit_hour)
    if period is None or await review_known(pool, period.review_id):
        return None
    try:
        r = await open_review(pool, kb_pool, settings, auth, period, now=now, scheduled=True, by="schedule")
    except httpx.HTTPError as exc:  # intake not up yet: the next pass tries again
        log.warning("audit schedule: intake unreachable", error=type(exc).__name__)
        return None
    if r.status_code == 201:
        log.info("audit opened", review=period.review_id)
        return period.review_id
    if r.status_code != 409:  # 409: another instance opened it
        log.warning("audit schedule: intake refused", status=r.status_code)
    return None


# -- what the audits page reads ------------------------------------------------------------------

ACTION_STATUSES = ("open", "in_progress", "done", "dropped")
EFFECT_WINDOW = timedelta(days=30)


async def reviews(pool: asyncpg.Pool, limit: int = 24) -> list[dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM reviews ORDER BY period_to DESC, id LIMIT $1", limit)
    return [{**dict(r), "figures": ev.ReviewFigures.model_validate_json(r["figures"])} for r in rows]


async def review(pool: asyncpg.Pool, review_id: str) -> dict[str, Any] | None:
    r = await pool.fetchrow("SELECT * FROM reviews WHERE id = $1", review_id)
    if r is None:
        return None
    return {**dict(r), "figures": ev.ReviewFigures.model_validate_json(r["figures"])}


async def findings(pool: asyncpg.Pool, review_id: str | None = None) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM findings WHERE $1::text IS NULL OR review_id = $1 ORDER BY recorded_at, id", review_id
    )
    return [dict(r) for r in rows]


async def actions(
    pool: asyncpg.Pool, *, finding_ids: list[str] | None = None, owner: str | None = None
) -> list[dict[str, Any]]:
    """Actions, the open ones first (the one due first at the top), each with its notes."""
    rows = await pool.fetch(
        "SELECT * FROM actions WHERE ($1::text[] IS NULL OR finding_id = ANY($1::text[]))"
        " AND ($2::text IS NULL OR owner = $2)"
        " ORDER BY status IN ('done', 'dropped'), due, id",
        finding_ids,
        owner,
    )
    notes = await pool.fetch(
        "SELECT * FROM action_notes WHERE action_id = ANY($1::text[]) ORDER BY at", [r["id"] for r in rows]
    )
    by_action: dict[str, list[dict[str, Any]]] = {}
    for n in notes:
        by_action.setdefault(n["action_id"], []).append(dict(n))
    return [{**dict(r), "notes": by_action.get(r["id"], [])} for r in rows]


async def effect(
    pool: asyncpg.Pool, kb_pool: asyncpg.Pool | None, action: dict[str, Any], now: datetime
) -> tuple[ev.ReviewFigures, ev.ReviewFigures] | None:
    """A done action's effect: the figures of the 30 days before it was planned next to those
    since it was done (up to 30 days)."""
    done = action.get("done_at")
    if action["status"] != "done" or done is None:
        return None
    planned = action["planned_at"]
    before = await period_figures(pool, kb_pool, planned - EFFECT_WINDOW, planned, now)
    after = await period_figures(pool, kb_pool, done, min(now, done + EFFECT_WINDOW), now)
    return before, after


async def caught_up(pool: asyncpg.Pool, query: str, *args: object, timeout: float = 5.0) -> None:
    """Wait (bounded) until `query` answers true in the page's own fold: the person sees what
    they just recorded."""
    deadline = monotonic() + timeout
    while monotonic() < deadline:
        if await pool.fetchval(query, *args):
            return
        await asyncio.sleep(0.05)
