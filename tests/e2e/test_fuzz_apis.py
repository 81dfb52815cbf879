"""schemathesis against every service's OpenAPI, signed in: no 5xx, no response that breaks its
own schema, and every service still up afterwards. Bounded (deterministic, a few dozen examples
per operation) so it runs in CI."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Mesa, register_roster
from tests.support import bearer, client

pytestmark = pytest.mark.timeout(400)
ST = str(Path(sys.executable).parent / "st")


async def schemathesis(mesa: Mesa, service: str, role: str, sub: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        ST,
        "run",
        f"{mesa.url(service)}/openapi.json",
        "--header",
        f"Authorization: {bearer(role, sub)['Authorization']}",  # type: ignore[arg-type]
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--max-examples",
        "25",
        "--generation-deterministic",
        "--request-timeout",
        "20",
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, f"{service} as {role}:\n{text[-6000:]}"
    return text


async def test_no_operation_of_any_service_answers_5xx_or_breaks_its_schema(mesa: Mesa) -> None:
    await register_roster(mesa)
    for service, role, sub in (
        ("intake", "requester", "fuzz@example.com"),
        ("intake", "service", "fuzz"),
        ("projections", "admin", "fuzz"),
        ("routing", "admin", "fuzz"),
        ("notify", "admin", "fuzz"),
        ("audit", "auditor", "fuzz"),
    ):
        text = await schemathesis(mesa, service, role, sub)
        assert "generated" in text
    for name, proc in mesa.procs.items():
        assert proc.alive(), f"{name} died:\n{proc.log_tail()}"


MARKER = "tel 600123123 fuzz.marker@example.com"
HOSTILE = {
    "invalid UTF-8": (b'{"body": "' + MARKER.encode() + b" \xff\xfe" + b"a" * 100_000 + b'"}', "application/json"),
    "100k deep": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    "5,000 digits": (b'{"body": "' + MARKER.encode() + b'", "rating": ' + b"9" * 5000 + b"}", "application/json"),
    "NUL": (b'{"body": "' + MARKER.encode() + b'\\u0000"}', "application/json"),
    "bad multipart": (
        b'--x\r\nContent-Disposition: form-data; name="subject"\r\n\r\n' + MARKER.encode(),
        "multipart/form-data; boundary=x",
    ),
}


async def test_hostile_bodies_get_a_4xx_with_a_message_and_are_never_logged(mesa: Mesa) -> None:
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"requester": "fuzz@example.com", "subject": "Cuerpo hostil", "description": "x"},
        )
        ticket = r.json()["id"]
        targets = [
            ("intake", "/tickets"),
            ("intake", f"/tickets/{ticket}/comment"),
            ("intake", f"/tickets/{ticket}/feedback"),
            ("routing", "/agents"),
            ("notify", "/webhooks"),
            ("projections", "/kb/articles"),
        ]
        for service, path in targets:
            for what, (body, ctype) in HOSTILE.items():
                if what == "bad multipart" and path != "/tickets":
                    continue
                r = await http.post(f"{mesa.url(service)}{path}", content=body, headers={"content-type": ctype})
                assert 400 <= r.status_code < 500, (service, path, what, r.status_code, r.text[:300])
                assert r.json()["message"], (service, path, what)
    for name, proc in mesa.procs.items():
        assert proc.alive(), name
        logged = proc.log_path.read_text(errors="replace") if proc.log_path.exists() else ""
        assert "600123123" not in logged, f"{name} logged a body"
