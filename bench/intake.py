"""Benchmark: tickets/s accepted by intake over HTTP at rising offered load, with latency, next to
raw aiokafka produce of the same events (the baseline) in the same run.

    .venv/bin/python -m bench.intake [--seconds 10] [--rates 50,100,200,400,800]

Starts intake as its own process on a private topic prefix and database; an asyncio load
generator (aiohttp, keep-alive, a service token) opens tickets at each offered rate for
`--seconds`; prints accepted/s, p50/p99 latency and errors per step. Needs `make infra`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from bench.corner import private_corner
from bench.load import paced, poster
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.domain.principal import SCOPES
from shared.platform.auth import Authenticator
from shared.platform.settings import Settings
from shared.platform.signing import load_signer
from shared.platform.topics import TICKET_EVENTS
from tests.support import Proc, free_port


def body(n: int) -> dict[str, str]:
    return {
        "requester": f"cliente{n}@example.com",
        "subject": f"Pedido {n} sin noticias",
        "description": "El seguimiento no se actualiza desde el lunes",
        "category": "order_status",
        "impact": "medium",
        "urgency": "medium",
    }


async def step(url: str, token: str, rate: float, seconds: float, first: int) -> tuple[int, list[float], int]:
    """Offer `rate` opens per second for `seconds`; (accepted, latencies in s, errors)."""
    latencies: list[float] = []
    errors = 0
    async with poster(token, timeout_s=30) as post:

        async def one(i: int) -> None:
            nonlocal errors
            t0 = time.perf_counter()
            status, _ = await post(f"{url}/tickets", body(first + i))
            if status == 201:
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

        await paced(rate, seconds, one)
    return len(latencies), latencies, errors


async def raw_produce(settings: Settings, n: int) -> float:
    """The same events straight to Kafka (what intake appends, signed as intake signs them,
    without HTTP, validation or DB)."""
    producer = AIOKafkaProducer(**settings.kafka(), acks="all", enable_idempotence=True, linger_ms=5)
    signer = load_signer(settings.signing_folder / "intake.key", "intake")
    await producer.start()
    topic = settings.topic(TICKET_EVENTS)
    now = datetime.now(UTC)
    start = time.perf_counter()
    try:
        for i in range(n):
            e = Envelope.new(
                ev.TicketOpened(ticket_id=f"T-RAW{i}", priority="P3", **body(i)),
                source="bench",
                subject=f"T-RAW{i}",
                time=now,
            )
            k, v, h = e.to_kafka()
            await producer.send(topic, v, key=k, headers=signer.sign(k, v, h))
        await producer.flush()
    finally:
        await producer.stop()
    return n / (time.perf_counter() - start)


async def main(seconds: float, rates: list[float]) -> None:
    async with private_corner("intake") as (settings, env):
        port = free_port()
        logs = Path(tempfile.mkdtemp(prefix="bench-intake-"))
        proc = Proc("services.intake", env | {"INTAKE_PORT": str(port)}, logs, "intake", port).start()
        try:
            await proc.ready(90)
            token = Authenticator(settings).issue("service", "bench", scopes=SCOPES)
            url = f"http://127.0.0.1:{port}"
            print(f"{'offered/s':>10} {'accepted/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
            n = 0
            best = 0.0
            for rate in rates:
                t0 = time.perf_counter()
                accepted, lat, errors = await step(url, token, rate, seconds, n)
                took = time.perf_counter() - t0
                n += int(rate * seconds)
                lat.sort()
                p50 = statistics.median(lat) * 1000 if lat else float("nan")
                p99 = lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000 if lat else float("nan")
                print(f"{rate:>10.0f} {accepted / took:>11.0f} {p50:>8.1f} {p99:>8.1f} {errors:>7}")
                best = max(best, accepted / took)
            raw = await raw_produce(settings, 20_000)
            print(f"raw aiokafka produce of TicketOpened: {raw:,.0f} events/s")
            print(f"ratio: the most intake accepted, {best:,.0f}/s, is {100 * best / raw:.1f}% of raw produce")
            print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")
        finally:
            proc.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rates", default="50,100,200,400,800")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [float(r) for r in args.rates.split(",")]))
