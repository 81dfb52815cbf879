"""Rebuild a service's state from the log into a shadow schema, compare it with the live one,
and swap it in, while the live service keeps serving.

- The shadow is the service's own migrations and consumers (its `build`), reading every topic
  from offset 0 with readers outside any consumer group, every record as history: folded, never
  acted on. Nothing is published and nobody is mailed.
- `until`: each partition is read up to the first record appended after that moment (Kafka's
  offsets-for-times), which gives the state the live service had then.
- Comparing and swapping hold a SHARE lock on the live inbox (the live consumers wait, readers
  do not), catch the shadow up to the live positions, then compare tables with EXCEPT both ways,
  or copy the shadow's rows over the live ones in the same transaction (table identities do not
  change, so the live service's prepared statements stay valid and readers see old or new rows,
  never a mix).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from ops.replay_workers import Crew
from ops.shadow import Shadow, build_indexes, open_shadow, set_indexes_aside, shadow_name
from services.registry import spec
from shared.platform import db
from shared.platform.bus import partitions_of
from shared.platform.logging import get_logger
from shared.platform.settings import Settings

log = get_logger(__name__)

# Kept as they are by a swap: the live relay's pending records and the migrations ledger.
NOT_STATE = ("schema_migrations", "outbox")
# Bookkeeping that legitimately differs between a replay and the live run (relay_flush: how often
# a relay of before issue 22's seventeenth round waited for the disk; nothing writes it now, but a
# relay of that version may still run beside a new one during a rolling upgrade).
NOT_COMPARED = (*NOT_STATE, "inbox_events", "inbox_offsets", "relay_flush")
# A worker process takes about a second to start (imports, the service's build): below this many
# records one process is done before a second one is ready.
WORKERS_FROM = 20_000


@dataclass
class TableDiff:
    table: str
    only_live: list[dict[str, Any]] = field(default_factory=list)
    only_shadow: list[dict[str, Any]] = field(default_factory=list)
    live_rows: int = 0
    shadow_rows: int = 0

    @property
    def same(self) -> bool:
        return not self.only_live and not self.only_shadow


class SwapRefused(Exception):
    pass


async def _partitions(settings: Settings, topics: list[str], until: datetime | None) -> dict[TopicPartition, int]:
    """End offset per partition now, or at `until` (the first offset appended after it)."""
    reader = AIOKafkaConsumer(**settings.kafka(), group_id=None)
    await reader.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in await partitions_of(reader, t)]
        ends: dict[TopicPartition, int] = await reader.end_offsets(tps)
        if until is not None:
            ms = int(until.timestamp() * 1000) + 1
            found = await reader.offsets_for_times({tp: ms for tp in tps})
            ends = {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}
        return ends
    finally:
        await reader.stop()


# What a rebuild does after its folds, for a progress display: the service's own finishing step
# (`ServiceSpec.replay_finish`, e.g. the projections' search words), then the indexes set aside.
FINISHING = "finishing"
INDEXING = "indexing"


async def rebuild(
    settings: Settings,
    service: str,
    *,
    until: datetime | None = None,
    schema: str | None = None,
    on_total: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
    on_phase: Callable[[str], None] | None = None,
    workers: int = 1,
) -> Shadow:
    """Replay every consumer of `service` from offset 0 (to `until`) into a fresh shadow schema.

    With `workers` > 1 (and a log of at least WORKERS_FROM records), each consumer's partitions
    are shared among that many processes (as live instances share them in a consumer group), and
    each consumer is finished by all of them before the next one starts, as in a single-process
    replay.

    A shadow is whole or gone: a rebuild that raises (or is interrupted) drops its schema, which
    would otherwise hold part of the log, without the indexes and words its end adds."""
    shadow = await open_shadow(settings, service, schema or shadow_name(service, until))
    try:
        await _fill(settings, shadow, until, on_total, on_batch, on_phase, workers)
    except BaseException:
        await _discard(settings, shadow)
        raise
    return shadow


async def _fill(
    settings: Settings,
    shadow: Shadow,
    until: datetime | None,
    on_total: Callable[[int], None] | None,
    on_batch: Callable[[int], None] | None,
    on_phase: Callable[[str], None] | None,
    workers: int,
) -> None:
    aside = await set_indexes_aside(shadow.pool, shadow.schema, spec(shadow.service).replay_indexes_after)
    targets = {c.name: await _partitions(settings, c.topics, until) for c in shadow.consumers}
    total = sum(sum(t.values()) for t in targets.values())
    if on_total is not None:
        on_total(total)
    shadow.workers = workers if total >= WORKERS_FROM else 1
    if shadow.workers <= 1:
        for consumer in shadow.consumers:
            shadow.read += await consumer.replay_to(targets[consumer.name], on_batch, bulk=True)
    else:
        async with Crew.start(settings, shadow.service, shadow.schema, shadow.workers) as crew:
            for consumer in shadow.consumers:
                shadow.read += await crew.replay(consumer.name, targets[consumer.name], on_batch)
    finish = spec(shadow.service).replay_finish
    if finish is not None:
        if on_phase is not None:
            on_phase(FINISHING)
        await finish(shadow.pool)
    if aside:
        if on_phase is not None:
            on_phase(INDEXING)
        await build_indexes(shadow.pool, aside)


async def _discard(settings: Settings, shadow: Shadow) -> None:
    """Close and drop a shadow whose rebuild failed; a failure here must not hide the first."""
    try:
        await shadow.close()
    except Exception:
        log.exception("replay.shadow_close_failed", schema=shadow.schema)
    try:
        await drop(settings, shadow)
    except Exception:
        log.exception("replay.shadow_drop_failed", schema=shadow.schema)


async def _live_positions(conn: asyncpg.Connection, service: str) -> dict[str, dict[TopicPartition, int]]:
    rows = await conn.fetch(f"SELECT consumer, topic, partition, next_offset FROM {service}.inbox_offsets")
    out: dict[str, dict[TopicPartition, int]] = {}
    for r in rows:
        out.setdefault(r["consumer"], {})[TopicPartition(r["topic"], r["partition"])] = r["next_offset"]
    return out


async def _tables(conn: asyncpg.Connection, schema: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'"
        " ORDER BY table_name",
        schema,
    )
    return [r["table_name"] for r in rows]


async def _catch_up(conn: asyncpg.Connection, shadow: Shadow) -> None:
    """With the live inbox locked, bring the shadow to exactly the live positions."""
    await conn.execute(f"LOCK TABLE {shadow.service}.inbox_offsets IN SHARE MODE")
    live = await _live_positions(conn, shadow.service)
    for consumer in shadow.consumers:
        shadow.read += await consumer.replay_to(live.get(consumer.name, {}))


async def compare(settings: Settings, shadow: Shadow, *, sample: int = 5) -> list[TableDiff]:
    """Row-by-row differences between the live schema and the shadow, at the same log positions."""
    conn = await asyncpg.connect(settings.database_url_for(shadow.service))
    try:
        # read committed: the catch-up commits on other connections and must be seen here
        async with conn.transaction():
            await _catch_up(conn, shadow)
            diffs = []
            for table in await _tables(conn, shadow.service):
                if table in NOT_COMPARED or table in spec(shadow.service).api_state:
                    continue
                live, mirror = f"{shadow.service}.{table}", f"{shadow.schema}.{table}"
                cols = spec(shadow.service).replay_compare.get(table, "*")
                rows = spec(shadow.service).replay_rows.get(table)
                if rows is not None:  # only the rows the log determines (`FROM <table> WHERE ...`)
                    live, mirror = f"{live} WHERE {rows}", f"{mirror} WHERE {rows}"
                diff = TableDiff(table)
                diff.live_rows = await conn.fetchval(f"SELECT count(*) FROM {live}")
                diff.shadow_rows = await conn.fetchval(f"SELECT count(*) FROM {mirror}")
                only_live = await conn.fetch(
                    f"SELECT * FROM (SELECT {cols} FROM {live} EXCEPT ALL SELECT {cols} FROM {mirror}) d LIMIT {sample}"
                )
                only_shadow = await conn.fetch(
                    f"SELECT * FROM (SELECT {cols} FROM {mirror} EXCEPT ALL SELECT {cols} FROM {live}) d LIMIT {sample}"
                )
                diff.only_live = [dict(r) for r in only_live]
                diff.only_shadow = [dict(r) for r in only_shadow]
                diffs.append(diff)
        return diffs
    finally:
        await conn.close()


async def swap(settings: Settings, shadow: Shadow) -> dict[str, int]:
    """Make the shadow's state the live one, in one transaction; return rows per table."""
    conn = await asyncpg.connect(settings.database_url_for(shadow.service))
    counts: dict[str, int] = {}
    try:
        async with conn.transaction():
            await _catch_up(conn, shadow)
            guard = spec(shadow.service).swap_guard
            if guard is not None and await conn.fetchval(guard.query.replace("{schema}", shadow.service)):
                raise SwapRefused(guard.why)
            for table in await _tables(conn, shadow.service):
                if table in NOT_STATE or table in spec(shadow.service).api_state:
                    continue
                live, mirror = f"{shadow.service}.{table}", f"{shadow.schema}.{table}"
                await conn.execute(f"DELETE FROM {live}")
                columns = await conn.fetch(
                    "SELECT column_name, is_generated FROM information_schema.columns"
                    " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
                    shadow.service,
                    table,
                )
                names = ", ".join(f'"{c["column_name"]}"' for c in columns if c["is_generated"] == "NEVER")
                status = await conn.execute(f"INSERT INTO {live} ({names}) SELECT {names} FROM {mirror}")
                counts[table] = int(status.rsplit(" ", 1)[-1])
                for c in columns:
                    seq = await conn.fetchval("SELECT pg_get_serial_sequence($1, $2)", live, c["column_name"])
                    if seq:
                        await conn.execute(
                            f"SELECT setval($1, coalesce((SELECT max({c['column_name']}) FROM {live}), 0) + 1, false)",
                            seq,
                        )
        return counts
    finally:
        await conn.close()


async def drop(settings: Settings, shadow: Shadow) -> None:
    """Remove a shadow schema (from the server its service lives on)."""
    conn = await asyncpg.connect(settings.database_url_for(shadow.service))
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {db.check_ident(shadow.schema)} CASCADE")
    finally:
        await conn.close()
