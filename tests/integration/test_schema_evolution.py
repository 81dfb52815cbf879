"""A log that holds old (v1) and new (v2) versions of events replays to the same state as the
same history written all in v2: upcasters run on read, the log is never rewritten. Both logs were
written before events were signed: they are read as history below their signing cut-over, and
an unsigned record past it is refused."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import pytest

from ops import replay
from shared.platform.settings import Settings
from shared.platform.signing import record_cutover
from shared.platform.topics import AGENT_EVENTS, delete_topics, end_offsets, ensure_topics, topic_specs
from tests.conftest import Isolated
from tests.kafka_tools import produce

pytestmark = pytest.mark.timeout(120)
DATA = Path(__file__).parent.parent / "data"


def records(name: str) -> list[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    out = []
    for line in (DATA / name).read_text().splitlines():
        r = json.loads(line)
        headers = [(k, v.encode()) for k, v in r["headers"].items()]
        out.append((r["key"].encode(), json.dumps(r["value"]).encode(), headers))
    return out


async def rows(settings: Settings, schema: str, table: str, columns: str) -> list[dict[str, object]]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [dict(r) for r in await conn.fetch(f"SELECT {columns} FROM {schema}.{table} ORDER BY 1")]
    finally:
        await conn.close()


async def test_a_mixed_version_log_folds_like_an_all_v2_log(fresh: Isolated) -> None:
    mixed = fresh.settings
    all_v2 = mixed.model_copy(update={"topic_prefix": mixed.topic_prefix + "v2."})
    await ensure_topics(all_v2, topic_specs(all_v2))
    try:
        assert any(h == ("ce_dataversion", b"1") for *_, hs in records("agent-log-v1-v2.jsonl") for h in hs)
        await produce(mixed, mixed.topic(AGENT_EVENTS), records("agent-log-v1-v2.jsonl"))
        await produce(all_v2, all_v2.topic(AGENT_EVENTS), records("agent-log-v2.jsonl"))
        # what `make up` does once on an existing log: signed history begins here
        topics = [mixed.topic(AGENT_EVENTS), all_v2.topic(AGENT_EVENTS)]
        cutover = record_cutover(mixed.signing_folder, await end_offsets(mixed, topics))
        assert {t: sum(parts.values()) for t, parts in cutover.items()} == {t: 7 for t in topics}
        late = records("agent-log-v2.jsonl")[:1]  # and one more unsigned record, after the cut-over
        await produce(mixed, mixed.topic(AGENT_EVENTS), late)
        for service, table, columns in (
            ("projections", "agents", "id, name, availability, teams, skills, capacity"),
            ("routing", "agents", "id, availability, teams, capacity"),
        ):
            a = await replay.rebuild(mixed, service, schema=f"{service}_mixed")
            b = await replay.rebuild(all_v2, service, schema=f"{service}_v2")
            try:
                assert (a.read, b.read) == (8, 7)
                letters = await rows(mixed, a.schema, "outbox", "topic, headers::text AS headers")
                assert len(letters) == 1 and '"dlq_code", "dW5zaWduZWQ="' in str(letters[0]["headers"])
                folded = await rows(mixed, a.schema, table, columns)
                assert folded == await rows(mixed, b.schema, table, columns)
                assert {r["id"]: r["availability"] for r in folded} == {
                    "ana": "offline",
                    "bruno": "online",
                    "carla": "away",
                    "diego": "away",
                }
            finally:
                for shadow in (a, b):
                    await shadow.close()
                    await replay.drop(mixed, shadow)
    finally:
        await delete_topics(all_v2, [s.name for s in topic_specs(all_v2)])
