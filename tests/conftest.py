"""Where the real Kafka broker and PostgreSQL server come from, and per-module isolation.

1. KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL set (as `make test` does): use them.
2. Else, when a Docker engine answers: testcontainers starts both.
3. Else: the project's own `deploy/` scripts install and start them.
Each test module then gets its own database and its own topic prefix, so modules never see
each other's rows or records even on one broker and one server.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from shared.platform.acls import delete_acls, ensure_acls
from shared.platform.settings import Settings
from shared.platform.signing import init_keys
from shared.platform.topics import delete_topics, ensure_topics, topic_specs
from tests.support import ROOT

_TIERS = ("tests/e2e/", "tests/integration/")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that start processes first, the quick ones last: `make test` deals modules
    to two workers in this order, and the short ones fill in while a long one finishes."""
    items.sort(key=lambda item: next((i for i, tier in enumerate(_TIERS) if item.nodeid.startswith(tier)), 2))


@dataclass(frozen=True)
class Infra:
    kafka: str
    database_url: str
    # variables a module's processes need besides (a cluster's credentials folder, say)
    env: dict[str, str] = field(default_factory=dict)
    # schemas placed on another server: schema -> that server's URL (its database `mesa`)
    apart: dict[str, str] = field(default_factory=dict)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    init_keys(Settings().signing_folder)  # each service's signing key, as `make up` makes them
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    dsn = os.environ.get("DATABASE_URL")
    if kafka and dsn:
        yield Infra(kafka, dsn)
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with KafkaContainer().with_kraft() as k, PostgresContainer("postgres:15", driver=None) as pg:
            yield Infra(k.get_bootstrap_server(), pg.get_connection_url())
        return
    for script in ("kafka.sh", "postgres.sh"):
        subprocess.run(["bash", str(ROOT / "deploy" / script), "start"], check=True)
    yield Infra("127.0.0.1:9092", "postgresql://mesa:mesa@127.0.0.1:15432/mesa")


@dataclass(frozen=True)
class Isolated:
    """One test module's private corner of the shared broker and server."""

    settings: Settings
    env: dict[str, str]
    log_dir: Path


@contextlib.asynccontextmanager
async def isolate(infra: Infra, partitions: int, log_root: Path) -> AsyncIterator[Isolated]:
    """A private database and topic prefix on the shared server and broker; removed afterwards."""
    tag = f"t{uuid.uuid4().hex[:10]}"
    servers = {infra.database_url, *infra.apart.values()}
    for server in servers:
        admin = await asyncpg.connect(server)
        try:
            await admin.execute(f"CREATE DATABASE {tag}")
        finally:
            await admin.close()
    dsn = infra.database_url.rsplit("/", 1)[0] + f"/{tag}"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "DATABASE_URL": dsn,
        "MESA_TOPIC_PREFIX": f"{tag}.",
        "MESA_TOPIC_PARTITIONS": str(partitions),
        "MESA_LOG_FORMAT": "console",
        "MESA_OUTBOX_POLL_SECONDS": "0.5",
        "MESA_ENV": "development",  # the built-in secrets of a developer's machine
        **infra.env,
        **{f"{schema.upper()}_DATABASE_URL": url.rsplit("/", 1)[0] + f"/{tag}" for schema, url in infra.apart.items()},
    }
    settings = Settings.model_validate(env)
    await ensure_topics(settings, topic_specs(settings))
    await ensure_acls(settings)
    log_dir = log_root / tag
    log_dir.mkdir(parents=True)
    try:
        yield Isolated(settings, env, log_dir)
    finally:
        for server in servers:
            admin = await asyncpg.connect(server)
            try:
                await admin.execute(f"DROP DATABASE IF EXISTS {tag} WITH (FORCE)")
            finally:
                await admin.close()
        await delete_topics(settings, [s.name for s in topic_specs(settings)])
        await delete_acls(settings)


@pytest.fixture(scope="module")
async def isolated(
    infra: Infra, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Isolated]:
    """One per test module; a module sets `PARTITIONS = n` to change the partition count."""
    async with isolate(infra, getattr(request.module, "PARTITIONS", 3), tmp_path_factory.mktemp("logs")) as iso:
        yield iso


@pytest.fixture
async def fresh(infra: Infra, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Isolated]:
    """One per test, for tests that must start from an empty log and empty schemas."""
    async with isolate(infra, getattr(request.module, "PARTITIONS", 3), tmp_path) as iso:
        yield iso
