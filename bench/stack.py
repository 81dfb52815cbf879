"""Benchmark: the whole system as users meet it, against the stack `make up` runs (every service,
notify mailing to the dev sink, audit chaining), with a raw Kafka baseline measured in the same run.

    make up
    .venv/bin/python -m bench.stack --clients 50 --tickets 3000          # closed loop
    .venv/bin/python -m bench.stack --rate 100 --seconds 30              # open loop, paced
    .venv/bin/python -m bench.stack --curve 25,50,75,100 --out docs/bench/stack-curve.json
    .venv/bin/python -m bench.plot docs/bench/stack-curve.json --out docs/bench/stack-curve.png

Closed loop: `--clients` customers, each opening tickets one after another over a keep-alive
connection, `--tickets` in all. Open loop: `--rate` tickets a second for `--seconds`, whatever the
answers take. Registers `--agents` agents of capacity 200 (idempotent) so nothing queues.

What it reads, not what the services say of themselves:
- each ticket's `ticket.assigned` on the log (a consumer of its own on ticket.events, headers
  only, fetching lazily): open -> assigned latency, to the record's timestamp (when routing's
  relay handed it to the log);
- each ticket's "received" mail accepted by the SMTP sink (notify's ledger: status `sent`);
- CPU seconds of every process (the seven services, the mail sink, Kafka, PostgreSQL, this load
  generator) from /proc, before and after: CPU per ticket, whole system and by process;
- a bare aiokafka produce and consume of as many records of the same size, in the same run.
Prints a summary and writes it as JSON (`--out`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from bench.load import paced, poster
from bench.machine import reference_loop_s
from shared.domain.principal import SCOPES
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS, TopicSpec, delete_topics, ensure_topics
from shared.platform.topology import STATIONS
from tests.support import ROOT, eventually

RUN = ROOT / ".local" / "run"
CATEGORIES = ["order_status", "payment", "hardware", "software", "network", "account", "other"]


def agent(i: int) -> dict[str, object]:
    return {
        "id": f"venta{i:02d}",
        "name": f"Refuerzo {i}",
        "email": f"venta{i}@soporte.bench",
        "skills": CATEGORIES,
        "level": 1,
        "capacity": 200,
        "languages": ["es", "en"],
    }


def body(n: int, tag: str) -> dict[str, str]:
    return {
        "requester": f"cliente{n % 5000}@example.com",  # returning customers, as on a sale day
        "subject": f"Pedido {tag}-{n} sin noticias",
        "description": "El seguimiento no se actualiza desde el lunes y necesito el pedido para el viernes.",
        "category": "order_status",
        "impact": "medium",
        "urgency": "medium",
    }


# -- CPU from /proc ------------------------------------------------------------------------------


def _names() -> dict[int, str]:
    """pid -> what it is, for the processes `make up` started (their pid files)."""
    names = {}
    for f in RUN.glob("*.pid"):
        try:
            names[int(f.read_text().strip())] = f.stem
        except (OSError, ValueError):
            continue
    names[os.getpid()] = "load generator"
    return names


# processes `make up` starts that keep no pid file under .local/run (comm is cut at 15 characters)
_BY_COMMAND = {
    "java": "kafka",
    "postgres": "postgresql",
    "jaeger": "jaeger",
    "prometheus": "prometheus",
    "prometheus-aler": "alertmanager",
}


def cpu_seconds() -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    names = _names()
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        name = names.get(int(entry.name)) or _BY_COMMAND.get(comm)
        if name:
            # a process's own time and its waited-for children's (PostgreSQL's backends come and go)
            used[name] = used.get(name, 0.0) + sum(int(x) for x in fields[11:15]) / tick
    return used


def machine_busy() -> float:
    """Seconds of CPU the whole machine spent busy (all processes), from /proc/stat."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(x) for x in parts]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# -- the run -------------------------------------------------------------------------------------


@dataclass
class Run:
    opened_at: dict[str, float] = field(default_factory=dict)  # ticket id -> when its POST began (epoch s)
    post: list[float] = field(default_factory=list)
    # ticket id -> when routing's relay handed its first ticket.assigned to the log (the record's
    # timestamp, epoch s; same machine, same clock); under load a ticket is often assigned before
    # its POST has answered, so this holds any ticket's, matched at the end
    assigned_at: dict[str, float] = field(default_factory=dict)

    @property
    def assigned(self) -> dict[str, float]:
        """Ticket id -> open -> assigned seconds, for the tickets this run opened."""
        return {t: self.assigned_at[t] - at for t, at in self.opened_at.items() if t in self.assigned_at}

    @property
    def last_assigned(self) -> float:
        return max((self.assigned_at[t] for t in self.opened_at if t in self.assigned_at), default=0.0)

    errors: int = 0
    shed: int = 0


async def watch_assignments(settings: Settings, run: Run, ready: asyncio.Event, stop: asyncio.Event) -> None:
    """`ticket.assigned` on the log, read by headers alone (the record key is the ticket id)."""
    consumer = AIOKafkaConsumer(
        settings.topic(TICKET_EVENTS),
        **settings.kafka(),
        auto_offset_reset="latest",
        enable_auto_commit=False,
        # the latency is read from each record's timestamp, not from when this reader got it, so it
        # reads lazily: a fetch at most every half second, else one per record or two like a
        # service's, which cost the broker (counted as the system's) a fifth of its requests
        fetch_max_wait_ms=500,
        fetch_min_bytes=1 << 20,
    )
    await consumer.start()
    try:
        await eventually(lambda: _assigned(consumer), timeout=30, what="the watcher's partitions")
        await consumer.seek_to_end()
        ready.set()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    if dict(r.headers).get("ce_type") != b"ticket.assigned" or r.key is None:
                        continue
                    run.assigned_at.setdefault(r.key.decode(), r.timestamp / 1000)
    finally:
        await consumer.stop()


async def _assigned(consumer: AIOKafkaConsumer) -> bool:
    return bool(consumer.assignment())


async def open_ticket(post: Any, url: str, run: Run, n: int, tag: str) -> None:
    t0, began = time.perf_counter(), time.time()
    status, answer = await post(f"{url}/tickets", body(n, tag))
    if status == 503:
        run.shed += 1
        return
    if status != 201 or answer is None:
        run.errors += 1
        return
    run.post.append(time.perf_counter() - t0)
    run.opened_at.setdefault(answer["id"], began)


async def closed_loop(url: str, token: str, run: Run, clients: int, tickets: int, tag: str) -> float:
    counter = iter(range(tickets))
    async with poster(token, connections=clients) as post:

        async def customer() -> None:
            for n in counter:
                await open_ticket(post, url, run, n, tag)

        start = time.perf_counter()
        await asyncio.gather(*(customer() for _ in range(clients)))
        return time.perf_counter() - start


async def open_loop(url: str, token: str, run: Run, rate: float, seconds: float, tag: str) -> float:
    async with poster(token, connections=512) as post:
        return await paced(rate, seconds, lambda n: open_ticket(post, url, run, n, tag))


class Receipts:
    """The mail sink's `received.log`, read on from where it was at the start: which tickets' "received"
    mail the SMTP server accepted. (Counting notify's ledger instead cost PostgreSQL more than some
    services did: the measurement moved the figures.)"""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0
        self.tickets: set[str] = set()

    def mailed(self, ids: list[str]) -> int:
        if self.path.exists():
            with self.path.open("rb") as f:
                f.seek(self.offset)
                chunk = f.read()
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self.offset += len(complete)
            for line in complete.decode().splitlines():
                parts = line.split("\t")
                if len(parts) >= 4 and parts[-1] == "received":
                    self.tickets.add(parts[-2])
        return len(self.tickets.intersection(ids))


async def raw_baseline(settings: Settings, n: int, size: int) -> dict[str, float]:
    """A bare aiokafka producer and consumer moving `n` records of `size` bytes: the floor."""
    topic = settings.topic("bench.stack.raw")
    await ensure_topics(settings, [TopicSpec(topic, 3)])
    payload = b"x" * size
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", linger_ms=5, enable_idempotence=True)
    await producer.start()
    t0 = time.perf_counter()
    try:
        for i in range(n):
            await producer.send(topic, payload, key=str(i % 1000).encode())
        await producer.flush()
    finally:
        await producer.stop()
    produced = time.perf_counter() - t0
    consumer = AIOKafkaConsumer(topic, **settings.kafka(), auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got, t0 = 0, time.perf_counter()
    try:
        while got < n:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            got += sum(len(v) for v in batch.values())
    finally:
        await consumer.stop()
        await delete_topics(settings, [topic])
    consumed = time.perf_counter() - t0
    return {"produce_per_s": n / produced, "consume_per_s": n / consumed}


async def close_all(url: str, token: str, ids: list[str]) -> Counter[str]:
    """After the measurement: the run's tickets resolved and closed, so the agents' capacity is
    free for the next run (tickets left open would queue the next run's instead of assigning
    them). Returns why those that could not be closed were refused ("resolve 409
    not_allowed_in_status": count)."""
    refused: Counter[str] = Counter()
    async with poster(token, connections=16) as post:
        gate = asyncio.Semaphore(16)

        async def close(tid: str) -> None:
            async with gate:
                for command, body in (("resolve", {"summary": "bench"}), ("close", {"reason": "bench"})):
                    status, answer = await post(f"{url}/tickets/{tid}/{command}", body)
                    if status != 200:
                        refused[f"{command} {status} {(answer or {}).get('error', '')}".strip()] += 1
                        return

        await asyncio.gather(*(close(t) for t in ids))
    return refused


async def idle(pool: asyncpg.Connection, timeout: float) -> None:
    """Wait until the stack has nothing left to do from before (no mail waiting, every outbox
    drained): a previous run's clean-up sends thousands of mails, which would be measured here."""
    schemas = [s.name for s in STATIONS if s.name != "mailin"]
    backlog = " + ".join(f"(SELECT count(*) FROM {s}.outbox)" for s in schemas)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        waiting = await pool.fetchval(
            f"SELECT (SELECT count(*) FROM notify.deliveries WHERE status IN ('pending', 'sending')) + {backlog}"
        )
        if not waiting:
            return
        await asyncio.sleep(1)
    raise SystemExit(f"the stack is still busy after {timeout:g} s: {waiting} messages or events waiting")


async def register(settings: Settings, token: str, agents: int) -> None:
    routing = f"http://127.0.0.1:{settings.port('routing')}"
    async with httpx.AsyncClient(timeout=20, headers={"Authorization": f"Bearer {token}"}) as http:
        known = {a["id"] for a in (await http.get(f"{routing}/agents")).json()}
        for i in range(agents):
            if (a := agent(i))["id"] not in known:
                (await http.post(f"{routing}/agents", json=a)).raise_for_status()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    token = Authenticator(settings).issue("service", "bench", scopes=SCOPES, ttl_s=3600)
    url = f"http://127.0.0.1:{settings.port('intake')}"
    missing = [s.name for s in STATIONS if not (RUN / f"{s.name}.pid").exists()]
    if missing:
        raise SystemExit(f"start the stack first (make up): no {', '.join(missing)}")
    await register(settings, token, args.agents)
    pool = await asyncpg.connect(settings.database_url)
    await idle(pool, args.drain * 3)
    run, tag = Run(), datetime.now(UTC).strftime("%H%M%S")
    ready, stop = asyncio.Event(), asyncio.Event()
    watcher = asyncio.create_task(watch_assignments(settings, run, ready, stop))
    await asyncio.wait_for(ready.wait(), 30)
    receipts = Receipts(Path(os.environ.get("MESA_MAIL_DIR", ROOT / ".local" / "mail")) / "received.log")
    speed_before = reference_loop_s()  # outside the measured window: its CPU is not the stack's
    cpu0, busy0, t0, wall0 = cpu_seconds(), machine_busy(), time.perf_counter(), time.time()
    if args.rate:
        offered = await open_loop(url, token, run, args.rate, args.seconds, tag)
        shape = f"open loop, {args.rate:g}/s for {args.seconds:g} s"
    else:
        offered = await closed_loop(url, token, run, args.clients, args.tickets, tag)
        shape = f"closed loop, {args.clients} clients, {args.tickets} tickets"
    ids = list(run.opened_at)
    deadline, mailed_at = time.perf_counter() + args.drain, 0.0
    while time.perf_counter() < deadline:
        if all(t in run.assigned_at for t in ids) and receipts.mailed(ids) >= len(ids):
            mailed_at = time.perf_counter()
            break
        await asyncio.sleep(0.2)
    cpu1, busy1 = cpu_seconds(), machine_busy()
    stop.set()
    await watcher
    mailed = receipts.mailed(ids)
    speed_after = reference_loop_s()
    await pool.close()
    used = {k: cpu1.get(k, 0.0) - cpu0.get(k, 0.0) for k in cpu1}
    n = max(1, len(ids))
    service_cpu = sum(v for k, v in used.items() if k != "load generator")
    baseline = await raw_baseline(settings, max(len(ids), 1000), 1200)
    if args.cleanup and (refused := await close_all(url, token, ids)):
        why = ", ".join(f"{reason}: {n}" for reason, n in refused.most_common())
        print(f"{sum(refused.values())} tickets could not be closed ({why}): the next run may find agents at capacity")
    lat = list(run.assigned.values())
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}",
        # the machine's speed then (bench.machine): figures of runs with other readings differ
        "reference_loop_s": {"before": speed_before, "after": speed_after},
        "shape": shape,
        "opened": len(ids),
        "errors": run.errors,
        "shed": run.shed,
        "assigned": len(run.assigned),
        "mailed": mailed,
        "offered_s": round(offered, 2),
        "tickets_per_s": round(len(ids) / offered, 1),
        "assigned_per_s": round(len(run.assigned) / max(1e-9, run.last_assigned - wall0), 1),
        "mailed_per_s": round(mailed / (mailed_at - t0), 1) if mailed_at else None,
        "post_ms": {"p50": round(pct(run.post, 0.5), 1), "p99": round(pct(run.post, 0.99), 1)},
        "assigned_ms": {"p50": round(pct(lat, 0.5), 1), "p99": round(pct(lat, 0.99), 1)},
        "cpu_ms_per_ticket": {
            "system": round(1000 * service_cpu / n, 2),
            "machine": round(1000 * (busy1 - busy0) / n, 2),
            **{k: round(1000 * v / n, 2) for k, v in sorted(used.items(), key=lambda kv: -kv[1])},
        },
        "raw_kafka": {k: round(v) for k, v in baseline.items()},
        "mean_post_ms": round(1000 * statistics.fmean(run.post), 1) if run.post else None,
    }
    return result


async def curve(args: argparse.Namespace, rates: list[float]) -> dict[str, Any]:
    """Open loop at each rate in turn (the stack idle between steps), in the shape `bench.plot`
    draws: open -> assigned p50 and p99, and assignments a second, against the offered rate."""
    steps = []
    for rate in rates:
        args.rate = rate
        r = await main(args)
        print(json.dumps({"rate": rate, "assigned_ms": r["assigned_ms"], "cpu": r["cpu_ms_per_ticket"]["system"]}))
        steps.append(
            {
                "offered": rate,
                "p50_ms": r["assigned_ms"]["p50"],
                "p99_ms": r["assigned_ms"]["p99"],
                "done": r["assigned_per_s"],
                "cpu_ms_per_ticket": r["cpu_ms_per_ticket"]["system"],
                "assigned": r["assigned"],
                "opened": r["opened"],
                "reference_loop_s": r["reference_loop_s"],
            }
        )
    label = f"the whole stack as make up runs it, open loop, {args.seconds:g} s a step"
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "label": label, "steps": steps}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curve", default="", help="open loop at each of these rates in turn, e.g. 25,50,75,100")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--tickets", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: tickets a second (0: closed loop)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--drain", type=float, default=120.0, help="how long to wait for the last ones")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-cleanup", dest="cleanup", action="store_false", help="leave the tickets open")
    arguments = parser.parse_args()
    if arguments.curve:
        figures = asyncio.run(curve(arguments, [float(r) for r in arguments.curve.split(",")]))
    else:
        figures = asyncio.run(main(arguments))
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(text)
    if arguments.out and (arguments.curve or figures["opened"]):
        arguments.out.write_text(text + "\n")
