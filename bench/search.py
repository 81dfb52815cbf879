"""Benchmark: the agent's lists and search with a year of tickets, through the projections
service over HTTP, next to the same SQL asked straight of PostgreSQL (the baseline) in the run.

    .venv/bin/python -m bench.search [--tickets 100000] [--queries 300]

Starts projections as its own process in a private database; loads `--tickets` rows into its
read model with COPY (the read path is what is measured: folding a year of events through the
whole pipeline would take hours and measure something else, see bench.e2e), with Spanish
subjects, descriptions and conversations, order numbers, tags, 20,000 requesters, 60 agents, a
year of dates and every status. Then, as a supervisor and as an agent (the one access rule in
the query): words, order numbers, tag filters, the console's first page (HTML) and page 20 by
cursor. Prints p50/p95/p99 per shape. Needs `make infra`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.corner import private_corner
from services.projections import listing, store
from shared.domain.principal import Principal
from shared.platform.auth import SESSION_COOKIE, Authenticator
from tests.support import Proc, free_port

WORDS = tuple(
    [
        "pedido",
        "paquete",
        "devolución",
        "reembolso",
        "factura",
        "talla",
        "color",
        "envío",
        "transportista",
        "retraso",
        "roto",
        "dañado",
        "tarjeta",
        "pago",
        "cobro",
        "doble",
        "cuenta",
        "contraseña",
        "acceso",
        "móvil",
        "aplicación",
        "tienda",
        "cupón",
        "descuento",
        "garantía",
        "cargador",
        "pantalla",
        "batería",
        "auriculares",
        "portátil",
        "tablet",
        "impresora",
        "router",
        "wifi",
        "conexión",
        "seguimiento",
        "dirección",
        "entrega",
        "recogida",
        "oficina",
        "cambio",
        "producto",
        "defectuoso",
        "caja",
        "precio",
        "oferta",
        "stock",
        "agotado",
    ]
)
ENGLISH = tuple(
    [
        "order",
        "parcel",
        "refund",
        "invoice",
        "size",
        "delivery",
        "broken",
        "payment",
        "account",
        "password",
        "screen",
        "battery",
    ]
)
STATUSES = ["new", "assigned", "in_progress", "waiting_on_customer", "resolved", "closed", "closed", "closed"]
CATEGORIES = ["order_status", "payment", "account", "hardware", "software", "network", "other"]
TAGS = ["seur", "correos", "mrw", "devolucion", "vip", "campaña_navidad", "talla", "garantia", "fraude", "b2b"]


def sentence(rng: random.Random, n: int) -> str:
    pool = ENGLISH if rng.random() < 0.1 else WORDS
    return " ".join(rng.choice(pool) for _ in range(n)).capitalize() + "."


def rows(n: int, seed: int = 7) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    out: list[tuple[Any, ...]] = []
    for i in range(n):
        opened = now - timedelta(minutes=rng.randrange(365 * 24 * 60))
        status = rng.choice(STATUSES)
        owner = None if status == "new" else f"agente{rng.randrange(60)}"
        frd = opened + timedelta(hours=rng.choice([1, 4, 8, 24]))
        out.append(
            (
                f"T-{i:08d}",
                f"R-{rng.randrange(20_000):06d}",
                sentence(rng, 4),
                sentence(rng, 25),
                status,
                rng.choice(CATEGORIES),
                rng.choice(["P1", "P2", "P3", "P4"]),
                owner,
                1,
                12,
                "{}",
                opened,
                opened + timedelta(hours=rng.randrange(1, 200)),
                frd,
                frd + timedelta(days=2),
                None if status == "new" else frd - timedelta(minutes=30),
                "met" if status in ("resolved", "closed") else "running",
                [],
                rng.sample(TAGS, rng.randrange(0, 3)),
                f"PED-{rng.randrange(10**7):07d}" if rng.random() < 0.6 else None,
                "\n".join(sentence(rng, 15) for _ in range(rng.randrange(1, 6))),
                sentence(rng, 10) if rng.random() < 0.3 else "",
            )
        )
    return out


COLUMNS = [
    "id", "requester", "subject", "description", "status", "category", "priority", "owner", "level", "version",
    "state", "opened_at", "updated_at", "first_response_due", "resolution_due", "first_response_at", "sla_state",
    "breached", "tags", "order_id", "conversation_public", "conversation_internal",
]  # fmt: skip


async def load(database_url: str, n: int) -> list[tuple[Any, ...]]:
    data = rows(n)
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "projections"})
    try:
        for i in range(0, n, 10_000):
            await conn.copy_records_to_table("tickets", records=data[i : i + 10_000], columns=COLUMNS)
        await conn.execute(
            "INSERT INTO agents(id, name, email, skills, level, capacity, teams)"
            " SELECT 'agente' || g, 'Agente ' || g, 'a' || g || '@mesa.test', '{}', 1, 20, ARRAY['equipo' || (g / 10)]"
            " FROM generate_series(0, 59) g ON CONFLICT DO NOTHING"
        )
        await conn.execute("ANALYZE tickets")
    finally:
        await conn.close()
    return data


async def timed(n: int, one: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        await one(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def line(name: str, ms: list[float]) -> str:
    ms = sorted(ms)

    def pick(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return f"{name:<44} {statistics.median(ms):>7.1f} {pick(0.95):>7.1f} {pick(0.99):>7.1f}"


async def main(tickets: int, queries: int) -> None:
    async with private_corner("search") as (settings, env):
        port = free_port()
        logs = Path(tempfile.mkdtemp(prefix="bench-search-"))
        proc = Proc("services.projections", env | {"PROJECTIONS_PORT": str(port)}, logs, "projections", port).start()
        try:
            await proc.ready(90)
            t0 = time.perf_counter()
            data = await load(env["DATABASE_URL"], tickets)
            print(f"loaded {tickets:,} tickets into the read model in {time.perf_counter() - t0:.1f} s")
            auth = Authenticator(settings)
            url = f"http://127.0.0.1:{port}"
            rng = random.Random(11)
            orders = [r[19] for r in data if r[19]]
            sup = {"Authorization": f"Bearer {auth.issue('supervisor', 'sara')}"}
            agent = {"Authorization": f"Bearer {auth.issue('agent', 'agente7')}"}
            print(f"{'shape (ms)':<44} {'p50':>7} {'p95':>7} {'p99':>7}")
            async with httpx.AsyncClient(timeout=30) as http:

                async def get(path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
                    r = await http.get(f"{url}{path}", params=params, headers=headers)
                    assert r.status_code == 200, r.text[:300]
                    return r

                words = [" ".join(rng.sample(WORDS, rng.choice([1, 2]))) for _ in range(queries)]
                shapes: list[tuple[str, Callable[[int], Awaitable[Any]]]] = [
                    ("API search, 1-2 words, supervisor", lambda i: get("/tickets", sup, q=words[i])),
                    ("API search, 1-2 words, agent (own+queue)", lambda i: get("/tickets", agent, q=words[i])),
                    ("API order number", lambda i: get("/tickets", sup, q=rng.choice(orders))),
                    ("API tag + open status, by due", lambda i: get(
                        "/tickets", sup, tag=rng.choice(TAGS), status=["assigned", "in_progress"], sort="due")),
                    ("API first page, no filter", lambda i: get("/tickets", sup)),
                ]  # fmt: skip
                for name, one in shapes:
                    await one(0)  # warm
                    print(line(name, await timed(queries, one)))
                cursor: str | None = None
                deep: list[float] = []
                for _ in range(20):
                    t_ = time.perf_counter()
                    params: dict[str, Any] = {"sort": "-updated", **({"cursor": cursor} if cursor else {})}
                    cursor = (await get("/tickets", sup, **params)).json()["next"]
                    deep.append((time.perf_counter() - t_) * 1000)
                print(line("API pages 1-20 by cursor (each)", deep))
                cookies = {SESSION_COOKIE: auth.issue("supervisor", "sara")}
                http.cookies.update(cookies)
                first = await timed(queries // 3, lambda i: get("/console", {}, scope="all"))
                print(line("console first page (HTML), all open", first))
                found = await timed(queries // 3, lambda i: get("/console", {}, scope="all", q=words[i]))
                print(line("console search (HTML)", found))
            # the baseline: the same listing SQL straight to PostgreSQL, no HTTP, no rendering
            pool = await asyncpg.create_pool(
                env["DATABASE_URL"], min_size=1, max_size=2, server_settings={"search_path": "projections"}
            )
            try:
                who = Principal("supervisor", "sara")

                async def raw(i: int) -> None:
                    await store.listing(pool, who, [], listing.Query(words=words[i]))

                print(line("baseline: the same listing, asyncpg, no HTTP", await timed(queries, raw)))
            finally:
                await pool.close()
            print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")
        finally:
            proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(main(args.tickets, args.queries))
