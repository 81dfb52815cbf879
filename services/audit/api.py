"""The auditor's API: who read which ticket (auditors and admins only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Query

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
        rows = await pool.fetch(
            "SELECT ticket_id, reader, via, at FROM access_reads WHERE ($1::text IS NULL OR ticket_id = $1)"
            " AND ($2::text IS NULL OR reader = $2) AND ($3::timestamptz IS NULL OR at >= $3)"
            " ORDER BY at DESC LIMIT $4",
            ticket_id,
            reader,
            since,
            limit,
        )
        return [{**dict(r), "at": r["at"].isoformat()} for r in rows]

    return app
