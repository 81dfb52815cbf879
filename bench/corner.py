"""A benchmark's private corner of the shared broker and server: its own database and topic
prefix, created on entry and removed on exit, so runs never see each other."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from shared.platform.acls import delete_acls, ensure_acls
from shared.platform.settings import Settings
from shared.platform.signing import init_keys
from shared.platform.topics import delete_topics, ensure_topics, topic_specs


@contextlib.asynccontextmanager
async def private_corner(name: str) -> AsyncIterator[tuple[Settings, dict[str, str]]]:
    """(settings, environment for service processes) of a fresh database and topic prefix."""
    base = Settings()
    init_keys(base.signing_folder)  # as `make up` does: the services started here sign as themselves
    tag = f"bench{name}{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(base.database_url)
    try:
        await admin.execute(f"CREATE DATABASE {tag}")
    finally:
        await admin.close()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": base.kafka_bootstrap_servers,
        "DATABASE_URL": base.database_url.rsplit("/", 1)[0] + f"/{tag}",
        "MESA_TOPIC_PREFIX": f"{tag}.",
        "MESA_LOG_LEVEL": "WARNING",
        "MESA_ENV": "development",
    }
    settings = Settings.model_validate(env)
    await ensure_topics(settings)
    await ensure_acls(settings)  # the services started in it are their own principals
    try:
        yield settings, env
    finally:
        await delete_topics(settings, [s.name for s in topic_specs(settings)])
        await delete_acls(settings)
        admin = await asyncpg.connect(base.database_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {tag} WITH (FORCE)")
        finally:
            await admin.close()
