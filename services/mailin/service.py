"""Mailin, declared: the support mailbox (SMTP), each mail a command on ticket.requests."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.mailin.handlers import Mailin
from services.mailin.smtp import serve_smtp
from shared.platform import topology
from shared.platform.letters import Letters
from shared.platform.runtime import Parts, Runtime, ServiceSpec

MIGRATIONS = Path(__file__).parent / "migrations"


async def build(rt: Runtime) -> Parts:
    mailin = Mailin(rt.settings, rt.pool, rt.auth, Letters(rt.keyring))

    async def smtp() -> None:
        await serve_smtp(mailin, rt.settings.mailin_host, rt.settings.mailin_port)

    return Parts(
        background=[smtp],
        app=FastAPI(title="Mesa mailin", description="Correo entrante. Inbound mail (SMTP)."),
        closers=[mailin.http.aclose],
    )


SPEC = ServiceSpec(topology.MAILIN, MIGRATIONS, build)
