"""A shadow: a service's migrations and consumers bound to a schema of their own, folding the log
as history (nothing published, nobody mailed) while the live service keeps serving.

A replay folds into the shadow with only the unique indexes of the tables its service names
(`ServiceSpec.replay_indexes_after`): those are what its folds find rows by, and what makes an
upsert or an event id land once. Their other indexes (lists, search) are built once the log is
folded: in a shop's log a ticket's events lie far apart, so a replay writes each ticket several
times, and each write would enter every index again. A replay that fails leaves an incomplete
shadow without them; the next replay starts over from an empty schema (`open_shadow`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.registry import REPLAYABLE, spec
from shared.platform import db
from shared.platform.clock import SystemClock
from shared.platform.consumer import InboxConsumer
from shared.platform.runtime import Parts, Runtime, ServiceSpec, open_keys_pool
from shared.platform.settings import Settings


@dataclass
class Shadow:
    service: str
    schema: str
    pool: asyncpg.Pool
    parts: Parts
    read: int = 0
    workers: int = 1
    keys_pool: asyncpg.Pool | None = None  # the keys' server, when not the service's

    @property
    def consumers(self) -> list[InboxConsumer[Any]]:
        return self.parts.consumers

    async def close(self) -> None:
        for consumer in self.parts.consumers:
            await consumer.close()
        for close in self.parts.closers:
            await close()
        await self.pool.close()
        if self.keys_pool is not None:
            await self.keys_pool.close()


def shadow_name(service: str, until: datetime | None) -> str:
    return db.check_ident(f"{service}_at_{until:%Y%m%d%H%M%S}" if until else f"{service}_shadow")


async def open_shadow(settings: Settings, service: str, schema: str) -> Shadow:
    """A new, empty shadow schema with the service's migrations and consumers bound to it."""
    svc = replayable(service)
    admin = await asyncpg.connect(settings.database_url_for(service))
    try:
        await admin.execute(f"DROP SCHEMA IF EXISTS {db.check_ident(schema)} CASCADE")
    finally:
        await admin.close()
    pool = await db.create_pool(settings.database_url_for(service), schema, max_size=4)
    await db.migrate(pool, schema, svc.migrations)
    return await attach_shadow(settings, service, schema, pool)


async def attach_shadow(settings: Settings, service: str, schema: str, pool: asyncpg.Pool | None = None) -> Shadow:
    """The service's consumers bound to an existing shadow schema (a replay worker's view)."""
    svc = replayable(service)
    if pool is None:
        pool = await db.create_pool(settings.database_url_for(service), schema, max_size=4)
    # the consumers' names and handlers are the live ones; only the pool (schema) differs
    keys_pool = await open_keys_pool(settings, service)
    rt = Runtime(service, settings, pool, None, SystemClock(), f"{service}-replay", keys_pool)
    parts: Parts = await svc.build(rt)
    return Shadow(service, schema, pool, parts, keys_pool=keys_pool)


# building an index sorts its rows in memory up to this much (PostgreSQL's default is 64MB)
BUILD_MEMORY = "256MB"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def set_indexes_aside(pool: asyncpg.Pool, schema: str, tables: Sequence[str]) -> list[str]:
    """Drop the indexes of `schema`'s `tables` that neither enforce uniqueness nor back a
    constraint; return the statements that build them again (`build_indexes`)."""
    if not tables:
        return []
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT c.relname AS name, pg_get_indexdef(c.oid) AS statement FROM pg_index x"
            " JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = $1 AND t.relname = ANY($2::text[]) AND NOT x.indisunique"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = c.oid) ORDER BY c.relname",
            schema,
            list(tables),
        )
        for row in rows:
            await conn.execute(f"DROP INDEX {db.check_ident(schema)}.{_quoted(row['name'])}")
    return [row["statement"] for row in rows]


async def build_indexes(pool: asyncpg.Pool, statements: Sequence[str]) -> None:
    """Run `set_indexes_aside`'s statements, side by side on the pool's connections."""

    async def build(statement: str) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL maintenance_work_mem = '{BUILD_MEMORY}'")
            await conn.execute(statement)

    await asyncio.gather(*(build(s) for s in statements))


def replayable(service: str) -> ServiceSpec:
    svc = spec(service)
    if not svc.replayable:
        raise ValueError(f"{service} is not rebuilt from the log; one of {', '.join(REPLAYABLE)}")
    return svc
