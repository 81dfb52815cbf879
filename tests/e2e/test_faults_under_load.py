"""Faults under a steady load of tickets: each service SIGKILLed and restarted in turn, one frozen
(SIGSTOP) past its consumer session timeout, the Kafka broker and PostgreSQL restarted (a broker
and a server of this module's own, started by the project's scripts: the other modules, on the
other pytest worker, go on with the suite's). Then:
every ticket opened is present, assigned exactly once, has its targets, its requester got exactly
one "received" mail, and the projections equal a replay of the log. The short form runs in CI;
`FAULTS_TICKETS_PER_S` raises the load."""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from ops import replay
from shared.platform.consumer import decode_event
from shared.platform.topics import TICKET_EVENTS
from shared.platform.topology import STATIONS
from tests.conftest import Infra, Isolated, isolate
from tests.e2e.conftest import Mesa, register_roster
from tests.kafka_tools import read_all
from tests.support import ROOT, client, eventually, every_ticket, worker_number

pytestmark = pytest.mark.timeout(600)
RATE = float(os.environ.get("FAULTS_TICKETS_PER_S", "8"))
SESSION_TIMEOUT_S = 10  # shared.platform.bus.make_consumer

SERVICES = tuple(s.name for s in STATIONS)


@dataclass
class Load:
    """Opens tickets at a steady rate through intake; a failed POST is retried with the same
    Idempotency-Key until intake answers, as a careful client would."""

    mesa: Mesa
    opened: dict[str, str] = field(default_factory=dict)  # idempotency key -> ticket id
    acked_at: dict[str, float] = field(default_factory=dict)  # ticket id -> when intake answered (monotonic)
    retries: int = 0
    running: bool = True

    async def one(self, http: httpx.AsyncClient, n: int) -> None:
        key = str(uuid.uuid4())
        body = {
            "requester": f"carga{n}@example.com",
            "subject": f"Pedido {n} sin noticias",
            "description": "Carga constante durante los fallos",
            "category": "order_status",
            "impact": "low",
            "urgency": "low",
        }
        while True:
            try:
                r = await http.post(f"{self.mesa.url('intake')}/tickets", json=body, headers={"Idempotency-Key": key})
                if r.status_code in (200, 201):
                    self.opened[key] = r.json()["id"]
                    self.acked_at.setdefault(self.opened[key], time.monotonic())
                    return
            except httpx.HTTPError:
                pass
            self.retries += 1
            await eventually(lambda: self.intake_answers(http), timeout=120, interval=0.2, what="intake back")

    async def intake_answers(self, http: httpx.AsyncClient) -> bool:
        try:
            return (await http.get(f"{self.mesa.url('intake')}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def run(self) -> None:
        pending: set[asyncio.Task[None]] = set()
        async with client(timeout=10) as http:
            n = 0
            start = time.monotonic()
            while self.running:
                n += 1
                task = asyncio.create_task(self.one(http, n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(max(0.0, start + n / RATE - time.monotonic()))  # the pace of the load
            if pending:
                await asyncio.gather(*pending)


@dataclass(frozen=True)
class Servers:
    """A Kafka broker and a PostgreSQL server in a folder of their own, run by `deploy/`'s scripts."""

    local: Path
    kafka_port: int
    pg_port: int

    @property
    def env(self) -> dict[str, str]:
        return {
            "MESA_LOCAL": str(self.local),
            "KAFKA_BROKERS": "1",
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_HEAP": "-Xms128m -Xmx384m",
            "PG_SERVERS": "1",
            "PG_PORT": str(self.pg_port),
        }

    async def script(self, script: str, action: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            "bash", str(ROOT / "deploy" / script), action, env={**os.environ, **self.env}
        )
        assert await proc.wait() == 0, f"{script} {action}"


@pytest.fixture(scope="module")
async def servers() -> AsyncIterator[Servers]:
    # beside the checkout's own servers (PostgreSQL runs as its own user: pytest's temporary
    # folders are closed to it); ports apart from the suite's (9092, 15432) and the cluster's
    # (19092 on), per pytest worker
    n = worker_number()
    own = Servers(ROOT / ".local" / f"faults-{n}", 19292 + 10 * n, 15532 + 10 * n)
    shutil.rmtree(own.local, ignore_errors=True)  # what a killed run left
    own.local.mkdir(parents=True)
    try:
        for script in ("kafka.sh", "postgres.sh"):
            await own.script(script, "start")
        yield own
    finally:
        for script in ("kafka.sh", "postgres.sh"):
            await own.script(script, "stop")
        shutil.rmtree(own.local, ignore_errors=True)


@pytest.fixture(scope="module")
async def isolated(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Isolated]:
    """The module's corner on its own broker and server, which the test restarts."""
    infra = Infra(
        f"127.0.0.1:{servers.kafka_port}",
        f"postgresql://mesa:mesa@127.0.0.1:{servers.pg_port}/mesa",
        {"MESA_KAFKA_CREDENTIALS": str(servers.local / "kafka")},
    )
    async with isolate(infra, 3, tmp_path_factory.mktemp("logs")) as iso:
        yield iso


async def restart(servers: Servers, script: str) -> str:
    for action in ("stop", "start"):
        await servers.script(script, action)
    return "restarted"


async def revive(mesa: Mesa) -> list[str]:
    """A service that exited on its own (fail-fast after a lost dependency) is started again, as
    its supervisor would; the names are reported."""
    revived = []
    for name, proc in list(mesa.procs.items()):
        if not proc.alive():
            revived.append(name)
            await mesa.start(name)
    return revived


async def check(mesa: Mesa, load: Load, *, full: bool, notify_interruptions: int = 1) -> dict[str, Any]:
    ids = set(load.opened.values())
    missing: dict[str, str] = {}  # ticket id -> what its view lacks, at the last look

    async def complete() -> dict[str, Any] | None:
        async with client(timeout=20) as http:
            seen = {t["id"]: t for t in await every_ticket(http, mesa.url("projections"))}
        missing.clear()
        for tid in ids:
            view = seen.get(tid)
            lack = "no view" if view is None else "no owner" if not view["owner"] else None
            if view is not None and lack is None and not view["sla"]["first_response_due"]:
                lack = "no targets"
            if lack:
                missing[tid] = lack
        return seen if not missing else None

    try:
        seen = await eventually(complete, timeout=120, interval=1, what=f"{len(ids)} tickets assigned with targets")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await diagnosis(mesa, missing, len(ids))}") from None
    assert len(ids) == len(load.opened)  # one ticket per logical open, retries included
    facts: dict[str, Any] = {"tickets": len(ids)}
    if not full:
        return facts
    async with client(timeout=20) as http:
        assigned: Counter[int] = Counter()
        for tid in ids:
            t = (await http.get(f"{mesa.url('projections')}/tickets/{tid}")).json()
            assigned[sum(1 for e in t["timeline"] if e["type"] == "ticket.assigned")] += 1
    assert assigned == Counter({1: len(ids)}), f"assignments per ticket: {assigned}"

    receipts = mesa.mail_dir / "received.log"

    def acknowledgements() -> list[tuple[str, str]]:
        """(Message-ID, recipient) of every acceptance of a "received" mail by the SMTP sink."""
        lines = receipts.read_text().splitlines() if receipts.exists() else []
        return [(parts[0], parts[1]) for parts in (line.split("\t") for line in lines) if parts[-1] == "received"]

    async def one_received_each() -> list[tuple[str, str]] | None:
        got = acknowledgements()
        return got if {seen[t]["requester"] for t in ids} <= {to for _, to in got} else None

    got = await eventually(one_received_each, timeout=120, interval=1, what="a received mail per requester")
    # what each requester's mailbox holds: one acknowledgement (mail clients, like the sink, keep
    # one copy per Message-ID), never two different ones
    distinct = Counter(to for _, to in set(got))
    twice = {r: n for r, n in distinct.items() if n != 1 and r.startswith("carga")}
    assert not twice, f"requesters with two different acknowledgements: {twice}"
    # SMTP has no exactly-once: a notify killed between the server's "250 OK" and recording it
    # sends that message again (same Message-ID) when its lease runs out. One interruption (a
    # kill, or an exit when PostgreSQL went away mid-batch), at most one message per connection.
    resent = len(got) - len({mid for mid, _ in got})
    in_flight = mesa.iso.settings.notify_smtp_connections
    assert resent <= notify_interruptions * in_flight, (
        f"{resent} acknowledgements accepted twice by the SMTP server,"
        f" {notify_interruptions} interruptions of notify, {in_flight} messages in flight at most"
    )
    facts["acknowledgements re-sent (same Message-ID)"] = resent

    shadow = await replay.rebuild(mesa.iso.settings, "projections")
    try:
        diffs = await replay.compare(mesa.iso.settings, shadow)
    finally:
        await shadow.close()
        await replay.drop(mesa.iso.settings, shadow)
    assert all(d.same for d in diffs), [(d.table, d.only_live[:1], d.only_shadow[:1]) for d in diffs if not d.same]

    # notify, rebuilt from the log once every mail is out: what it knows of each ticket, and what
    # was sent to whom, as the live service has it (its own outcomes are skipped live, read in a
    # rebuild)
    async def mail_settled() -> bool:
        conn = await asyncpg.connect(mesa.iso.settings.database_url)
        try:
            waiting = await conn.fetchval(
                "SELECT (SELECT count(*) FROM notify.deliveries WHERE status IN ('pending', 'sending'))"
                " + (SELECT count(*) FROM notify.outbox)"
            )
            return bool(waiting == 0)
        finally:
            await conn.close()

    await eventually(mail_settled, timeout=120, interval=1, what="every mail sent and told")
    shadow = await replay.rebuild(mesa.iso.settings, "notify")
    try:
        diffs = await replay.compare(mesa.iso.settings, shadow)
    finally:
        await shadow.close()
        await replay.drop(mesa.iso.settings, shadow)
    assert all(d.same for d in diffs), [(d.table, d.only_live[:1], d.only_shadow[:1]) for d in diffs if not d.same]
    facts |= {"assigned once": True, "one acknowledgement in each mailbox": True, "projections = replay": True}
    facts["notify = replay"] = True
    return facts


async def diagnosis(mesa: Mesa, missing: dict[str, str], total: int) -> str:
    """What a failed wait for the tickets tells: what their views lack, the events of a few of them
    on the log, the services not running, and the last lines of each service's log that say
    something went wrong (CI keeps only what the test prints)."""
    lines = [
        f"{len(missing)} tickets incomplete: {dict(Counter(missing.values()))}",
        f"the load opened {total} tickets; the crew has {CREW_PLACES} places",
    ]
    some = sorted(missing)[:3]
    events: dict[str, list[str]] = {tid: [] for tid in some}
    for record in await read_all(mesa.iso.settings, mesa.iso.settings.topic(TICKET_EVENTS)):
        env = decode_event(record)
        if env.subject in events:
            events[env.subject].append(f"{env.type}@{record.partition}:{record.offset}")
    lines += [f"  {tid} ({missing[tid]}): {events[tid]}" for tid in some]
    lines.append(f"not running: {[name for name, proc in mesa.procs.items() if not proc.alive()]}")
    for name, proc in mesa.procs.items():
        bad = [line for line in proc.log_tail(400).splitlines() if any(w in line.lower() for w in WORRIES)]
        lines += [f"  {name}: {line[:300]}" for line in bad[-5:]]
    return "\n".join(lines)


WORRIES = ("error", "exception", "traceback", "warning", "dead letter", "dead_letter")


async def settle(mesa: Mesa) -> list[str]:
    """Every service up and ready again; one that exited (fail-fast after losing a dependency) is
    started again, as its supervisor would. Returns the names of those restarted."""
    revived: list[str] = []

    async def ready() -> bool:
        revived.extend(await revive(mesa))
        async with httpx.AsyncClient(timeout=3) as http:
            for name in mesa.procs:
                if name == "smtp":
                    continue
                try:
                    if (await http.get(f"{mesa.url(name)}/readyz")).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
        return True

    await eventually(ready, timeout=120, interval=0.5, what="every service ready again")
    return revived


# Order-status agents with a place for every ticket the load can open before the longest test that
# uses it times out (tests/e2e/test_cluster.py, 900 s): no ticket waits in a queue. Six agents were
# once enough, until a slow CI run of the cluster test opened 1,335 tickets for their 1,200 places.
AGENT_CAPACITY = 200  # the most an agent takes (services/routing/api.py); a load ticket weighs 1
LONGEST_RUN_S = 900
CREW = [
    {
        "id": f"turno{i}",
        "name": f"Turno {i}",
        "email": f"turno{i}@soporte.test",
        "skills": ["order_status"],
        "level": 1,
        "capacity": AGENT_CAPACITY,
    }
    for i in range(math.ceil(RATE * LONGEST_RUN_S / AGENT_CAPACITY))
]
CREW_PLACES = len(CREW) * AGENT_CAPACITY


async def test_tickets_survive_killed_frozen_and_restarted_parts(servers: Servers, mesa: Mesa) -> None:
    await register_roster(mesa, CREW)
    load = Load(mesa)
    t0 = time.monotonic()
    runner = asyncio.create_task(load.run())
    report: list[tuple[str, str]] = []
    per_step = max(4, int(RATE * 2))

    async def steady(tickets: int) -> None:
        """Until `tickets` more have been opened: the load flows through the system between faults."""
        target = len(load.opened) + tickets

        async def grown() -> bool:
            return len(load.opened) >= target

        await eventually(grown, timeout=120, interval=0.2, what=f"{tickets} more tickets opened")
        print(f"  {time.monotonic() - t0:6.1f} s: {len(load.opened)} opened, {load.retries} retries", flush=True)

    notify_interruptions = 1  # the SIGKILL below; exits when a dependency restarts are counted too
    try:
        await steady(per_step)
        for service in SERVICES:
            mesa.procs[service].kill()
            if service != "intake":  # with intake down nothing opens: it comes straight back
                await steady(per_step // 2)
            await mesa.start(service)
            report.append((f"SIGKILL {service} under load, restart", "ok"))
            await steady(per_step)
        mesa.procs["routing"].pause()
        # the fault is a duration: frozen past its session timeout, the group moves on without it,
        # then it wakes up fenced out and must not apply twice what it held
        frozen_until = time.monotonic() + SESSION_TIMEOUT_S + 3
        await steady(per_step)
        await asyncio.sleep(max(0.0, frozen_until - time.monotonic()))
        mesa.procs["routing"].resume()
        report.append((f"SIGSTOP routing {SESSION_TIMEOUT_S + 3} s, SIGCONT", "ok"))
        await steady(per_step)
        for script in ("kafka.sh", "postgres.sh"):
            outcome = await restart(servers, script)
            revived = await settle(mesa)
            notify_interruptions += revived.count("notify")
            note = f"; restarted after exiting: {sorted(set(revived))}" if revived else ""
            report.append((f"restart {script.removesuffix('.sh')} under load", outcome + note))
            await steady(per_step)
    finally:
        load.running = False
        notify_interruptions += (await settle(mesa)).count("notify")
        await asyncio.wait_for(runner, timeout=120)
    facts = await check(mesa, load, full=True, notify_interruptions=notify_interruptions)
    print(f"\nload {RATE}/s: {facts['tickets']} tickets, {load.retries} client retries")
    print("\n".join(f"| {fault} | {result} |" for fault, result in report))
    print(facts)
    for name, proc in mesa.procs.items():
        assert proc.alive(), f"{name} is down:\n{proc.log_tail()}"
