"""Schemas on two PostgreSQL servers and two instances of every service, on the three-node cluster.

Intake and routing keep their schemas on a second server (`INTAKE_DATABASE_URL`,
`ROUTING_DATABASE_URL`, as `PG_SERVERS=2 make up` places them); the rest, requesters' keys
included, stay on the first. Nothing else is told: the services talk only through Kafka, and
intake reaches the keys on the other server. Under a steady load, with one instance of
routing and of notify SIGKILLed halfway, every ticket is present, assigned once, acknowledged by
mail once, the projections equal a replay; an erasure, whose key is on the other server than the
tickets, goes through; inbox pruning reads the outboxes on both servers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.domain.privacy import ERASED
from shared.platform.inbox_pruning import InboxPruner
from shared.platform.topology import BY_NAME, STATIONS
from tests.conftest import Infra, Isolated, isolate
from tests.e2e.cluster import Cluster, second_postgres
from tests.e2e.conftest import Mesa, register_roster
from tests.e2e.test_faults_under_load import CREW, Load, check
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(600)
PARTITIONS = 3
APART = ("intake", "routing")
LAG_SERIES = ("mesa_inbox_lag_records", "mesa_inbox_oldest_unapplied_seconds")


@pytest.fixture(scope="module")
async def isolated(cluster: Cluster, infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Isolated]:
    second = await second_postgres()
    if second is None:
        pytest.skip("the PostgreSQL server is not this checkout's: no second server to place schemas on")
    placed = Infra(
        cluster.bootstrap,
        infra.database_url,
        {"MESA_KAFKA_CREDENTIALS": str(cluster.credentials)},
        apart=dict.fromkeys(APART, second),
    )
    async with isolate(placed, PARTITIONS, tmp_path_factory.mktemp("logs")) as iso:
        yield iso


async def schemas_on(url: str) -> set[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'schema_migrations'"
        )
        return {r["table_schema"] for r in rows}
    finally:
        await conn.close()


def second_instance(mesa: Mesa, service: str) -> Proc:
    """Another process of `service` on a port of its own: the group shares the partitions."""
    port = free_port()
    base = mesa.proc(service)
    env = {k: v for k, v in base.env.items() if k in mesa.iso.env or k.endswith("_PORT") or k.startswith("MESA_")}
    env[BY_NAME[service].port_variable] = str(port)
    env["MESA_MAILIN_PORT"] = str(free_port())  # mailin's SMTP, one per instance behind the MTA
    return Proc(base.module, env, mesa.iso.log_dir, f"{service}-2", port)


async def test_schemas_on_two_servers_and_two_instances_of_each_service(mesa: Mesa) -> None:
    settings = mesa.iso.settings
    first_server, second_server = settings.database_url, settings.database_url_for("intake")
    assert first_server != second_server
    seconds = [second_instance(mesa, s.name).start() for s in STATIONS]
    try:
        for proc in seconds:
            await proc.ready(90)
        # each schema where it was placed, and only there
        on_first, on_second = await schemas_on(first_server), await schemas_on(second_server)
        assert set(APART) <= on_second and not set(APART) & on_first, (on_first, on_second)
        assert {"sla", "notify", "projections", "audit", "keys"} <= on_first

        await register_roster(mesa, CREW)
        load = Load(mesa)
        t0 = time.monotonic()
        runner = asyncio.create_task(load.run())

        async def opened(n: int) -> bool:
            return len(load.opened) >= n

        await eventually(lambda: opened(60), timeout=120, interval=0.2, what="60 tickets opened")
        for proc in seconds:  # one instance of routing and of notify dies; the other takes over
            if proc.name in ("routing-2", "notify-2"):
                proc.kill()
        await eventually(lambda: opened(140), timeout=180, interval=0.2, what="140 tickets opened")
        load.running = False
        await asyncio.wait_for(runner, timeout=120)
        rate = len(load.opened) / (time.monotonic() - t0)
        facts = await check(mesa, load, full=True, notify_interruptions=1)
        print(f"\ntwo servers, two instances each, {rate:.1f} tickets/s: {facts}")

        # scaling signals: the two SLA instances between them report every partition of the
        # log, each once, and nothing waiting now that all is applied
        sla_2 = next(p for p in seconds if p.name == "sla-2")

        async def caught_up() -> dict[str, float] | None:
            series: dict[str, float] = {}
            async with httpx.AsyncClient(timeout=5) as http:
                for url in (mesa.url("sla"), f"http://127.0.0.1:{sla_2.port}"):
                    text = (await http.get(f"{url}/metrics")).text
                    for family in text_string_to_metric_families(text):
                        for sample in family.samples:
                            if sample.name in LAG_SERIES and sample.labels["consumer"] == "sla-tickets":
                                key = f"{sample.name}[{sample.labels['partition']}]"
                                assert key not in series, f"{key} reported by both instances"
                                series[key] = sample.value
            wanted = {f"{name}[{p}]" for name in LAG_SERIES for p in range(PARTITIONS)}
            return series if set(series) == wanted and not any(series.values()) else None

        await eventually(caught_up, timeout=30, interval=1, what="lag gauges of both SLA instances at 0")

        # an erasure: intake's transaction on the second server, the key on the first
        victim = next(iter(load.opened.values()))
        requester = (await mesa.get_ticket(victim) or {}).get("requester")
        assert requester
        out = await mesa.cli("erase", "requester", requester, "--reason", "prueba de colocación")
        assert f"1 tickets ({victim})" in out, out

        def scrubbed(t: dict[str, Any]) -> bool:
            return bool(t["subject"] == ERASED and t["status"] == "closed")

        await mesa.ticket_when(victim, scrubbed, "the erased ticket in the view", timeout=60)
        conn = await asyncpg.connect(first_server)
        try:
            assert await conn.fetchval("SELECT count(*) FROM keys.erasures") == 1
            assert await conn.fetchval("SELECT count(*) FROM keys.requesters WHERE sub = $1", requester) == 0
        finally:
            await conn.close()

        # pruning on the first server reads the second's outboxes and transactions: one held
        # open there keeps the horizon before its start, once the first server alone is past it
        held = await asyncpg.connect(second_server)
        pool = await asyncpg.create_pool(first_server, min_size=1, max_size=2)
        assert pool is not None
        try:
            tx = held.transaction()
            await tx.start()
            began = await held.fetchval("SELECT now()")  # the transaction's start, on its server's clock
            alone = InboxPruner(pool, [], keep_s=0, skew_s=0)
            both = InboxPruner(pool, [], keep_s=0, skew_s=0, others=[second_server])
            async with pool.acquire() as c:

                async def first_alone_is_past() -> bool:
                    return bool(await alone._horizon(c) > began)

                await eventually(first_alone_is_past, timeout=60, interval=0.5, what="the first server's horizon")
                assert await both._horizon(c) <= began
            await tx.rollback()
        finally:
            await pool.close()
            await held.close()
    finally:
        for proc in seconds:
            proc.stop()
