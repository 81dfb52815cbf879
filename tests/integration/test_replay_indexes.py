"""A replay folds into tables without the indexes its folds never read by, and builds them once
at the end: the shadow it hands over has exactly the indexes the service's migrations make. It
stems each ticket's search words once, at its end, to what a fold writes as it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition

from ops import replay
from ops.shadow import build_indexes, open_shadow, set_indexes_aside
from services.projections.handlers import TICKETS_CONSUMER
from services.registry import spec
from shared.domain.events import Envelope
from shared.domain.events import catalogue as ev
from shared.platform import db
from shared.platform.settings import Settings
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.kafka_tools import end_offsets, produce

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


def tickets_told() -> list[Envelope]:
    """Two tickets' histories: one with a conversation in public and in private, one opened only."""
    a, b = "T-WORDS-1", "T-WORDS-2"
    opened = {"category": "hardware", "impact": "high", "urgency": "medium", "priority": "P2"}
    told: list[tuple[str, ev.Payload]] = [
        (a, ev.TicketOpened(ticket_id=a, requester="ana", subject="Impresora atascada", description="No", **opened)),
        (b, ev.TicketOpened(ticket_id=b, requester="luis", subject="Pedido retrasado", description="Nada", **opened)),
        (a, ev.TicketCommented(ticket_id=a, author="agente1", author_role="agent", body="Probamos el tóner")),
        (a, ev.TicketCommented(ticket_id=a, author="agente1", author_role="agent", body="Mayorista", internal=True)),
        (a, ev.TicketResolved(ticket_id=a, agent_id="agente1", summary="Cambiado el rodillo")),
    ]
    t0 = datetime(2026, 11, 2, 9, tzinfo=UTC)
    return [
        Envelope.new(p, source="test", subject=ticket, time=t0 + timedelta(minutes=i))
        for i, (ticket, p) in enumerate(told)
    ]


async def words(settings: Settings, schema: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT ticket_id, search_public::text AS pub, search_all::text AS staff FROM {schema}.ticket_words"
            " ORDER BY ticket_id"
        )
        return [(r["ticket_id"], r["pub"], r["staff"]) for r in rows]
    finally:
        await conn.close()


async def test_a_rebuild_stems_each_ticket_once_at_its_end_to_the_words_written_as_it_goes(fresh: Isolated) -> None:
    s = fresh.settings
    await produce(s, s.topic(TICKET_EVENTS), tickets_told())
    bulk = await replay.rebuild(s, "projections", schema="projections_bulk")
    as_it_goes = await open_shadow(s, "projections", "projections_each")  # as a live fold writes them
    try:
        for consumer in as_it_goes.consumers:
            ends = await end_offsets(s, consumer.topics[0]) if consumer.name == TICKETS_CONSUMER else {}
            await consumer.replay_to({TopicPartition(consumer.topics[0], p): end for p, end in ends.items()})
        written = await words(s, "projections_each")
        assert [t for t, _, _ in written] == ["T-WORDS-1", "T-WORDS-2"]
        assert await words(s, "projections_bulk") == written
        [(_, public, staff), _] = written
        assert "rodill" in public and "mayor" not in public  # the internal note is staff's only
        assert "mayor" in staff and "impresor" in staff
    finally:
        for shadow in (bulk, as_it_goes):
            await shadow.close()
            await replay.drop(s, shadow)


class Interrupted(Exception):
    """An operator's interrupt, or any failure inside a rebuild."""


async def schemas(settings: Settings) -> set[str]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return {r["nspname"] for r in await conn.fetch("SELECT nspname FROM pg_namespace")}
    finally:
        await conn.close()


@pytest.mark.parametrize("at", ["total", replay.INDEXING])
async def test_a_rebuild_that_fails_leaves_no_shadow_behind(fresh: Isolated, at: str) -> None:
    s = fresh.settings
    await produce(s, s.topic(TICKET_EVENTS), tickets_told())
    phases: list[str] = []

    def total(_n: int) -> None:
        if at == "total":  # before any fold: indexes already set aside
            raise Interrupted

    def phase(name: str) -> None:
        phases.append(name)
        if name == at:  # every record folded, the words written, the indexes not yet built
            raise Interrupted

    with pytest.raises(Interrupted):
        await replay.rebuild(s, "projections", schema="projections_failed", on_total=total, on_phase=phase)
    assert phases == ([] if at == "total" else [replay.FINISHING, replay.INDEXING])
    assert "projections_failed" not in await schemas(s)
    # and the next rebuild is whole
    shadow = await replay.rebuild(s, "projections", schema="projections_failed", on_phase=phases.append)
    try:
        assert shadow.read == len(tickets_told())
        assert [t for t, _, _ in await words(s, "projections_failed")] == ["T-WORDS-1", "T-WORDS-2"]
    finally:
        await shadow.close()
        await replay.drop(s, shadow)
