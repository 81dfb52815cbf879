"""PostgreSQL: one pool per service, bound to the service's own schema; migrations on start.

Migrations are numbered `.sql` files. The shared ones (`shared/platform/migrations`: inbox and outbox)
run first, then the service's own. Each runs once, in a transaction, under an advisory lock, so
several instances starting together apply each file exactly once.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

SHARED_MIGRATIONS = Path(__file__).parent / "migrations"
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_ident(name: str) -> str:
    """Schema names are interpolated into SQL: allow plain lower-case identifiers only."""
    if not _IDENT.match(name):
        raise ValueError(f"not a valid schema name: {name!r}")
    return name


async def ensure_schema(conn: asyncpg.Connection, name: str) -> None:
    """`CREATE SCHEMA IF NOT EXISTS` is not safe against itself: two processes starting at once can
    both find the schema missing, and the second fails on the catalog's unique index (seen when
    every service opened the shared `keys` schema at the same moment). One at a time."""
    check_ident(name)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{name}.schema")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see `schema` first (and `public` for extensions)."""
    check_ident(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await ensure_schema(conn, schema)
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": f"{schema},public", "application_name": f"mesa-{schema}"},
        reset=_end_transaction,
    )
    assert pool is not None
    return pool


async def _end_transaction(conn: asyncpg.Connection) -> None:
    """What a connection needs when it goes back to the pool. asyncpg's default reset is a round
    trip on every release (unlock all advisory locks, close cursors, UNLISTEN, RESET ALL); Mesa
    takes only transaction-scoped locks, sets no session state after connecting, and removes its
    one listener itself, so only a transaction left open (a cancelled task) needs ending."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def migrate(pool: asyncpg.Pool, schema: str, *dirs: Path, shared: bool = True) -> list[str]:
    """Apply the shared migrations (unless not `shared`), then those in `dirs`; return the names
    newly applied."""
    check_ident(schema)
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{schema}.migrations")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
        for directory in (SHARED_MIGRATIONS, *dirs) if shared else dirs:
            for path in sorted(directory.glob("*.sql")):
                name = f"{directory.name}/{path.name}" if directory == SHARED_MIGRATIONS else path.name
                if name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL search_path = {schema}, public")
                    await conn.execute(path.read_text())
                    await conn.execute(f"INSERT INTO {schema}.schema_migrations(name) VALUES ($1)", name)
                applied.append(name)
    return applied


async def drop_schema(dsn: str, schema: str) -> None:
    """Remove a service's whole state (replay then rebuilds it from the log)."""
    check_ident(schema)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()


# What a loop survives while PostgreSQL restarts or a connection drops: it waits and tries again.
TRANSIENT = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
