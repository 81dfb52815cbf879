"""The auditor's API: who read which ticket (auditors and admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Query

from services.audit import store
from shared.domain.principal import Principal
from shared.platform.auth import Authenticator, install, requires

Auditor = Annotated[Principal, Depends(requires("auditor", "admin"))]


def create_app(pool: asyncpg.Pool, auth: Authenticator) -> FastAPI:
    app = FastAPI(title="Mesa audit", description="Registro de accesos. Who read which ticket.")
    install(app, auth)

    @app.get("/access", tags=["access log"])
    async def access(
        _: Auditor,
        ticket_id: str | None = None,
        reader: str | None = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """Reads of tickets by staff and auditors, newest first (filters: ticket, reader role:id, since)."""
        return await store.reads(pool, ticket_id, reader, since, limit)

    return app
