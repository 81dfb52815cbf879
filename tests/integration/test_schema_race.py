"""Services starting at once all create the shared schemas they need: none may fail on another's
`CREATE SCHEMA IF NOT EXISTS` (it is not safe against itself)."""

from __future__ import annotations

import asyncio
import secrets

import asyncpg
import pytest

from shared.platform import db
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(60)


async def test_many_processes_create_one_schema_at_once(fresh: Isolated) -> None:
    conns = [await asyncpg.connect(fresh.settings.database_url) for _ in range(8)]
    names = [f"race_{secrets.token_hex(4)}" for _ in range(10)]
    try:
        for name in names:
            await asyncio.gather(*(db.ensure_schema(c, name) for c in conns))
            assert await conns[0].fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", name) == 1
    finally:
        for name in names:
            await conns[0].execute(f"DROP SCHEMA IF EXISTS {name}")
        for c in conns:
            await c.close()
