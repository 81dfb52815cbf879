"""Benchmark: the floor under a ticket's CPU, what the stack's plumbing costs with no logic in it.

    make infra        # Kafka and PostgreSQL (stop the services first: make down && make infra)
    .venv/bin/python -m bench.floor [--n 5000] [--out floor.json]

`bench.stack` measures what a ticket costs the whole system. This measures, each part alone, the
CPU of what every ticket passes through in this design, on the same machine and software:
- an HTTP POST: one FastAPI route (a pydantic body, a 201 JSON answer) served by uvicorn with
  httptools on uvloop, as the services run; 50 keep-alive clients (`bench.load`). The server's CPU.
- a PostgreSQL transaction: BEGIN, one INSERT of a 300-byte row, COMMIT, durable (synchronous
  commit) and lazy, on 16 connections: the server's processes and the client's (asyncpg, uvloop).
- a Kafka record: produced as the relays produce (idempotent, acks=all), and read once by a
  consumer (`getmany`): the broker's CPU and each client's.
- a mail: written as notify writes it (`services.notify.mime`) and sent as notify sends it
  (aiosmtplib, MAIL, RCPT, DATA on a kept connection, four connections) to an aiosmtpd server
  that keeps nothing: both sides.
- a record's signature checked and its envelope decoded, as every consumer of Mesa's events does
  (`bench.decode`: the log's order, the relays' batches), once per delivery.
Each part's CPU is net of what the same processes spend idle over as long (the broker's ticks).
Then a ticket is composed from them with the counts the stack pays per ticket (`--shape`: POSTs,
transactions, records produced, records delivered to consumers, mails), and the floor printed
beside issue 22's target of 8 ms. Run with nothing else busy: the parts are measured one by one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
import asyncpg
import uvloop
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import BaseModel

from bench import decode as decode_bench
from bench.load import poster
from bench.machine import reference_loop_s
from bench.stack import cpu_seconds
from services.notify import mime
from shared.platform.consumer import verified_events
from shared.platform.settings import Settings
from shared.platform.signing import Trust
from shared.platform.topics import TopicSpec, delete_topics, ensure_topics

# What a ticket pays in bench.stack's closed loop (2026-12-02, the seventeenth and eighteenth
# rounds: PostgreSQL's statement log grouped by transaction, the services' /metrics counters over
# 1,000 tickets, the load's two mails): a POST; 8.9 transactions; five records on ticket.events
# (opened, assigned, targets set, two mails sent), each read by the six consumer groups.
SHAPE = {"posts": 1.0, "transactions": 8.9, "records": 5.0, "deliveries": 30.0, "mails": 2.0}
TARGET_MS = 8.0


def proc_cpu(pid: int) -> float:
    """CPU seconds a process has spent (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    return time.process_time()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measured(
    work: Callable[[], Awaitable[None]], meters: dict[str, Callable[[], float]], idle_s: float = 2.0
) -> dict[str, float]:
    """CPU seconds each meter moved during `work`, net of its idle rate over `idle_s` before."""
    before = {k: m() for k, m in meters.items()}
    await asyncio.sleep(idle_s)
    idle = {k: (m() - before[k]) / idle_s for k, m in meters.items()}
    start = {k: m() for k, m in meters.items()}
    t0 = time.perf_counter()
    await work()
    took = time.perf_counter() - t0
    return {k: max(0.0, m() - start[k] - idle[k] * took) for k, m in meters.items()}


def _serve(kind: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.floor", f"--serve-{kind}", str(port)])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the {kind} server did not start")


# -- the parts ------------------------------------------------------------------------------------


async def http_post(n: int) -> dict[str, float]:
    port = free_port()
    server = _serve("http", port)
    try:
        body = {"requester": "cliente1@example.com", "subject": "Pedido sin noticias", "description": "x" * 90}
        async with poster("t", connections=50) as post:
            await post(f"http://127.0.0.1:{port}/tickets", body)  # connections made, code warm
            gate = asyncio.Semaphore(50)

            async def one() -> None:
                async with gate:
                    status, _ = await post(f"http://127.0.0.1:{port}/tickets", body)
                    assert status == 201, status

            async def work() -> None:
                await asyncio.gather(*(one() for _ in range(n)))

            used = await measured(work, {"server": lambda: proc_cpu(server.pid)})
    finally:
        server.terminate()
        server.wait()
    return {"server_us": 1e6 * used["server"] / n}


async def pg_transaction(settings: Settings, n: int, durable: bool) -> dict[str, float]:
    pool = await asyncpg.create_pool(settings.database_url, min_size=16, max_size=16)
    try:
        await pool.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, body text)")
        row = "x" * 300
        gate = asyncio.Semaphore(16)

        async def one() -> None:
            async with gate, pool.acquire() as conn, conn.transaction():
                if not durable:
                    await conn.execute("SET LOCAL synchronous_commit = off")
                await conn.execute("INSERT INTO bench_floor(body) VALUES ($1)", row)

        async def work() -> None:
            await asyncio.gather(*(one() for _ in range(n)))

        await work()  # warm: the pool's statements prepared
        used = await measured(work, {"server": lambda: cpu_seconds().get("postgresql", 0.0), "client": own_cpu})
        await pool.execute("DROP TABLE bench_floor")
    finally:
        await pool.close()
    return {"server_us": 1e6 * used["server"] / n, "client_us": 1e6 * used["client"] / n}


async def kafka_record(settings: Settings, n: int) -> dict[str, float]:
    topic = settings.topic("bench.floor")
    await ensure_topics(settings, [TopicSpec(topic, 3)])
    value = b"x" * 600  # an event's value with its CloudEvents headers, about
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", linger_ms=5, enable_idempotence=True)
    consumer = AIOKafkaConsumer(topic, **settings.kafka(), auto_offset_reset="earliest", enable_auto_commit=False)
    broker = {"broker": lambda: cpu_seconds().get("kafka", 0.0)}
    try:
        await producer.start()

        async def produce() -> None:
            futures = [await producer.send(topic, value, key=str(i % 1000).encode()) for i in range(n)]
            await asyncio.gather(*futures)

        sent = await measured(produce, {**broker, "client": own_cpu})
        await consumer.start()

        async def consume() -> None:
            got = 0
            while got < n:
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                got += sum(len(v) for v in batch.values())

        read = await measured(consume, {**broker, "client": own_cpu})
    finally:
        await producer.stop()
        await consumer.stop()
        await delete_topics(settings, [topic])
    return {
        "produce_broker_us": 1e6 * sent["broker"] / n,
        "produce_client_us": 1e6 * sent["client"] / n,
        "deliver_broker_us": 1e6 * read["broker"] / n,
        "deliver_client_us": 1e6 * read["client"] / n,
    }


async def mail(n: int) -> dict[str, float]:
    port = free_port()
    server = _serve("smtp", port)
    headers = [("From", "soporte@mesa.test"), ("To", "cliente@example.com"), ("Subject", "Hemos recibido tu ticket")]
    text = "Hola,\n\n" + "Tu ticket T-1 ha sido recibido. " * 60
    html = f"<p>{text}</p>"
    clients = [aiosmtplib.SMTP(hostname="127.0.0.1", port=port) for _ in range(4)]
    try:
        for c in clients:
            await c.connect()

        async def work() -> None:
            async def lane(c: aiosmtplib.SMTP, k: int) -> None:
                for _ in range(k):  # as notify sends (services/notify/delivery._send_mail)
                    await c.mail("soporte@mesa.test")
                    await c.rcpt("cliente@example.com")
                    await c.data(mime.alternative(headers, text, html))

            await asyncio.gather(*(lane(c, n // len(clients)) for c in clients))

        used = await measured(work, {"server": lambda: proc_cpu(server.pid), "client": own_cpu})
    finally:
        for c in clients:
            await c.quit()
        server.terminate()
        server.wait()
    sent = n // len(clients) * len(clients)
    return {"server_us": 1e6 * used["server"] / sent, "client_us": 1e6 * used["client"] / sent}


def verified_decode(n: int) -> dict[str, float]:
    recs, trust = decode_bench.records(n)
    decode = verified_events(Trust(dict(trust.keys), dict(trust.cutover)))
    start = own_cpu()
    for r in recs:
        decode(r)
    return {"client_us": 1e6 * (own_cpu() - start) / len(recs)}


# -- the servers, each in a process of its own ------------------------------------------------------


class Opened(BaseModel):
    requester: str
    subject: str
    description: str


def serve_http(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/tickets", status_code=201)
    async def open_ticket(body: Opened) -> dict[str, str]:
        return {"ticket_id": "T-1", "status": "new", "subject": body.subject}

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False, http="httptools", loop="uvloop")


def serve_smtp(port: int) -> None:
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port, loop=uvloop.new_event_loop())
    controller.start()
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


# -- the composition ------------------------------------------------------------------------------


def compose(parts: dict[str, dict[str, float]], shape: dict[str, float]) -> dict[str, float]:
    """ms of CPU a ticket of `shape` costs in plumbing alone, by part."""
    k, pg, http, smtp = parts["kafka"], parts["pg_durable"], parts["http"], parts["mail"]
    us = {
        "HTTP": shape["posts"] * http["server_us"],
        "PostgreSQL": shape["transactions"] * pg["server_us"],
        "database client": shape["transactions"] * pg["client_us"],
        "Kafka broker": shape["records"] * k["produce_broker_us"] + shape["deliveries"] * k["deliver_broker_us"],
        "Kafka clients": shape["records"] * k["produce_client_us"] + shape["deliveries"] * k["deliver_client_us"],
        "signature and decode": shape["deliveries"] * parts["decode"]["client_us"],
        "SMTP": shape["mails"] * (smtp["server_us"] + smtp["client_us"]),
    }
    return {name: round(v / 1000, 3) for name, v in us.items()} | {"floor": round(sum(us.values()) / 1000, 2)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    settings = Settings()
    speed = reference_loop_s()
    parts = {
        "http": await http_post(args.n),
        "pg_durable": await pg_transaction(settings, args.n, durable=True),
        "pg_lazy": await pg_transaction(settings, args.n, durable=False),
        "kafka": await kafka_record(settings, args.n * 4),
        "mail": await mail(args.n),
        "decode": verified_decode(args.n * 4),
    }
    parts = {k: {m: round(v, 1) for m, v in p.items()} for k, p in parts.items()}
    shape = SHAPE | {k: v for k, v in (args.shape or {}).items() if k in SHAPE}
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {os.cpu_count()} cores, {platform.python_version()}",
        "reference_loop_s": {"before": speed, "after": reference_loop_s()},
        "us_per_unit": parts,
        "ticket_shape": shape,
        "ms_per_ticket": compose(parts, shape),
        "target_ms": TARGET_MS,
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="requests, transactions and mails (records: 4x)")
    parser.add_argument("--shape", type=json.loads, help="per-ticket counts, e.g. '{\"transactions\": 8.9}'")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--serve-http", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-smtp", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_http:
        serve_http(args.serve_http)
        return
    if args.serve_smtp:
        serve_smtp(args.serve_smtp)
        return
    result = uvloop.run(main(args))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    cli()
