"""The delivery contract of ARCHITECTURE.md, proven on a real broker and a real database.

The subject is `tests/integration/ledger`, a service built only from `shared/` and run as its own
OS process: it folds ticket.events into an order-sensitive hash chain per ticket and answers each
`ticket.opened` with one event of its own through the outbox.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition

from shared.domain.events import Envelope
from shared.domain.events.catalogue import TicketCommented, TicketOpened
from shared.platform import db
from shared.platform.consumer import Record
from shared.platform.keyring import Keyring
from shared.platform.letters import Letters
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME, chain, ledger_consumer
from tests.kafka_tools import end_offsets, header, inbox_caught_up, opened_letter, produce, read_all
from tests.support import Proc, eventually, free_port

pytestmark = pytest.mark.timeout(240)
PARTITIONS = 4
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def ticket_stream(tickets: int, comments: int, seed: int = 7) -> list[Envelope]:
    """Opened, then comments, per ticket; tickets interleaved as they would be in real life."""
    rng = random.Random(seed)
    per_ticket: dict[str, list[Envelope]] = {}
    for i in range(tickets):
        tid = f"T-{i:04d}"
        opened = TicketOpened(
            ticket_id=tid,
            requester=f"user{i}",
            subject="No enciende",
            description="La pantalla sigue negra",
            category="hardware",
            impact="medium",
            urgency="high",
            priority="P2",
        )
        evs = [Envelope.new(opened, source="test", subject=tid, time=T0 + timedelta(seconds=i))]
        for j in range(comments):
            body = TicketCommented(ticket_id=tid, author=f"user{i}", author_role="requester", body=f"nota {j}")
            evs.append(Envelope.new(body, source="test", subject=tid, time=T0 + timedelta(seconds=i, milliseconds=j)))
        per_ticket[tid] = evs
    out: list[Envelope] = []
    queues = list(per_ticket.values())
    while queues:
        q = rng.choice(queues)
        out.append(q.pop(0))
        if not q:
            queues.remove(q)
    return out


def expected_ledger(events: list[Envelope]) -> dict[str, tuple[int, str]]:
    state: dict[str, tuple[int, str]] = {}
    seen: set[str] = set()
    for e in events:
        if str(e.id) in seen:
            continue
        seen.add(str(e.id))
        count, prev = state.get(e.subject, (0, ""))
        state[e.subject] = (count + 1, chain(prev, str(e.id)))
    return state


async def ledger_rows(iso: Isolated) -> dict[str, tuple[int, str]]:
    conn = await asyncpg.connect(iso.settings.database_url)
    try:
        rows = await conn.fetch("SELECT ticket_id, events, chain FROM ledger.ledger ORDER BY ticket_id")
    finally:
        await conn.close()
    return {r["ticket_id"]: (r["events"], r["chain"]) for r in rows}


async def ack_rows(iso: Isolated) -> dict[str, tuple[str, int]]:
    conn = await asyncpg.connect(iso.settings.database_url)
    try:
        rows = await conn.fetch("SELECT event_id, cause, seen FROM ledger.acks")
    finally:
        await conn.close()
    return {str(r["event_id"]): (r["cause"], r["seen"]) for r in rows}


def ledger(iso: Isolated, name: str = "ledger", **env: str) -> Proc:
    port = free_port()
    # a stand-in for a service: it reads as the operator and signs what it emits as intake (the
    # owner of the ticket.categorized it emits)
    stand_in = {
        "MESA_KAFKA_PRINCIPAL": "admin",
        "MESA_SIGNING_KEY_FILE": str(iso.settings.signing_folder / "intake.key"),
    }
    return Proc(
        "tests.integration.ledger",
        {**iso.env, "LEDGER_PORT": str(port), **stand_in, **env},
        iso.log_dir,
        name,
        port,
    )


async def settle(iso: Isolated, procs: list[Proc], timeout: float = 90) -> None:
    """Wait until the ledger has applied everything in ticket.events, its own acks included."""
    topic = iso.settings.topic(TICKET_EVENTS)

    async def done() -> bool:
        for p in procs:
            assert p.alive(), f"{p.name} died:\n{p.log_tail()}"
        if not await inbox_caught_up(iso.settings, NAME, NAME, [topic]):
            return False
        conn = await asyncpg.connect(iso.settings.database_url)
        try:
            pending = await conn.fetchval("SELECT count(*) FROM ledger.outbox")
        finally:
            await conn.close()
        return pending == 0 and await inbox_caught_up(iso.settings, NAME, NAME, [topic])

    await eventually(done, timeout=timeout, what="the ledger to catch up")


async def check_acks(iso: Isolated, events: list[Envelope]) -> None:
    """Exactly one ack id per opened event in the log, and the ledger saw each ack id once."""
    opened = {str(e.id) for e in events if e.type == "ticket.opened"}
    records = await read_all(iso.settings, iso.settings.topic(TICKET_EVENTS))
    acks = [r for r in records if header(r, "ce_source") == NAME]
    ids_by_cause: dict[str, set[str]] = {}
    for r in acks:
        ids_by_cause.setdefault(header(r, "ce_causationid") or "", set()).add(header(r, "ce_id") or "")
    assert set(ids_by_cause) == opened
    assert all(len(ids) == 1 for ids in ids_by_cause.values())
    seen = await ack_rows(iso)
    assert len(seen) == len(opened)
    assert {cause for cause, _ in seen.values()} == opened
    assert all(n == 1 for _, n in seen.values())


async def test_record_delivered_twice_changes_state_once(fresh: Isolated) -> None:
    events = ticket_stream(tickets=5, comments=3)
    topic = fresh.settings.topic(TICKET_EVENTS)
    # the same event id again at a later offset, as a retrying producer elsewhere might do
    await produce(fresh.settings, topic, [*events, events[2], events[7]])

    pool = await db.create_pool(fresh.settings.database_url, NAME)
    await db.migrate(pool, NAME, MIGRATIONS)
    consumer = ledger_consumer(fresh.settings, pool, Letters(await Keyring.open(pool, fresh.settings)))
    records = await read_all(fresh.settings, topic)
    by_tp: dict[TopicPartition, list[Record]] = {}
    for r in records:
        by_tp.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
    try:
        for tp, recs in by_tp.items():
            await consumer.apply(tp, recs)
        first = await ledger_rows(fresh)
        # the same offsets delivered again (a consumer that lost its Kafka commit): no change
        for tp, recs in by_tp.items():
            assert await consumer.apply(tp, recs) is None
        assert await ledger_rows(fresh) == first == expected_ledger(events)
        assert sum(n for n, _ in first.values()) == len(events)
    finally:
        await pool.close()


@pytest.mark.parametrize("point", ["before_state_commit", "after_state_commit", "after_kafka_commit"])
async def test_sigkill_at_each_point_loses_and_duplicates_nothing(fresh: Isolated, point: str) -> None:
    events = ticket_stream(tickets=40, comments=4)
    victim = await ledger(fresh, MESA_FAULTS=f"{point}=3", MESA_BATCH_SIZE="15").start().ready()
    await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), events)
    assert await victim.wait_exit(90) == -9, victim.log_tail()
    partial = await ledger_rows(fresh)
    assert sum(n for n, _ in partial.values()) < len(events), "the crash came after all the work"

    survivor = ledger(fresh, MESA_BATCH_SIZE="15").start()
    try:
        await settle(fresh, [survivor])
        assert await ledger_rows(fresh) == expected_ledger(events)
        await check_acks(fresh, events)
    finally:
        survivor.stop()


async def test_relay_killed_mid_batch_delivers_every_row(fresh: Isolated) -> None:
    events = ticket_stream(tickets=120, comments=0)
    victim = await ledger(fresh, MESA_FAULTS="relay_after_send=2", MESA_BATCH_SIZE="20").start().ready()
    await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), events)
    assert await victim.wait_exit(90) == -9, victim.log_tail()

    survivor = ledger(fresh, MESA_BATCH_SIZE="20").start()
    try:
        await settle(fresh, [survivor])
        records = await read_all(fresh.settings, fresh.settings.topic(TICKET_EVENTS))
        ack_ids = Counter(header(r, "ce_id") for r in records if header(r, "ce_source") == NAME)
        assert len(ack_ids) == 120
        # the batch sent before the kill was sent again after it: duplicates in the log ...
        assert any(n > 1 for n in ack_ids.values())
        # ... that no consumer noticed
        await check_acks(fresh, events)
        assert await ledger_rows(fresh) == expected_ledger(events)
    finally:
        survivor.stop()


async def test_group_member_killed_mid_stream_other_takes_over(fresh: Isolated) -> None:
    events = ticket_stream(tickets=150, comments=5, seed=11)
    topic = fresh.settings.topic(TICKET_EVENTS)
    a = ledger(fresh, "ledger-a", MESA_BATCH_SIZE="10").start()
    b = ledger(fresh, "ledger-b", MESA_BATCH_SIZE="10").start()
    try:
        await a.ready()
        await b.ready()
        half = len(events) // 2
        await produce(fresh.settings, topic, events[:half])

        async def both_working() -> bool:
            rows = await ledger_rows(fresh) if await _has_ledger(fresh) else {}
            return sum(n for n, _ in rows.values()) > 50

        await eventually(both_working, timeout=60, what="the ledger to be mid-stream")
        a.kill()
        await produce(fresh.settings, topic, events[half:])
        await settle(fresh, [b], timeout=120)
        assert await ledger_rows(fresh) == expected_ledger(events)
        await check_acks(fresh, events)
        assert "partitions assigned" in b.log_tail(400)
    finally:
        a.kill()
        b.stop()


async def _has_ledger(iso: Isolated) -> bool:
    conn = await asyncpg.connect(iso.settings.database_url)
    try:
        return bool(await conn.fetchval("SELECT to_regclass('ledger.ledger') IS NOT NULL"))
    finally:
        await conn.close()


async def test_malformed_records_are_dead_lettered_and_consumption_goes_on(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    good = ticket_stream(tickets=1, comments=1)
    k, v, h = good[1].to_kafka()
    unknown = [(n, b"ticket.teleported" if n == "ce_type" else x) for n, x in h]
    bad_payload = [(n, b"ticket.opened" if n == "ce_type" else x) for n, x in h]
    proc = await ledger(fresh).start().ready()
    await produce(
        fresh.settings,
        topic,
        [
            good[0],
            (k, b"{not json", h),
            (k, v, unknown),
            (k, b'{"ticket_id": "T-0000", "priority": "P9"}', bad_payload),
            good[1],
        ],
    )
    try:
        await settle(fresh, [proc])
        assert await ledger_rows(fresh) == expected_ledger(good)
        dead = await eventually(lambda: read_all(fresh.settings, topic + ".dlq"), what="dead letters")
        by_code = {header(r, "dlq_code"): r for r in dead}
        assert set(by_code) == {"malformed", "unknown_type", "invalid_payload"}
        assert "not JSON" in (header(by_code["malformed"], "dlq_reason") or "")
        assert "ticket.teleported" in (header(by_code["unknown_type"], "dlq_reason") or "")
        reason = header(by_code["invalid_payload"], "dlq_reason") or ""
        assert "priority" in reason and "requester" in reason
        assert by_code["malformed"].value != b"{not json"  # sealed: a DLQ is no copy of the log in clear
        assert opened_letter(fresh.settings, by_code["malformed"])[0] == b"{not json"  # the original, untouched
        assert header(by_code["malformed"], "dlq_topic") == topic
        assert proc.alive()
    finally:
        proc.stop()


async def test_drop_schema_and_replay_gives_identical_rows(fresh: Isolated) -> None:
    events = ticket_stream(tickets=60, comments=3, seed=3)
    topic = fresh.settings.topic(TICKET_EVENTS)
    first = await ledger(fresh, "ledger-1").start().ready()
    await produce(fresh.settings, topic, events)
    try:
        await settle(fresh, [first])
    finally:
        first.stop()
    before_ledger, before_acks = await ledger_rows(fresh), await ack_rows(fresh)
    assert before_ledger == expected_ledger(events)
    log_before = await end_offsets(fresh.settings, topic)

    await db.drop_schema(fresh.settings.database_url, NAME)
    second = ledger(fresh, "ledger-2").start()
    try:
        await settle(fresh, [second])
        assert await ledger_rows(fresh) == before_ledger
        assert await ack_rows(fresh) == before_acks
        # history is folded, not acted on again: the replay appended nothing to the log
        assert await end_offsets(fresh.settings, topic) == log_before
    finally:
        second.stop()
