"""The five services and the mail sink as separate OS processes on the module's isolated corner
of the real broker and database."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import pytest

from shared.platform.topology import BY_NAME, STATIONS
from tests.conftest import Isolated
from tests.e2e.cluster import Cluster, new_cluster
from tests.support import Proc, client, eventually, free_port

SERVICES = tuple(s.name for s in STATIONS)


@dataclass
class Mesa:
    iso: Isolated
    ports: dict[str, int]
    mail_dir: Path
    procs: dict[str, Proc] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    mailin_smtp: int = field(default_factory=free_port)  # where mailin takes mail (its SMTP)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    async def get_ticket(self, ticket_id: str) -> dict[str, Any] | None:
        async with client(timeout=5) as http:
            r = await http.get(f"{self.url('projections')}/tickets/{ticket_id}")
        return r.json() if r.status_code == 200 else None

    async def ticket_when(self, ticket_id: str, predicate: Any, what: str, timeout: float = 30) -> dict[str, Any]:
        seen: list[dict[str, Any] | None] = [None]

        async def probe() -> dict[str, Any] | None:
            t = seen[0] = await self.get_ticket(ticket_id)
            return t if t is not None and predicate(t) else None

        try:
            result: dict[str, Any] = await eventually(probe, timeout=timeout, what=what)
        except AssertionError as exc:  # what the view held at the end says which part lagged
            last = seen[0]
            held = {k: last.get(k) for k in ("status", "owner", "version", "sla")} if last else "no ticket (not 200)"
            raise AssertionError(f"{exc}; the ticket's view: {held}") from None
        return result

    def mails(self) -> list[Message]:
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
            for p in sorted(self.mail_dir.glob("*.eml"))
        ]

    async def mail_when(self, predicate: Any, what: str, timeout: float = 30) -> Message:
        async def probe() -> Message | None:
            return next((m for m in self.mails() if predicate(m)), None)

        found: Message = await eventually(probe, timeout=timeout, what=what)
        return found

    async def cli(self, *args: str) -> str:
        """`mesa ...` as a separate process, pointed at this module's database and topics."""
        code, out = await self.cli_status(*args)
        assert code == 0, out
        return out

    async def cli_status(self, *args: str) -> tuple[int, str]:
        """`mesa ...`: its exit code and what it printed (stdout, then stderr)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "ops.cli",
            *args,
            env={
                **os.environ,
                **self.iso.env,
                **{f"{s.upper()}_PORT": str(p) for s, p in self.ports.items() if s != "smtp"},
                "MESA_MAILIN_PORT": str(self.mailin_smtp),
                "COLUMNS": "200",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, out.decode() + err.decode()

    def proc(self, service: str) -> Proc:
        env = {**self.iso.env, **{BY_NAME[s].port_variable: str(p) for s, p in self.ports.items() if s in BY_NAME}}
        env |= {"NOTIFY_SMTP_PORT": str(self.ports["smtp"]), "MESA_MAIL_DIR": str(self.mail_dir)}
        env |= {"MESA_MAILIN_PORT": str(self.mailin_smtp)}
        env |= {"MESA_AUDIT_SCHEDULE": "off"}  # a module about audits turns it on (EXTRA_ENV)
        env |= self.extra_env
        module = "services.notify.mailsink" if service == "smtp" else f"services.{service}"
        return Proc(module, env, self.iso.log_dir, service, None if service == "smtp" else self.ports[service])

    async def start(self, service: str) -> Proc:
        proc = self.proc(service).start()
        self.procs[service] = proc
        if service != "smtp":
            await proc.ready(90)
        return proc


def body_of(m: Message) -> str:
    """The plain-text part (messages also carry an HTML alternative)."""
    assert isinstance(m, EmailMessage)
    part = m.get_body(preferencelist=("plain",))
    assert part is not None
    text: str = part.get_content()
    return text


@pytest.fixture(scope="module")
async def mesa(isolated: Isolated, request: pytest.FixtureRequest) -> AsyncIterator[Mesa]:
    """A module may set `EXTRA_ENV = {...}` (a small SLA policy, say) for its services, and
    `SERVICES = (...)` to run only some of them."""
    services = getattr(request.module, "SERVICES", SERVICES)
    ports = {s: free_port() for s in (*services, "smtp")}
    system = Mesa(isolated, ports, isolated.log_dir / "mail", extra_env=getattr(request.module, "EXTRA_ENV", {}))
    try:
        smtp = system.proc("smtp").start()
        system.procs["smtp"] = smtp
        for s in services:
            system.procs[s] = system.proc(s).start()
        for s in services:
            await system.procs[s].ready(90)
        yield system
    finally:
        for p in system.procs.values():
            p.stop()


ROSTER = [
    {
        "id": "ana",
        "name": "Ana",
        "email": "ana@soporte.test",
        "skills": ["order_status", "payment"],
        "level": 1,
        "capacity": 200,
    },
    {
        "id": "bea",
        "name": "Bea",
        "email": "bea@soporte.test",
        "skills": ["hardware", "software"],
        "level": 1,
        "capacity": 200,
    },
    {
        "id": "ciro",
        "name": "Ciro",
        "email": "ciro@soporte.test",
        "skills": ["hardware", "network", "software"],
        "level": 2,
        "capacity": 200,
    },
    {
        "id": "dani",
        "name": "Dani",
        "email": "dani@soporte.test",
        "skills": ["order_status", "payment", "account", "other"],
        "level": 1,
        "capacity": 200,
    },
]


async def register_roster(mesa: Mesa, roster: list[dict[str, Any]] = ROSTER) -> None:
    async with client(timeout=5) as http:
        for agent in roster:
            r = await http.post(f"{mesa.url('routing')}/agents", json=agent)
            assert r.status_code == 202, r.text

        async def known() -> bool:
            got = {a["id"] for a in (await http.get(f"{mesa.url('projections')}/agents")).json()}
            routed = {a["id"] for a in (await http.get(f"{mesa.url('routing')}/agents")).json()}
            wanted = {a["id"] for a in roster}
            return got >= wanted and routed >= wanted

        await eventually(known, timeout=30, what="the roster to be folded")


@pytest.fixture(scope="session")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    """Three Kafka nodes for the modules about a cluster (started once, removed at the end)."""
    c = new_cluster(tmp_path_factory.mktemp("kafka-cluster"))
    await c.script("start")
    try:
        yield c
    finally:
        # stopped, not removed: the nodes' logs stay in pytest's temporary folder (the last
        # three runs are kept) for whoever reads a failure
        await c.script("stop")
