"""A replay folds into tables without the indexes its folds never read by, and builds them once
at the end: the shadow it hands over has exactly the indexes the service's migrations make."""

from __future__ import annotations

import asyncpg
import pytest

from ops import replay
from ops.shadow import build_indexes, set_indexes_aside
from services.registry import spec
from shared.platform import db
from tests.conftest import Isolated

pytestmark = pytest.mark.timeout(120)


async def indexes(conn: asyncpg.Connection, schema: str) -> dict[str, tuple[str, str]]:
    """Each index of `schema`: (its table, its definition with the schema's name taken out)."""
    rows = await conn.fetch(
        "SELECT c.relname AS name, t.relname AS tbl, pg_get_indexdef(c.oid) AS def FROM pg_index x"
        " JOIN pg_class c ON c.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
        schema,
    )
    return {r["name"]: (r["tbl"], r["def"].replace(f"{schema}.", "")) for r in rows}


async def test_indexes_set_aside_are_only_the_named_tables_non_unique_ones_and_come_back_the_same(
    fresh: Isolated,
) -> None:
    pool = await db.create_pool(fresh.settings.database_url, "projections_aside", max_size=4)
    try:
        await db.migrate(pool, "projections_aside", spec("projections").migrations)
        async with pool.acquire() as conn:
            before = await indexes(conn, "projections_aside")
            aside = await set_indexes_aside(pool, "projections_aside", ["tickets", "ticket_words"])
            during = await indexes(conn, "projections_aside")
            unique = {
                r["relname"]
                for r in await conn.fetch(
                    "SELECT c.relname FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'projections_aside'"
                    " AND x.indisunique"
                )
            }
            gone = set(before) - set(during)
            # the lists' and search's indexes went; the keys upserts land on, and other tables', stayed
            assert gone and len(aside) == len(gone)
            assert {before[name][0] for name in gone} == {"tickets", "ticket_words"}
            assert not gone & unique
            assert {"tickets_pkey", "ticket_words_pkey", "timeline_pkey", "timeline_event_id_key"} <= set(during)
            assert all(before[name] == during[name] for name in during)
            await build_indexes(pool, aside)
            assert await indexes(conn, "projections_aside") == before
            assert await set_indexes_aside(pool, "projections_aside", []) == []
    finally:
        await pool.close()


async def test_a_replayed_shadow_has_the_indexes_of_a_migrated_schema(fresh: Isolated) -> None:
    s = fresh.settings
    shadow = await replay.rebuild(s, "projections", schema="projections_rebuilt")
    pool = await db.create_pool(s.database_url, "projections_migrated", max_size=2)
    try:
        await db.migrate(pool, "projections_migrated", spec("projections").migrations)
        async with pool.acquire() as conn:
            rebuilt = await indexes(conn, "projections_rebuilt")
            assert rebuilt == await indexes(conn, "projections_migrated")
            assert "tickets_status" in rebuilt and "ticket_words_public" in rebuilt
    finally:
        await pool.close()
        await shadow.close()
        await replay.drop(s, shadow)
