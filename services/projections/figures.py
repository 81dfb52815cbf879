"""The supervisor dashboard's figures, read in one snapshot of the projections."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import asyncpg

from services.projections.store import agents_with_load
from shared.domain.ticket import OPEN_STATUSES

_OPEN = [s.value for s in OPEN_STATUSES]
DAYS = 30


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 1)


async def figures(pool: asyncpg.Pool, today: date | None = None) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        today = today or await conn.fetchval("SELECT current_date")
        assert today is not None
        since = today - timedelta(days=DAYS - 1)
        counts = {}
        for column in ("status", "priority", "category", "level"):
            rows = await conn.fetch(
                f"SELECT {column} AS k, count(*) AS n FROM tickets WHERE status = ANY($1::text[])"
                f" GROUP BY {column} ORDER BY {column}",
                _OPEN,
            )
            counts[column] = [(str(r["k"]), r["n"]) for r in rows]
        breached = await conn.fetch(
            "SELECT t.id, t.subject, t.priority, t.owner, t.breached FROM tickets t"
            " WHERE t.status = ANY($1::text[]) AND cardinality(t.breached) > 0 ORDER BY t.opened_at LIMIT 50",
            _OPEN,
        )
        at_risk = await conn.fetch(
            "SELECT t.id, t.subject, t.priority, t.owner FROM tickets t"
            " WHERE t.status = ANY($1::text[]) AND cardinality(t.breached) = 0"
            " AND EXISTS (SELECT 1 FROM timeline w WHERE w.ticket_id = t.id AND w.type = 'ticket.sla_warning')"
            " ORDER BY t.opened_at LIMIT 50",
            _OPEN,
        )
        # the fullest first: who needs help is at the top of a long roster
        load = sorted(
            await agents_with_load(conn), key=lambda r: (-r["load"] / max(r["capacity"], 1), -r["load"], r["name"])
        )
        # ratings of 2 or less in the period: each one a follow-up for a supervisor (clause 7)
        low_ratings = await conn.fetch(
            "SELECT t.id, t.subject, t.feedback_rating AS rating, t.feedback_comment AS comment, t.owner, t.status"
            " FROM tickets t WHERE t.feedback_rating <= 2 AND t.updated_at >= $1::date"
            " ORDER BY t.updated_at DESC LIMIT 50",
            since,
        )
        escalations = await conn.fetch(
            "SELECT ticket_id, time, data->>'reason' AS reason, (data->>'to_level')::int AS to_level FROM timeline"
            " WHERE type = 'ticket.escalated' AND time >= $1::date ORDER BY time DESC LIMIT 50",
            today,
        )
        per_day = await conn.fetch(
            "SELECT d::date AS day, count(t.id) AS opened,"
            " count(t.first_response_at) AS answered,"
            " count(t.id) FILTER (WHERE t.first_response_at <= t.first_response_due) AS frt_met,"
            " count(t.resolved_at) AS resolved,"
            " count(t.id) FILTER (WHERE t.resolved_at IS NOT NULL AND NOT 'resolution' = ANY(t.breached)) AS res_met"
            " FROM generate_series($1::date, $2::date, interval '1 day') d"
            " LEFT JOIN tickets t ON t.opened_at >= d AND t.opened_at < d + interval '1 day'"
            " GROUP BY d ORDER BY d",
            since,
            today,
        )
        times = await conn.fetchrow(
            "SELECT"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - opened_at)) AS frt50,"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - opened_at)) AS frt90"
            " FROM tickets WHERE opened_at >= $1::date AND first_response_at IS NOT NULL",
            since,
        )
        res_times = await conn.fetchrow(
            "SELECT"
            " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)) AS r50,"
            " percentile_cont(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at - opened_at)) AS r90"
            " FROM tickets WHERE opened_at >= $1::date AND resolved_at IS NOT NULL",
            since,
        )

    def pct(part: int, whole: int) -> float | None:
        return None if whole == 0 else round(100 * part / whole, 1)

    return {
        "counts": counts,
        "open_total": sum(n for _, n in counts["status"]),
        "breached": [dict(r) for r in breached],
        "at_risk": [dict(r) for r in at_risk],
        "load": [dict(r) for r in load],
        "escalations": [dict(r) for r in escalations],
        "low_ratings": [dict(r) for r in low_ratings],
        "volume": [(r["day"].strftime("%d/%m"), float(r["opened"])) for r in per_day],
        "frt_met": [(r["day"].strftime("%d/%m"), pct(r["frt_met"], r["answered"])) for r in per_day],
        "res_met": [(r["day"].strftime("%d/%m"), pct(r["res_met"], r["resolved"])) for r in per_day],
        "times": {
            "first_response": (_hours(times["frt50"]), _hours(times["frt90"])),
            "resolution": (_hours(res_times["r50"]), _hours(res_times["r90"])),
        },
    }
