"""Replaying a real run's log (over 50,000 events written by intake, routing and SLA) into a
shadow schema while the live projections keep serving: identical state, the state as of a past
moment, and a swap that the live service carries on from."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from ops import replay
from shared.platform.topics import TICKET_EVENTS, TICKET_REQUESTS
from tests.e2e.conftest import Mesa, register_roster
from tests.kafka_tools import end_offsets, inbox_caught_up
from tests.support import bearer, client, eventually

pytestmark = pytest.mark.timeout(600)
# notify's mail would only slow the run down; the log is what matters here
SERVICES = ("projections", "intake", "routing", "sla")
PARTITIONS = 6
CATEGORIES = ["hardware", "software", "network", "order_status", "payment"]


async def open_requests(mesa: Mesa, start: int, n: int) -> None:
    """Tickets as another internal system opens them: ticket.open requests on Kafka, in bulk."""
    producer = AIOKafkaProducer(**mesa.iso.settings.kafka(), linger_ms=20)
    await producer.start()
    try:
        topic = mesa.iso.settings.topic(TICKET_REQUESTS)
        for i in range(start, start + n):
            body = {
                "requester": f"cliente{i}@example.com",
                "subject": f"Incidencia {i}",
                "description": "Generada para la prueba de replay",
                "category": CATEGORIES[i % 5],
                "impact": ["high", "medium", "low"][i % 3],
                "urgency": ["low", "medium", "high"][(i // 3) % 3],
            }
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", str(uuid.uuid4()).encode()),
                ("ce_type", b"ticket.open"),
                ("ce_source", b"erp://pruebas"),
                ("ce_time", datetime.now(UTC).isoformat().encode()),
                ("content-type", b"application/json"),
                ("authorization", bearer("service", "erp")["Authorization"].encode()),
            ]
            await producer.send(topic, json.dumps(body).encode(), key=f"c{i}".encode(), headers=headers)
        await producer.flush()
    finally:
        await producer.stop()


async def settled(mesa: Mesa, tickets: int) -> bool:
    """Every ticket opened, routed and given targets, and every consumer at the end of the log."""
    s = mesa.iso.settings
    events, requests = s.topic(TICKET_EVENTS), s.topic(TICKET_REQUESTS)
    for schema, consumer, topic in (
        ("intake", "intake-requests", requests),
        ("routing", "routing-tickets", events),
        ("sla", "sla-tickets", events),
        ("projections", "projections-tickets", events),
    ):
        if not await inbox_caught_up(s, schema, consumer, [topic]):
            return False
    conn = await asyncpg.connect(s.database_url)
    try:
        done = await conn.fetchval(
            "SELECT count(*) FROM projections.tickets WHERE first_response_due IS NOT NULL"
            " AND (owner IS NOT NULL OR queued_at IS NOT NULL)"
        )
    finally:
        await conn.close()
    if done < tickets:
        return False
    # and nothing more is on its way: a second look finds the log where the first left it
    before = await end_offsets(s, events)
    return before == await end_offsets(s, events) and await inbox_caught_up(
        s, "projections", "projections-tickets", [events]
    )


async def workspace_moves(mesa: Mesa) -> list[str]:
    """What an agent's day adds to the log: a field and a macro defined, tags, a custom field's
    value, a macro applied, a link, a merge. The tickets it touched."""
    intake = mesa.url("intake")
    async with client(timeout=10) as http:
        r = await http.post(
            f"{intake}/fields",
            json={"id": "motivo", "label_es": "Motivo", "label_en": "Reason", "kind": "list", "options": ["a", "b"]},
            headers=bearer("admin", "root"),
        )
        assert r.status_code == 201, r.text
        macro = {"id": "nota", "name": "Nota", "text_es": "Revisado con {{requester.name}}: {{ticket.id}}",
                 "actions": {"internal": True, "add_tags": ["macro"]}}  # fmt: skip
        r = await http.post(f"{intake}/macros", json=macro, headers=bearer("supervisor", "sara"))
        assert r.status_code == 201, r.text
        ids = []
        for i in range(3):
            r = await http.post(
                f"{intake}/tickets",
                json={"subject": f"Repetido {i}", "description": "El mismo pedido otra vez", "category": "hardware"},
                headers=bearer("requester", "repite@example.com"),
            )
            assert r.status_code == 201, r.text
            ids.append(r.json()["id"])
        sup = bearer("supervisor", "sara")
        for tid in ids:  # routed first (every agent is full by now: queued)
            await mesa.ticket_when(tid, lambda t: t["owner"] or t["queued_since"], "routed", timeout=120)

        async def act(tid: str, command: str, body: dict[str, Any]) -> None:
            r = await http.post(f"{intake}/tickets/{tid}/{command}", json=body, headers=sup)
            assert r.status_code == 200, (command, r.text)

        await act(ids[0], "tags", {"add": ["repetido", "hardware_x"]})
        await act(ids[0], "fields", {"values": {"motivo": "b"}})
        await act(ids[0], "link", {"to": ids[2]})
        await act(ids[1], "merge", {"into": ids[0]})
        await act(ids[2], "apply-macro", {"macro": "nota"})
    return ids


async def snapshot(mesa: Mesa, schema: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(mesa.iso.settings.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT id, status, owner, priority, version, first_response_due, resolution_due FROM {schema}.tickets"
            " ORDER BY id"
        )
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_replay_of_a_real_run_is_identical_answers_as_of_a_past_time_and_swaps_in(mesa: Mesa) -> None:
    s = mesa.iso.settings
    await register_roster(mesa)
    started = time.monotonic()
    await open_requests(mesa, 0, 8_000)
    await eventually(lambda: settled(mesa, 8_000), timeout=240, interval=1, what="the first 8,000 tickets")
    # the state the live projections have now, at a moment nothing else is in flight
    at_then = await snapshot(mesa, "projections")
    then = datetime.now(UTC)
    await open_requests(mesa, 8_000, 9_000)
    await eventually(lambda: settled(mesa, 17_000), timeout=300, interval=1, what="all 17,000 tickets")
    moved = await workspace_moves(mesa)  # merges, macros, tags, links and fields are replayed too
    await eventually(lambda: settled(mesa, 17_003), timeout=120, interval=1, what="all 17,003 tickets")
    merged = await mesa.ticket_when(moved[1], lambda t: t["status"] == "merged", "the duplicate merged")
    assert merged["merged_into"] == moved[0]
    await mesa.ticket_when(moved[2], lambda t: "macro" in t["tags"], "the macro's tag")
    events = sum((await end_offsets(s, s.topic(TICKET_EVENTS))).values())
    assert events >= 50_000, events
    print(f"\n{events:,} events written by the run in {time.monotonic() - started:.0f} s")

    # rebuild while the live service serves, in two worker processes; compare row by row
    t0 = time.monotonic()
    shadow = await replay.rebuild(s, "projections", workers=2)
    took = time.monotonic() - t0
    print(f"replayed {shadow.read:,} records in {took:.1f} s ({shadow.read / took:,.0f} ev/s)")
    try:
        assert shadow.read >= events
        assert shadow.workers == 2  # the log is long enough for worker processes to pay off
        diffs = await replay.compare(s, shadow)
        assert {d.table for d in diffs} >= {
            "tickets", "timeline", "agents", "ticket_links", "ticket_fields", "macros", "field_defs",
        }  # fmt: skip
        for d in diffs:
            assert d.same, (d.table, d.only_live[:2], d.only_shadow[:2])
            assert d.live_rows == d.shadow_rows
        rows = {d.table: d.live_rows for d in diffs}
        assert rows["ticket_links"] == 2 and rows["ticket_fields"] == 1 and rows["macros"] == 1, rows
        conn = await asyncpg.connect(s.database_url)
        try:
            assert await conn.fetchval(f"SELECT count(*) FROM {shadow.schema}.outbox") == 0  # nothing to publish
        finally:
            await conn.close()

        # the swap: the live service carries on from the rebuilt state
        counts = await replay.swap(s, shadow)
        assert counts["tickets"] == 17_003
    finally:
        await shadow.close()
        await replay.drop(s, shadow)
    async with client(timeout=10) as http:
        r = await http.post(
            f"{mesa.url('intake')}/tickets",
            json={"requester": "despues@example.com", "subject": "Tras el swap", "description": "sigue vivo"},
        )
    assert r.status_code == 201
    after = await mesa.ticket_when(r.json()["id"], lambda t: t["owner"] or t["status"] == "new", "the live view")
    assert after["subject"] == "Tras el swap"

    # the state as of `then`, from the log alone
    past = await replay.rebuild(s, "projections", until=then)
    try:
        assert await snapshot(mesa, past.schema) == at_then
    finally:
        await past.close()
        await replay.drop(s, past)
