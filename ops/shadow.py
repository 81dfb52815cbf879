"""A shadow: a service's migrations and consumers bound to a schema of their own, folding the log
as history (nothing published, nobody mailed) while the live service keeps serving."""

from __future__ import annotations

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


def replayable(service: str) -> ServiceSpec:
    svc = spec(service)
    if not svc.replayable:
        raise ValueError(f"{service} is not rebuilt from the log; one of {', '.join(REPLAYABLE)}")
    return svc
