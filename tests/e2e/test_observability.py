"""Ops can follow a command and hear of trouble, with the real tools: Jaeger (built from the Go
module proxy), Prometheus and Alertmanager (Debian's), every service as its own process.

- one command is one trace in Jaeger's query API, with spans from every service it reached, each
  a child of the span that caused it;
- Prometheus scrapes every service and the lag watch;
- a consumer stopped under load raises its lag alert, Alertmanager's mail reaches the supervisors
  through the SMTP sink, and a second mail says it is resolved once the consumer is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.monitoring import Layout, render
from shared.platform import db
from shared.platform.settings import Settings
from tests.e2e.conftest import Mesa, register_roster
from tests.support import ROOT, Proc, as_actor, client, eventually, free_port

pytestmark = pytest.mark.timeout(240)

OTLP_PORT = free_port()
SUPERVISORS = "guardia@soporte.test"
EXTRA_ENV = {
    "MESA_OTLP_ENDPOINT": f"http://127.0.0.1:{OTLP_PORT}",
    "MESA_TRACE_SAMPLE": "1",
    "MESA_METRICS_INTERVAL_S": "1",
    "NOTIFY_SUPERVISORS": SUPERVISORS,
    "OTEL_BSP_SCHEDULE_DELAY": "200",  # spans leave within 0.2 s (5 s by default)
}


def _started(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="module")
async def jaeger(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """Jaeger on ports of its own (the binary `make test` built: deploy/jaeger.sh)."""
    found = await asyncio.create_subprocess_exec(
        "bash", str(ROOT / "deploy" / "jaeger.sh"), "path", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await found.communicate()
    assert found.returncode == 0, "deploy/jaeger.sh could not build Jaeger"
    binary = out.decode().strip()
    ui = free_port()
    env = {
        "JAEGER_UI_PORT": str(ui),
        "JAEGER_OTLP_HTTP_PORT": str(OTLP_PORT),
        "JAEGER_OTLP_GRPC_PORT": str(free_port()),
        "JAEGER_QUERY_GRPC_PORT": str(free_port()),
        "JAEGER_HEALTH_PORT": str(free_port()),
        "JAEGER_METRICS_PORT": str(free_port()),
    }
    logs = tmp_path_factory.mktemp("jaeger")
    proc = _started([binary, "--config", str(ROOT / "deploy" / "jaeger" / "config.yaml")], logs / "jaeger.log", env)
    try:
        url = f"http://127.0.0.1:{ui}"
        await eventually(lambda: _answers(f"{url}/api/services"), timeout=60, what="jaeger to answer")
        yield url
    finally:
        _stop(proc)


@dataclass
class Monitoring:
    prometheus: str
    alertmanager: str
    lagwatch: Proc


@pytest.fixture(scope="module")
async def monitoring(mesa: Mesa, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Monitoring]:
    """Prometheus, Alertmanager and the lag watch on ports of their own, looking every second,
    with every alert's `for:` shortened to 2 s (the expressions are the repository's)."""
    for tool in ("prometheus", "prometheus-alertmanager"):
        assert shutil.which(tool), f"{tool} is missing: `make test` installs it (deploy/monitoring.sh install)"
    prom, am, lag = free_port(), free_port(), free_port()
    home = tmp_path_factory.mktemp("monitoring")
    services = {s: p for s, p in mesa.ports.items() if s != "smtp"}
    settings = Settings.model_validate({"NOTIFY_SUPERVISORS": SUPERVISORS, "NOTIFY_SMTP_PORT": str(mesa.ports["smtp"])})
    layout = Layout(services, lag, am, scrape_interval="1s", evaluation_interval="1s", alert_for="2s")
    render(layout, settings, home, group_wait="1s", group_interval="2s")
    lagwatch = Proc(
        "ops.lagwatch",
        {**mesa.iso.env, "MESA_LAGWATCH_PORT": str(lag), "MESA_LAG_INTERVAL_S": "1"},
        mesa.iso.log_dir,
        "lagwatch",
    ).start()
    procs = [
        _started(
            [
                "prometheus-alertmanager",
                f"--config.file={home / 'alertmanager.yml'}",
                f"--storage.path={home / 'am'}",
                f"--web.listen-address=127.0.0.1:{am}",
                "--cluster.listen-address=",
            ],
            home / "alertmanager.log",
        ),
        _started(
            [
                "prometheus",
                f"--config.file={home / 'prometheus.yml'}",
                f"--storage.tsdb.path={home / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom}",
            ],
            home / "prometheus.log",
        ),
    ]
    try:
        m = Monitoring(f"http://127.0.0.1:{prom}", f"http://127.0.0.1:{am}", lagwatch)
        await eventually(lambda: _answers(f"{m.alertmanager}/-/ready"), timeout=60, what="alertmanager")
        await eventually(lambda: _answers(f"{m.prometheus}/-/ready"), timeout=60, what="prometheus")
        yield m
    finally:
        for p in procs:
            _stop(p)
        lagwatch.stop()


# -- traces -------------------------------------------------------------------------------------


async def _trace(
    jaeger: str, trace_id: str, services: set[str], spans: frozenset[tuple[str, str]] = frozenset()
) -> dict[str, Any]:
    """The trace once it has spans from every one of `services`, and the (service, operation)
    `spans` a test reads: a service's spans leave as each ends, so one of its spans being in says
    nothing of its next."""

    async def probe() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=5) as http:
            r = await http.get(f"{jaeger}/api/traces/{trace_id}")
        if r.status_code != 200 or not r.json().get("data"):
            return None
        trace: dict[str, Any] = r.json()["data"][0]
        named = {(trace["processes"][s["processID"]]["serviceName"], s["operationName"]) for s in trace["spans"]}
        seen = {service for service, _ in named}
        # whole: a span ends (and leaves) after its children, so until its parent is in, a
        # child would look like a root of its own; only the request's span has its parent outside
        ids = {s["spanID"] for s in trace["spans"]}
        orphans = [s for s in trace["spans"] if any(r["spanID"] not in ids for r in s["references"])]
        return trace if services <= seen and spans <= named and len(orphans) == 1 else None

    found: dict[str, Any] = await eventually(probe, timeout=60, what=f"a trace with spans from {sorted(services)}")
    return found


def _ancestry(trace: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Each span's chain of (service, operation) up to the root, checking on the way that every
    parent is in the trace and began no later than its child."""
    spans = {s["spanID"]: s for s in trace["spans"]}
    service = {sid: trace["processes"][s["processID"]]["serviceName"] for sid, s in spans.items()}
    out: dict[str, list[tuple[str, str]]] = {}
    for sid, span in spans.items():
        chain = []
        at = span
        while True:
            chain.append((service[at["spanID"]], at["operationName"]))
            parents = [r["spanID"] for r in at["references"] if r["refType"] == "CHILD_OF"]
            if not parents or parents[0] not in spans:
                break  # the root: a request's span (its caller's parent is not ours)
            parent = spans[parents[0]]
            assert parent["startTime"] <= at["startTime"], (parent["operationName"], at["operationName"])
            at = parent
        out[sid] = chain
    return out


async def _open_traced(mesa: Mesa, trace_id: str) -> str:
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={
                "requester": "traza@example.com",
                "subject": "El pedido no llega",
                "description": "El seguimiento no cambia desde el lunes",
                "category": "order_status",
                "impact": "medium",
                "urgency": "medium",
            },
            # the caller's trace: Mesa's spans join it (its "sampled" flag is not what decides)
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-00"},
        )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_one_command_is_one_trace_through_every_service_in_causal_order(jaeger: str, mesa: Mesa) -> None:
    await register_roster(mesa)
    opening = secrets.token_hex(16)
    tid = await _open_traced(mesa, opening)
    t = await mesa.ticket_when(tid, lambda t: t["owner"] is not None and t["sla"] is not None, "assigned, targets")
    trace = await _trace(
        jaeger,
        opening,
        {"intake", "routing", "sla", "projections", "notify", "audit"},
        frozenset(
            {
                ("routing", "publish ticket.assigned"),
                ("notify", "process ticket.sla_targets_set"),
                ("projections", "process ticket.opened"),
                ("audit", "process ticket.opened"),
            }
        ),
    )
    chains = _ancestry(trace).values()
    roots = {c[-1] for c in chains}
    assert roots == {("intake", "POST /tickets")}, roots  # one command, one root
    ops = {c[0] for c in chains}
    # the opening reached routing, which assigned the ticket as a reaction (a child of its span) ...
    assigned = next(c for c in chains if c[0] == ("routing", "publish ticket.assigned"))
    assert assigned[1:3] == [("routing", "process ticket.opened"), ("intake", "publish ticket.opened")]
    # ... SLA set the targets, and notify told the requester because of them: four hops deep
    told = next(c for c in chains if c[0] == ("notify", "process ticket.sla_targets_set"))
    assert told[1:] == [
        ("sla", "publish ticket.sla_targets_set"),
        ("sla", "process ticket.opened"),
        ("intake", "publish ticket.opened"),
        ("intake", "POST /tickets"),
    ]
    assert ("projections", "process ticket.opened") in ops and ("audit", "process ticket.opened") in ops
    # a consumer's span starts when its record reached the log; its `applying` event is when the
    # consumer took it up (the wait for the consumer shows between the two)
    process = next(s for s in trace["spans"] if s["operationName"] == "process ticket.opened")
    assert [f["value"] for log in process["logs"] for f in log["fields"] if f["key"] == "event"] == ["applying"]
    # statements are spans under a request's or a record's span; a relay's poll or a consumer's
    # claim (outside any) makes none
    statements = [s for s in trace["spans"] if any(t["key"] == "db.system" for t in s["tags"])]
    assert statements and {trace["processes"][s["processID"]]["serviceName"] for s in statements} <= {
        "intake",
        "routing",
        "notify",
    }
    assert not [s for s in statements if "inbox_offsets" in str(s["tags"]) or "FROM outbox" in str(s["tags"])]

    # history makes no spans that pretend to be live: projections rebuilt from the log (its
    # schema dropped) folds the opening again, and adds nothing to the trace
    def applied_since(trace: dict[str, Any], service: str, since_us: int) -> list[str]:
        return [
            s["operationName"]
            for s in trace["spans"]
            if trace["processes"][s["processID"]]["serviceName"] == service
            and any(log["timestamp"] >= since_us for log in s["logs"])
        ]

    mesa.procs["projections"].stop()
    rebuilt_at = time.time_ns() // 1000
    await db.drop_schema(mesa.iso.settings.database_url, "projections")
    await mesa.start("projections")
    await mesa.ticket_when(tid, lambda t: t["owner"] is not None, "the ticket folded again")

    # the next command on the same ticket is a trace of its own, and reaches every service again
    resolving = secrets.token_hex(16)
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets/{tid}/resolve",
            json={"summary": "Paquete localizado y entregado"},
            headers={**as_actor(f"agent:{t['owner']}"), "traceparent": f"00-{resolving}-{secrets.token_hex(8)}-01"},
        )
    assert r.status_code == 200, r.text
    trace = await _trace(jaeger, resolving, {"intake", "routing", "sla", "projections", "notify"})
    roots = {c[-1] for c in _ancestry(trace).values()}
    assert len(roots) == 1, roots
    [root] = roots
    assert root[0] == "intake" and root[1].startswith("POST /tickets/"), root
    # projections' spans leave in the order they end: any its refold had made are in by now
    again = await _trace(jaeger, opening, {"intake", "routing", "sla", "projections", "notify", "audit"})
    assert applied_since(again, "projections", rebuilt_at) == []
    assert applied_since(trace, "projections", rebuilt_at)  # the resolution, live, has them


async def test_a_log_line_written_under_a_traced_span_names_the_trace(jaeger: str, mesa: Mesa) -> None:
    trace_id = secrets.token_hex(16)
    async with client(timeout=10) as http:  # a value the database cannot hold: refused, and logged
        r = await http.get(
            f"{mesa.url('projections')}/tickets",
            params={"owner": "a\x00b"},
            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
        )
    assert r.status_code == 422, r.text
    await _trace(jaeger, trace_id, {"projections"})
    log = mesa.procs["projections"]

    async def logged() -> bool:
        return any(
            "value refused by the database" in line and f"trace_id={trace_id}" in line
            for line in log.log_path.read_text(errors="replace").splitlines()
        )

    await eventually(logged, timeout=10, what="the log line naming the trace")


# -- metrics and alerts ---------------------------------------------------------------------------


async def test_prometheus_scrapes_every_service_and_the_lag_watch(monitoring: Monitoring, mesa: Mesa) -> None:
    wanted = {s for s in mesa.ports if s != "smtp"} | {"lagwatch"}

    async def all_up() -> set[str] | None:
        async with httpx.AsyncClient(timeout=5) as http:
            targets = (await http.get(f"{monitoring.prometheus}/api/v1/targets")).json()["data"]["activeTargets"]
        up = {t["labels"]["service"] for t in targets if t["health"] == "up"}
        return up if up == wanted else None

    assert await eventually(all_up, timeout=60, what="every target up") == wanted


async def _alerts(monitoring: Monitoring, name: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=5) as http:
        r = await http.get(f"{monitoring.alertmanager}/api/v2/alerts", params={"filter": f'alertname="{name}"'})
    return list(r.json())


async def test_a_stopped_consumer_raises_its_lag_alert_by_mail_and_its_resolution(
    monitoring: Monitoring, mesa: Mesa
) -> None:
    await register_roster(mesa)
    group = mesa.iso.settings.group("notify", "tickets")
    stop_load = asyncio.Event()

    async def load() -> None:  # tickets keep coming while notify is away
        async with client(timeout=10) as http:
            i = 0
            while not stop_load.is_set():
                r = await http.post(
                    f"{mesa.url('intake')}/tickets",
                    json={
                        "requester": f"carga{i}@example.com",
                        "subject": f"Pedido {i}",
                        "description": "Sin noticias del envío",
                        "category": "order_status",
                        "impact": "low",
                        "urgency": "low",
                    },
                )
                assert r.status_code == 201, r.text
                i += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_load.wait(), 0.2)

    flood = asyncio.create_task(load())
    try:
        mesa.procs["notify"].stop()

        async def firing() -> list[dict[str, Any]] | None:
            alerts = [a for a in await _alerts(monitoring, "MesaConsumerLagging") if a["labels"]["group"] == group]
            return alerts or None

        [alert] = await eventually(firing, timeout=120, what="the lag alert for notify's group")
        assert alert["labels"]["severity"] == "warning" and alert["annotations"]["runbook"].endswith(
            "#mesaconsumerlagging"
        )
        mail = await mesa.mail_when(
            lambda m: str(m["Subject"]).startswith("[Mesa] FIRING: MesaConsumerLagging") and group in str(m["Subject"]),
            "Alertmanager's mail",
            timeout=60,
        )
        assert [a for _, a in email.utils.getaddresses([str(mail["To"])])] == [SUPERVISORS]
        assert isinstance(mail, EmailMessage)
        body = mail.get_body(preferencelist=("plain",))
        assert body is not None and f"group: {group}" in body.get_content()
        assert "docs/ops.md#mesaconsumerlagging" in body.get_content()
    finally:
        stop_load.set()
        await flood
    await mesa.start("notify")
    await mesa.mail_when(
        lambda m: str(m["Subject"]).startswith("[Mesa] RESOLVED: MesaConsumerLagging") and group in str(m["Subject"]),
        "the mail saying the lag alert is resolved",
        timeout=120,
    )
    assert not [a for a in await _alerts(monitoring, "MesaConsumerLagging") if a["status"]["state"] == "active"]
