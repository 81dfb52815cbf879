"""Webhooks to a real HTTP receiver started by the test: signed, retried after a 5xx, never
twice to one subscription (even across a restart), paused when a receiver keeps failing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response

from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import produce
from tests.support import Proc, client, eventually, free_port

pytestmark = pytest.mark.timeout(120)
SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.bad_signatures = 0
        self.app = FastAPI()
        self.app.post("/hook")(self.hook)

    async def hook(self, request: Request) -> Response:
        body = (await request.body()).decode()
        ts = request.headers["x-mesa-timestamp"]
        expected = "sha256=" + hmac.new(SECRET.encode(), f"{ts}.{body}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers["x-mesa-signature"]):
            self.bad_signatures += 1
            return Response(status_code=401)
        event_id = json.loads(body)["id"]
        if not self.refused[event_id]:  # every event is refused once, then accepted
            self.refused[event_id] += 1
            return Response(status_code=503)
        self.accepted[event_id] += 1
        return Response(status_code=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    rx, port = Receiver(), free_port()
    server = uvicorn.Server(uvicorn.Config(rx.app, host="127.0.0.1", port=port, log_config=None))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: _started(server), what="the receiver to listen")
    yield rx, port
    server.should_exit = True
    await task


def notify(iso: Isolated) -> Proc:
    port = free_port()
    env = {"NOTIFY_PORT": str(port), "NOTIFY_BACKOFF_S": "0.1", "NOTIFY_MAX_ATTEMPTS": "2", "NOTIFY_SMTP_PORT": "1"}
    env["NOTIFY_WEBHOOK_ALLOW_HOSTS"] = "127.0.0.1"  # the test's receiver, allow-listed as an admin would
    return Proc("services.notify", {**iso.env, **env}, iso.log_dir, "notify", port)


def opened(tid: str) -> Envelope:
    payload = ev.TicketOpened(
        ticket_id=tid,
        requester="x@example.com",
        subject="s",
        description="d",
        category="other",
        impact="low",
        urgency="low",
        priority="P4",
    )
    return Envelope.new(payload, source="test", subject=tid, time=datetime.now(UTC))


async def test_signed_retried_and_never_twice(fresh: Isolated, receiver: tuple[Receiver, int]) -> None:
    rx, rx_port = receiver
    proc = await notify(fresh).start().ready()
    try:
        async with client(timeout=5) as http:
            url = f"http://127.0.0.1:{proc.port}/webhooks"
            bad = await http.post(
                url, json={"id": "erp", "url": "http://x", "secret": SECRET, "event_types": ["ticket.nope"]}
            )
            assert bad.status_code == 422
            for inside in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:15432/", "http://[::1]/"):
                ssrf = {"id": "erp", "url": inside, "secret": SECRET, "event_types": ["ticket.opened"]}
                refused = await http.post(url, json=ssrf)
                assert refused.status_code == 422 and refused.json()["error"] == "webhook_target", inside
            sub = {
                "id": "erp",
                "url": f"http://127.0.0.1:{rx_port}/hook",
                "secret": SECRET,
                "event_types": ["ticket.opened"],
            }
            assert (await http.post(url, json=sub)).status_code == 201
        first = [opened(f"T-W{i}") for i in range(5)]
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), first)

        async def five() -> bool:
            return len(rx.accepted) == 5

        await eventually(five, timeout=30, what="five deliveries")
        proc.stop()
        proc = await notify(fresh).start().ready()  # a restart: nothing is sent again
        later = opened("T-W9")
        await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), [later])

        async def six() -> bool:
            return len(rx.accepted) == 6

        await eventually(six, timeout=30, what="the delivery after the restart")
        assert set(rx.accepted.values()) == {1} and set(rx.refused.values()) == {1}
        assert set(rx.accepted) == {str(e.id) for e in [*first, later]}
        assert rx.bad_signatures == 0
    finally:
        proc.stop()


async def test_a_receiver_that_keeps_failing_is_paused_and_reported(fresh: Isolated) -> None:
    proc = await notify(fresh).start().ready()
    try:
        async with client(timeout=5) as http:
            base = f"http://127.0.0.1:{proc.port}/webhooks"
            sub = {"id": "dead", "url": f"http://127.0.0.1:{free_port()}/hook", "secret": SECRET, "event_types": ["*"]}
            assert (await http.post(base, json=sub)).status_code == 201
            await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), [opened(f"T-X{i}") for i in range(4)])

            async def paused() -> dict | None:  # type: ignore[type-arg]
                rows = (await http.get(base)).json()
                return rows[0] if rows and not rows[0]["active"] else None

            state = await eventually(paused, timeout=30, what="the subscription to be paused")
            assert "3 deliveries failed in a row" in state["paused_reason"]
            assert (await http.post(f"{base}/dead/resume")).status_code == 200
            assert (await http.get(base)).json()[0]["active"] is True
    finally:
        proc.stop()


async def _started(server: uvicorn.Server) -> bool:
    return bool(server.started)
