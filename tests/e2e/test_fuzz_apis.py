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
from tests.support import bearer

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
