"""Benchmark: messages per second to a local SMTP sink, and the lag from event to accepted mail.

    .venv/bin/python -m bench.notify [--tickets 1000] [--comments 9]

Starts notify as its own process against a private topic prefix and database, and an SMTP sink
in this process; then produces, per ticket, `ticket.opened` and `--comments` public agent
comments (each one an "update" mail to the requester): 10,000 events and 9,000 mails by default.
Reports mails per second and the lag from each event's time to its mail's arrival (p50/p99).
Needs `make infra`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from aiosmtpd.controller import Controller

from bench.corner import private_corner
from bench.relays import write
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.settings import Settings
from tests.support import Proc, free_port

# The sink is the instrument, on the same two cores as notify: it finds the one header it needs
# in the bytes (parsing every message with `email` cost it 0.9 ms a mail, as much as notify's).
EVENT_HEADER = re.compile(rb"^X-Mesa-Event: *([^\r\n]+)", re.MULTILINE)


class Sink:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = EVENT_HEADER.search(envelope.original_content or envelope.content)
        if found is None:
            return "550 no X-Mesa-Event header"
        self.arrivals[found.group(1).decode()] = time.time()
        return "250 OK"


async def main(tickets: int, comments: int, instances: int) -> None:
    async with private_corner("n") as (settings, env):
        await _run(settings, env, tickets, comments, instances)


async def _run(settings: Settings, env: dict[str, str], tickets: int, comments: int, instances: int) -> None:
    sink, smtp_port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port, loop=uvloop.new_event_loop())
    controller.start()
    logs = Path(f"/tmp/mesa-bench-{settings.topic_prefix.rstrip('.')}")
    os.makedirs(logs)
    procs = []
    for i in range(instances):  # as ops scale notify: instances in one consumer group, one ledger
        port = free_port()
        extra = {"NOTIFY_PORT": str(port), "NOTIFY_SMTP_PORT": str(smtp_port)}
        procs.append(Proc("services.notify", env | extra, logs, f"notify{i}", port))
    try:
        for proc in procs:
            proc.start()
        for proc in procs:
            await proc.ready(90)
        events: list[Envelope] = []
        sent_at: dict[str, float] = {}
        for i in range(tickets):
            tid = f"T-{i}"
            now = datetime.now(UTC)
            events.append(
                Envelope.new(
                    ev.TicketOpened(
                        ticket_id=tid,
                        requester=f"c{i}@example.com",
                        subject="s",
                        description="d",
                        category="other",
                        impact="low",
                        urgency="low",
                        priority="P4",
                    ),
                    source="bench",
                    subject=tid,
                    time=now,
                )
            )
            for j in range(comments):
                body = ev.TicketCommented(ticket_id=tid, author="ana", author_role="agent", body=f"avance {j}")
                events.append(Envelope.new(body, source="bench", subject=tid, time=now))
        t0 = time.time()
        for e in events:
            sent_at[str(e.id)] = e.time.timestamp()
        await write(settings, events)  # signed in batches, as intake's relay writes them
        expected = tickets * comments
        while len(sink.arrivals) < expected:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        done = max(sink.arrivals.values())
        lags = [arrived - sent_at[eid] for eid, arrived in sink.arrivals.items()]
        q = statistics.quantiles(lags, n=100)
        print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores")
        print(
            f"{len(events)} events, {expected} mails in {done - t0:.1f}s: {expected / (done - t0):,.0f} mails/s; "
            f"lag event -> accepted p50 {q[49]:.2f}s, p99 {q[98]:.2f}s"
        )
    finally:
        for proc in procs:
            proc.stop()
        controller.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--comments", type=int, default=9)
    parser.add_argument("--instances", type=int, default=1, help="notify processes, as ops scale it")
    a = parser.parse_args()
    asyncio.run(main(a.tickets, a.comments, a.instances))
