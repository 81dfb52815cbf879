"""A long queue and full agents (a sale day): a freed slot or a sweep offers the queue by need, not
ticket by ticket against the whole roster (services/routing/domain.Takers), and still gives the
slot to the first ticket in queue order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.routing import domain, store
from services.routing.handlers import Routing
from services.routing.service import MIGRATIONS
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.events.catalogue import Priority
from shared.platform import db
from shared.platform.clock import ManualClock
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(120)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
AGENTS = 30
QUEUED = 400


async def test_a_freed_slot_takes_the_first_queued_ticket_and_passes_the_rest_by_need(
    fresh: Isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = await db.create_pool(fresh.settings.database_url, "routing")
    try:
        await db.migrate(pool, "routing", MIGRATIONS)
        async with pool.acquire() as conn, conn.transaction():
            for i in range(AGENTS):
                data = ev.AgentRegistered(
                    agent_id=f"agente{i:02d}", name=f"Agente {i}", email=f"a{i}@soporte.test",
                    skills=("order_status",), level=1, capacity=6,
                )  # fmt: skip
                await store.register(conn, data, Envelope.new(data, source="routing", subject=data.agent_id, time=NOW))
            full = domain.weight(Priority.P3) * 2  # every agent holds two P3 tickets' weight
            await conn.execute("UPDATE agents SET load = capacity")
            await conn.execute("UPDATE agents SET load = capacity - $1 WHERE id = 'agente17'", full // 2)
            for i in range(QUEUED):
                tid = f"T-Q{i:04d}"
                await store.insert_ticket(conn, domain.opened(tid, "order_status", Priority.P3, "es"))
                await store.queued_since(conn, tid, NOW - timedelta(minutes=QUEUED - i))  # T-Q0000 the oldest
        looked = 0

        def counting(agent: domain.Agent, need: domain.Need, now: datetime) -> bool:
            nonlocal looked
            looked += 1
            return eligible(agent, need, now)

        eligible = domain.eligible
        monkeypatch.setattr(domain, "eligible", counting)

        assigned = await Routing(fresh.settings, pool, ManualClock(NOW)).drain_queue(NOW)

        assert assigned == 1
        owners = dict(await pool.fetch("SELECT id, owner FROM tickets WHERE owner IS NOT NULL"))
        assert owners == {"T-Q0000": "agente17"}
        assert await pool.fetchval("SELECT count(*) FROM tickets WHERE waiting_since IS NOT NULL") == QUEUED - 1
        # the roster weighed for the one need before and after the assignment, and once to choose:
        # not once for each of the 400 tickets (12,000 looks before)
        assert looked <= 3 * AGENTS
    finally:
        await pool.close()
