"""Benchmark: from `POST /tickets` to the ticket visible as assigned with its targets in the query
store, at rising offered load, with 1 or more instances of routing, sla and projections; next to
the raw Kafka round trip (produce -> a bare consumer) at the same rates, measured in the same run.

    .venv/bin/python -m bench.e2e [--rates 100,300,1000] [--seconds 10] [--instances 1] [--intake 1]

On a private topic prefix and database: starts intake (`--intake` processes; the load generator
spreads requests over them as a load balancer would), routing, sla and projections (`--instances`
each, one consumer group per service) as OS processes, registers 100 agents who can take every
ticket, then offers each rate for `--seconds`. A ticket is done when its row in the projections'
`tickets` table (what `GET /tickets/{id}` reads) has an owner and a first-response due time; a
watcher polls for that every 25 ms. Prints per rate: accepted/s, done/s, open->done p50/p99, POST
p50/p99, how long the backlog took to drain, what intake shed (503, overloaded) and other
errors, and the Kafka round trip p50/p99. Needs `make infra`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.corner import private_corner
from bench.load import paced, poster
from shared.domain.principal import SCOPES
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings
from shared.platform.topics import TopicSpec, delete_topics, ensure_topics
from tests.support import Proc, eventually, free_port

AGENTS = 100
CATEGORIES = ["order_status", "payment", "hardware", "software", "network", "account", "other"]


def agent(i: int) -> dict[str, object]:
    return {
        "id": f"agente{i:03d}",
        "name": f"Agente {i}",
        "email": f"agente{i}@soporte.bench",
        "skills": CATEGORIES,
        "level": 1,
        "capacity": 200,
        "languages": ["es", "en"],
    }


def body(n: int) -> dict[str, str]:
    return {
        "requester": f"cliente{n % 5000}@example.com",  # returning customers, as on a sale day
        "subject": f"Pedido {n} sin noticias",
        "description": "El seguimiento no se actualiza desde el lunes",
        "category": "order_status",
        "impact": "medium",
        "urgency": "medium",
    }


def cpu_seconds(procs: list[Proc]) -> dict[str, float]:
    """CPU time used so far (user + system) by each service, Kafka, PostgreSQL and this load
    generator, read from /proc (Linux): what each ticket costs where."""
    tick = os.sysconf("SC_CLK_TCK")
    names = {p.pid: p.name.rstrip("0123456789") for p in procs}
    names[os.getpid()] = "load generator"
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        name = names.get(pid) or {"java": "kafka", "postgres": "postgresql"}.get(comm)
        if name:
            used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return used


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Step:
    rate: float
    sent_at: dict[str, float] = field(default_factory=dict)  # ticket id -> when its POST began
    opened: dict[str, datetime] = field(default_factory=dict)  # the same, as wall-clock time
    post: list[float] = field(default_factory=list)
    done: dict[str, float] = field(default_factory=dict)  # ticket id -> open->visible seconds
    errors: int = 0
    shed: int = 0  # refused with 503 by intake's in-flight limit (overload), counted apart
    offered_for: float = 0.0
    last_done: float = 0.0


async def offer(urls: list[str], token: str, step: Step, seconds: float, first: int) -> None:
    spread = itertools.cycle(urls)  # several intakes: round robin, as a load balancer would
    # many connections, as many clients have: a flood reaches intake (which sheds what it cannot take)
    async with poster(token, connections=512 * len(urls)) as post:

        async def one(i: int) -> None:
            t0, wall = time.perf_counter(), datetime.now(UTC)
            status, answer = await post(f"{next(spread)}/tickets", body(first + i))
            if status == 503:
                step.shed += 1
                return
            if status != 201 or answer is None:
                step.errors += 1
                return
            step.post.append(time.perf_counter() - t0)
            tid = answer["id"]
            step.sent_at[tid], step.opened[tid] = t0, wall

        step.offered_for = await paced(step.rate, seconds, one)


async def watch(pool: asyncpg.Pool, step: Step, stop: asyncio.Event) -> None:
    """Marks tickets done when projections show them assigned with targets. The query reads only
    tickets opened since the oldest one still pending (by the `opened_at` index), so watching
    costs the database little next to what is measured."""
    while not stop.is_set() or len(step.done) < len(step.sent_at):
        pending = step.sent_at.keys() - step.done.keys()
        if pending:
            since = min(step.opened[t] for t in pending) - timedelta(seconds=2)
            rows = await pool.fetch(
                "SELECT id FROM projections.tickets WHERE opened_at >= $1"
                " AND owner IS NOT NULL AND first_response_due IS NOT NULL",
                since,
            )
            now = time.perf_counter()
            for r in rows:
                if r["id"] in pending:
                    step.done[r["id"]] = now - step.sent_at[r["id"]]
                    step.last_done = now
        if stop.is_set() and time.perf_counter() - max(step.last_done, 0) > 60:
            return  # what is not visible a minute after the last one is counted as lost
        await asyncio.sleep(0.025)


async def kafka_round_trip(settings: Settings, rate: float, seconds: float) -> list[float]:
    """Records produced at `rate` to a topic of their own, read back by a bare consumer: seconds
    from send to receipt (the floor under any end-to-end figure through Kafka)."""
    topic = settings.topic("bench.roundtrip")
    await ensure_topics(settings, [TopicSpec(topic, 1)])
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", linger_ms=0)
    consumer = AIOKafkaConsumer(topic, **settings.kafka(), auto_offset_reset="latest", fetch_max_wait_ms=5)
    await producer.start()
    await consumer.start()
    latencies: list[float] = []
    total = int(rate * seconds)
    try:

        async def assigned() -> bool | None:
            return bool(consumer.assignment()) or None

        await eventually(assigned, timeout=30, what="the round-trip consumer's partitions")
        await consumer.seek_to_end()

        async def read() -> None:
            while len(latencies) < total:
                batch = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for recs in batch.values():
                    latencies.extend(now - json.loads(r.value)["t"] for r in recs)

        reader = asyncio.create_task(read())
        start = time.perf_counter()
        for i in range(total):
            await producer.send(topic, json.dumps({"t": time.perf_counter()}).encode())
            await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
        await asyncio.wait_for(reader, 60)
    finally:
        await consumer.stop()
        await producer.stop()
        await delete_topics(settings, [topic])
    return latencies


async def main(rates: list[float], seconds: float, instances: int, intakes: int) -> dict[str, object]:
    """Runs the steps; returns the figures (for `--json`)."""
    async with private_corner("e2e") as (settings, env):
        logs = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        procs: list[Proc] = []
        intake_urls = []
        try:
            for i in range(intakes):
                port = free_port()
                intake_urls.append(f"http://127.0.0.1:{port}")
                procs.append(Proc("services.intake", env | {"INTAKE_PORT": str(port)}, logs, f"intake{i}", port))
            routing_port = free_port()
            for service in ("routing", "sla", "projections"):
                for i in range(instances):
                    port = routing_port if service == "routing" and i == 0 else free_port()
                    variable = f"{service.upper()}_PORT"
                    procs.append(Proc(f"services.{service}", env | {variable: str(port)}, logs, f"{service}{i}", port))
            for p in procs:
                p.start()
            for p in procs:
                await p.ready(120)
            token = Authenticator(settings).issue("service", "bench", scopes=SCOPES)
            async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {token}"}) as http:
                for i in range(AGENTS):
                    r = await http.post(f"http://127.0.0.1:{routing_port}/agents", json=agent(i))
                    assert r.status_code == 202, r.text
            pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
            assert pool is not None

            async def roster() -> bool | None:
                return await pool.fetchval("SELECT count(*) FROM routing.agents") >= AGENTS or None

            await eventually(roster, timeout=60, what="routing to know the roster")
            header = (
                f"{'offered/s':>9} {'accepted/s':>10} {'done/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'POST p50':>8}"
                f" {'POST p99':>8} {'drain s':>7} {'lost':>5} {'shed':>6} {'errors':>6}"
                f" {'kafka p50':>9} {'kafka p99':>9}"
            )
            print(f"instances of routing, sla, projections: {instances}; intake processes: {intakes}")
            print(header)
            n = 0
            costs: list[str] = []
            results: list[dict[str, object]] = []
            for rate in rates:
                step = Step(rate)
                cpu_before = cpu_seconds(procs)
                stop = asyncio.Event()
                watcher = asyncio.create_task(watch(pool, step, stop))
                t0 = time.perf_counter()
                await offer(intake_urls, token, step, seconds, n)
                stop.set()
                await watcher
                n += int(rate * seconds)
                took = max(step.last_done - t0, step.offered_for)
                cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds(procs).items()}
                per_ticket = ", ".join(
                    f"{k} {1000 * v / max(1, len(step.done)):.1f}"
                    for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])
                )
                lat = list(step.done.values())
                rt = await kafka_round_trip(settings, rate, min(seconds, 5))
                print(
                    f"{rate:>9.0f} {len(step.sent_at) / step.offered_for:>10.0f} {len(lat) / took:>7.0f}"
                    f" {pct(lat, 0.5):>7.0f} {pct(lat, 0.99):>7.0f} {pct(step.post, 0.5):>8.0f}"
                    f" {pct(step.post, 0.99):>8.0f} {max(0.0, step.last_done - t0 - step.offered_for):>7.1f}"
                    f" {len(step.sent_at) - len(lat):>5} {step.shed:>6} {step.errors:>6} {pct(rt, 0.5):>9.1f}"
                    f" {pct(rt, 0.99):>9.1f}",
                    flush=True,
                )
                ratio = pct(lat, 0.5) / max(pct(rt, 0.5), 1e-9)
                costs.append(f"{rate:>9.0f}/s: p50 is {ratio:.0f}x Kafka's round trip; CPU ms per ticket: {per_ticket}")
                results.append(
                    {
                        "offered": rate,
                        "accepted": len(step.sent_at) / step.offered_for,
                        "done": len(lat) / took,
                        "p50_ms": pct(lat, 0.5),
                        "p99_ms": pct(lat, 0.99),
                        "shed_per_s": step.shed / step.offered_for,
                        "kafka_p99_ms": pct(rt, 0.99),
                        "cpu_ms_per_ticket": {k: 1000 * v / max(1, len(step.done)) for k, v in cpu.items()},
                    }
                )
            await pool.close()
            print("\n".join(costs))
            print(
                f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()},"
                f" mean POST {statistics.fmean(step.post) * 1000 if step.post else float('nan'):.0f} ms (last step)"
            )
        finally:
            for p in procs:
                p.stop()
            print(f"service logs: {logs}")
    return {"instances": instances, "intake": intakes, "steps": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", default="100,300,1000")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--instances", type=int, default=1)
    parser.add_argument("--intake", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here (for bench.plot)")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    figures = asyncio.run(main(rates, args.seconds, args.instances, args.intake))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
