"""The support-process report for auditors and supervisors, and the periodic audit sample.

Read from the projections (and the knowledge base), for tickets opened in [start, end):
SLA compliance per priority, category, team and agent; first-response and resolution times
(median, p90) against the policy's targets; the backlog and its age; the reopen rate;
escalations and their reasons; CSAT; deflections by article. The aggregation is pure
(`summarise`), so it is tested without a database.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import TypeAdapter

_DURATION = TypeAdapter(timedelta)


@dataclass(frozen=True)
class Row:
    """One ticket as the report needs it."""

    id: str
    priority: str
    category: str
    owner: str | None
    teams: tuple[str, ...]
    status: str
    opened_at: datetime
    first_response_due: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    breached: tuple[str, ...]
    reopen_count: int
    rating: int | None
    first_response_target: timedelta | None
    resolution_target: timedelta | None
    tags: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()  # (custom field, value)
    closed_how: str | None = None  # confirmed | auto (without the customer) | merged | other


def period(start: str | None, end: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) from ISO dates or times (UTC when no zone given); a bare day as `end` counts
    up to its end; defaults: the 30 days before `end`, and `end` now. Raises ValueError."""

    def parse(raw: str) -> datetime:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    to = parse(end) if end else now
    if end and len(end) == 10:
        to += timedelta(days=1)
    return (parse(start) if start else to - timedelta(days=30)), to


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100 * part / whole, 1)


def _hours(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None, "n": 0}
    values = sorted(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    return {"median": round(statistics.median(values) / 3600, 2), "p90": round(p90 / 3600, 2), "n": len(values)}


def compliance(rows: Iterable[Row]) -> dict[str, Any]:
    """First response: met when answered by its due time; resolution: resolved without breaching."""
    fr_met = fr_all = res_met = res_all = 0
    for r in rows:
        if r.first_response_at is not None or "first_response" in r.breached:
            fr_all += 1
            fr_met += int(
                r.first_response_at is not None
                and "first_response" not in r.breached
                and (r.first_response_due is None or r.first_response_at <= r.first_response_due)
            )
        if r.resolved_at is not None or "resolution" in r.breached:
            res_all += 1
            res_met += int(r.resolved_at is not None and "resolution" not in r.breached)
    return {
        "first_response_met_pct": _pct(fr_met, fr_all),
        "first_response_measured": fr_all,
        "resolution_met_pct": _pct(res_met, res_all),
        "resolution_measured": res_all,
    }


def summarise(
    rows: list[Row],
    *,
    now: datetime,
    names: dict[str, str],
    escalations: list[tuple[int, str]],
    deflections: list[dict[str, Any]],
) -> dict[str, Any]:
    def grouped(key: Any) -> dict[str, Any]:
        groups: dict[str, list[Row]] = defaultdict(list)
        for r in rows:
            for k in key(r):
                groups[k].append(r)
        return {k: {"tickets": len(v), **compliance(v)} for k, v in sorted(groups.items())}

    times: dict[str, Any] = {}
    for priority in sorted({r.priority for r in rows}):
        mine = [r for r in rows if r.priority == priority]
        fr = [(r.first_response_at - r.opened_at).total_seconds() for r in mine if r.first_response_at]
        res = [(r.resolved_at - r.opened_at).total_seconds() for r in mine if r.resolved_at]
        fr_target = next((r.first_response_target for r in mine if r.first_response_target), None)
        res_target = next((r.resolution_target for r in mine if r.resolution_target), None)
        times[priority] = {
            "first_response_hours": _hours(fr),
            "first_response_target_hours": round(fr_target.total_seconds() / 3600, 2) if fr_target else None,
            "resolution_hours": _hours(res),
            "resolution_target_hours": round(res_target.total_seconds() / 3600, 2) if res_target else None,
        }
    backlog = [r for r in rows if r.status not in ("resolved", "closed")]
    ages = [(now - r.opened_at).total_seconds() / 86400 for r in backlog]
    buckets = Counter("<1d" if a < 1 else "1-3d" if a < 3 else "3-7d" if a < 7 else ">7d" for a in ages)
    resolved = [r for r in rows if r.resolved_at is not None]
    ratings = [r.rating for r in rows if r.rating is not None]
    reasons = Counter(reason.strip().split("\n")[0][:120] for _, reason in escalations)
    return {
        "tickets": len(rows),
        "overall": compliance(rows),
        "by_priority": grouped(lambda r: [r.priority]),
        "by_category": grouped(lambda r: [r.category]),
        "by_team": grouped(lambda r: list(r.teams) or ["(sin equipo)"]),
        "by_agent": grouped(lambda r: [names.get(r.owner, r.owner)] if r.owner else ["(sin asignar)"]),
        "by_tag": grouped(lambda r: list(r.tags)),
        # each custom field's values: what carrier, which return reason, against the targets
        "by_field": grouped(lambda r: [f"{name}: {value}" for name, value in r.fields]),
        "times": times,
        "backlog": {
            "open": len(backlog),
            "ages": {b: buckets.get(b, 0) for b in ("<1d", "1-3d", "3-7d", ">7d")},
            "oldest_days": round(max(ages), 1) if ages else None,
        },
        "reopen_rate_pct": _pct(sum(1 for r in resolved if r.reopen_count > 0), len(resolved)),
        # clause 7: closed once resolved *and* the customer satisfied; what closed without their
        # word is counted apart
        "closing": {
            how: sum(1 for r in rows if r.closed_how == how) for how in ("confirmed", "auto", "merged", "other")
        },
        "escalations": {
            "count": len(escalations),
            "by_level": {str(k): v for k, v in sorted(Counter(level for level, _ in escalations).items())},
            "top_reasons": [{"reason": k, "count": v} for k, v in reasons.most_common(10)],
        },
        "csat": {
            "responses": len(ratings),
            "average": round(statistics.mean(ratings), 2) if ratings else None,
            "distribution": {str(n): ratings.count(n) for n in range(1, 6)},
        },
        "deflections": deflections,
    }


async def load(
    pool: asyncpg.Pool, kb_pool: asyncpg.Pool | None, start: datetime, end: datetime, now: datetime
) -> dict[str, Any]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        records = await conn.fetch(
            "SELECT t.*, coalesce(a.teams, '{}') AS teams,"
            " (SELECT data FROM timeline w WHERE w.ticket_id = t.id AND w.type = 'ticket.sla_targets_set'"
            "  ORDER BY seq DESC LIMIT 1) AS targets,"
            " (SELECT data->>'reason' FROM timeline w WHERE w.ticket_id = t.id AND w.type = 'ticket.closed'"
            "  ORDER BY seq DESC LIMIT 1) AS close_reason"
            " FROM tickets t LEFT JOIN agents a ON a.id = t.owner"
            " WHERE t.opened_at >= $1 AND t.opened_at < $2",
            start,
            end,
        )
        names = {r["id"]: r["name"] for r in await conn.fetch("SELECT id, name FROM agents")}
        valued: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for f in await conn.fetch(
            "SELECT f.ticket_id, f.field, f.value FROM ticket_fields f JOIN tickets t ON t.id = f.ticket_id"
            " WHERE t.opened_at >= $1 AND t.opened_at < $2 ORDER BY f.field, f.value",
            start,
            end,
        ):
            valued[f["ticket_id"]].append((f["field"], f["value"]))
        escalated = await conn.fetch(
            "SELECT (data->>'to_level')::int AS level, data->>'reason' AS reason FROM timeline"
            " WHERE type = 'ticket.escalated' AND time >= $1 AND time < $2",
            start,
            end,
        )
    rows = []
    for r in records:
        targets = json.loads(r["targets"]) if r["targets"] else {}
        state = json.loads(r["state"])

        def target(name: str, targets: dict[str, Any] = targets) -> timedelta | None:
            raw = targets.get(name)
            return _DURATION.validate_python(raw) if raw else None

        rows.append(
            Row(
                id=r["id"],
                priority=r["priority"],
                category=r["category"],
                owner=r["owner"],
                teams=tuple(r["teams"]),
                status=r["status"],
                opened_at=r["opened_at"],
                first_response_due=r["first_response_due"],
                first_response_at=r["first_response_at"],
                resolved_at=r["resolved_at"],
                breached=tuple(r["breached"]),
                reopen_count=int(state.get("reopen_count", 0)),
                rating=r["feedback_rating"],
                first_response_target=target("first_response_target"),
                resolution_target=target("resolution_target"),
                tags=tuple(r["tags"]),
                fields=tuple(valued.get(r["id"], ())),
                closed_how=_closed_how(r["status"], bool(state.get("confirmed")), r["merged_into"], r["close_reason"]),
            )
        )
    deflections: list[dict[str, Any]] = []
    if kb_pool is not None:
        found = await kb_pool.fetch(
            "SELECT a.id, a.title, count(*) AS n FROM deflections d JOIN articles a ON a.id = d.article_id"
            " WHERE d.at >= $1 AND d.at < $2 GROUP BY a.id ORDER BY n DESC, a.id",
            start,
            end,
        )
        deflections = [{"id": r["id"], "title": r["title"], "deflections": r["n"]} for r in found]
    report = summarise(
        rows,
        now=now,
        names=names,
        escalations=[(e["level"], e["reason"] or "") for e in escalated],
        deflections=deflections,
    )
    return {"from": start.isoformat(), "to": end.isoformat(), **report}


def _closed_how(status: str, confirmed: bool, merged_into: str | None, reason: str | None) -> str | None:
    if status != "closed":
        return None
    if merged_into:
        return "merged"
    if confirmed:
        return "confirmed"
    return "auto" if reason == "auto" else "other"


def to_csv(report: dict[str, Any]) -> str:
    """One line per figure: section, group, metric, value."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "group", "metric", "value"])
    w.writerow(["period", "", "from", report["from"]])
    w.writerow(["period", "", "to", report["to"]])
    w.writerow(["overall", "", "tickets", report["tickets"]])
    for metric, value in report["overall"].items():
        w.writerow(["overall", "", metric, value])
    for section in ("by_priority", "by_category", "by_team", "by_agent", "by_tag", "by_field"):
        for group, figures in report[section].items():
            for metric, value in figures.items():
                w.writerow([section, group, metric, value])
    for priority, figures in report["times"].items():
        for metric, value in figures.items():
            if isinstance(value, dict):
                for k, v in value.items():
                    w.writerow(["times", priority, f"{metric}.{k}", v])
            else:
                w.writerow(["times", priority, metric, value])
    for metric, value in report["backlog"]["ages"].items():
        w.writerow(["backlog", "", f"age {metric}", value])
    w.writerow(["backlog", "", "open", report["backlog"]["open"]])
    w.writerow(["reopen", "", "rate_pct", report["reopen_rate_pct"]])
    for how, n in report["closing"].items():
        w.writerow(["closing", how, "tickets", n])
    w.writerow(["escalations", "", "count", report["escalations"]["count"]])
    for item in report["escalations"]["top_reasons"]:
        w.writerow(["escalations", "reason", item["reason"], item["count"]])
    w.writerow(["csat", "", "average", report["csat"]["average"]])
    for rating, n in report["csat"]["distribution"].items():
        w.writerow(["csat", "distribution", rating, n])
    for d in report["deflections"]:
        w.writerow(["deflections", d["title"], "count", d["deflections"]])
    return out.getvalue()


async def sample_ids(
    conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime, size: int, seed: int
) -> list[str]:
    """The ids a sample draws: the same seed and period give the same tickets, whoever draws them."""
    ids = [
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM tickets WHERE status = 'closed' AND updated_at >= $1 AND updated_at < $2 ORDER BY id",
            start,
            end,
        )
    ]
    return sorted(random.Random(seed).sample(ids, min(size, len(ids))))


async def sample(pool: asyncpg.Pool, start: datetime, end: datetime, size: int, seed: int) -> list[dict[str, Any]]:
    """A reproducible random sample of the tickets closed in [start, end), each with its whole
    timeline: the same seed and period give the same tickets, whoever draws them."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        chosen = await sample_ids(conn, start, end, size, seed)
        out = []
        for tid in chosen:
            t = await conn.fetchrow("SELECT * FROM tickets WHERE id = $1", tid)
            events = await conn.fetch(
                "SELECT seq, type, time, actor, data FROM timeline WHERE ticket_id = $1 ORDER BY seq", tid
            )
            out.append(
                {
                    "id": tid,
                    "subject": t["subject"],
                    "requester": t["requester"],
                    "priority": t["priority"],
                    "category": t["category"],
                    "owner": t["owner"],
                    "opened_at": t["opened_at"].isoformat(),
                    "closed_at": t["updated_at"].isoformat(),
                    "rating": t["feedback_rating"],
                    "timeline": [
                        {
                            "seq": e["seq"],
                            "type": e["type"],
                            "time": e["time"].isoformat(),
                            "actor": e["actor"],
                            "data": json.loads(e["data"]),
                        }
                        for e in events
                    ],
                }
            )
    return out
