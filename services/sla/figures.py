"""What SLA shows on /metrics: per priority, the open tickets at risk (a warning fired, no
breach yet) and breached, per target. Alert rules read them (ops/prometheus/rules/mesa.yml):
a breach of a P1 target pages at once, a growing count at risk is told before it breaches."""

from __future__ import annotations

import asyncpg
from prometheus_client import Gauge

OPEN = Gauge("mesa_sla_open_tickets", "Open tickets with a running SLA clock", ["priority"])
AT_RISK = Gauge("mesa_sla_at_risk_tickets", "Open tickets warned of a target, not yet breached", ["priority", "target"])
BREACHED = Gauge("mesa_sla_breached_tickets", "Open tickets that breached a target", ["priority", "target"])

_COUNTS = """
SELECT priority,
       count(*) AS open,
       count(*) FILTER (WHERE first_response_at IS NULL AND NOT first_breached
                        AND array_to_string(fired, ',') LIKE '%warn:first_response:%') AS first_at_risk,
       count(*) FILTER (WHERE NOT resolution_breached
                        AND array_to_string(fired, ',') LIKE '%warn:resolution:%') AS resolution_at_risk,
       count(*) FILTER (WHERE first_breached) AS first_breached,
       count(*) FILTER (WHERE resolution_breached) AS resolution_breached
FROM clocks WHERE stopped_at IS NULL GROUP BY priority
"""


async def measure(pool: asyncpg.Pool, priorities: list[str]) -> None:
    rows = {r["priority"]: r for r in await pool.fetch(_COUNTS)}
    for p in priorities:  # every priority the policy has: a zero is a value, not an absence
        r = rows.get(p)
        OPEN.labels(p).set(r["open"] if r else 0)
        AT_RISK.labels(p, "first_response").set(r["first_at_risk"] if r else 0)
        AT_RISK.labels(p, "resolution").set(r["resolution_at_risk"] if r else 0)
        BREACHED.labels(p, "first_response").set(r["first_breached"] if r else 0)
        BREACHED.labels(p, "resolution").set(r["resolution_breached"] if r else 0)
