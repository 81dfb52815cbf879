"""The inbox forgets applied event ids only once no copy of them can reach its consumer again
(shared.platform.inbox_pruning), on a real broker and a real database."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import asyncpg
import pytest
from aiokafka import TopicPartition

from shared.platform import db
from shared.platform.bus import start_producer
from shared.platform.consumer import Record
from shared.platform.inbox_pruning import InboxPruner, horizon
from shared.platform.keyring import Keyring
from shared.platform.letters import REDRIVEN_FOR, Letters
from shared.platform.outbox import OutboxRelay
from shared.platform.topics import TICKET_EVENTS
from tests.conftest import Isolated
from tests.integration.ledger.__main__ import MIGRATIONS, NAME, ledger_consumer
from tests.integration.test_delivery_contract import (
    check_acks,
    expected_ledger,
    ledger,
    ledger_rows,
    settle,
    ticket_stream,
)
from tests.kafka_tools import end_offsets, header, inbox_caught_up, produce, read_all, signed, signer_of
from tests.support import eventually

pytestmark = pytest.mark.timeout(180)
PARTITIONS = 4


async def test_the_horizon_waits_for_outbox_rows_and_open_transactions(fresh: Isolated) -> None:
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    other = await asyncpg.connect(fresh.settings.database_url)
    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        async with pool.acquire() as conn:
            now = await conn.fetchval("SELECT now()")
            assert await horizon(conn, 0, 0) >= now  # nothing waiting, nothing open
            keep = await horizon(conn, 3600, 0)
            assert now - timedelta(hours=1) <= keep <= await conn.fetchval("SELECT now()") - timedelta(hours=1)
            skew = await horizon(conn, 0, 60)
            assert now - timedelta(minutes=1) <= skew <= await conn.fetchval("SELECT now()") - timedelta(minutes=1)

            # a row an outbox may still send (again): nothing learnt after it was written may go
            old = now - timedelta(minutes=30)
            await conn.execute("INSERT INTO outbox(topic, created_at) VALUES ('t', $1)", old)
            assert await horizon(conn, 0, 0) == old
            await conn.execute("DELETE FROM outbox")

            # a transaction still open may be writing one, dated at its start
            tx = other.transaction()
            await tx.start()
            started = await other.fetchval("SELECT now()")
            assert await horizon(conn, 0, 0) == started
            await tx.commit()
            assert await horizon(conn, 0, 0) > started
    finally:
        await other.close()
        await pool.close()


class _LogEnds:
    """Where the consumer's partitions end, read from the broker as the pruner needs."""

    def __init__(self, iso: Isolated) -> None:
        self.name = NAME
        self._topic = iso.settings.topic(TICKET_EVENTS)
        self._settings = iso.settings

    async def log_ends(self) -> dict[TopicPartition, int]:
        ends = await end_offsets(self._settings, self._topic)
        return {TopicPartition(self._topic, p): end for p, end in ends.items()}


def _by_partition(records: list[Record]) -> dict[TopicPartition, list[Record]]:
    out: dict[TopicPartition, list[Record]] = {}
    for r in records:
        out.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
    return out


async def test_ids_go_only_once_the_consumer_has_read_past_every_copy(fresh: Isolated) -> None:
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=10, comments=3)
    await produce(fresh.settings, topic, events)
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    producer = await start_producer(fresh.settings, "pruning-test")
    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = ledger_consumer(fresh.settings, pool, Letters(await Keyring.open(pool, fresh.settings)))
        relay = OutboxRelay(pool, producer, NAME, signer_of(fresh.settings, "intake"))
        pruner = InboxPruner(pool, [_LogEnds(fresh)], keep_s=0, skew_s=0)

        async def learnt() -> set[str]:
            rows = await pool.fetch("SELECT event_id FROM inbox_events WHERE consumer = $1", NAME)
            return {str(r["event_id"]) for r in rows}

        async def apply_the_log() -> None:
            for tp, records in _by_partition(await read_all(fresh.settings, topic)).items():
                await consumer.apply(tp, records)

        await apply_the_log()
        while await relay.publish_batch():  # the acknowledgements it decided go to the log
            pass
        assert await learnt() == {str(e.id) for e in events}

        assert await pruner.step() == 0  # a candidate: what it learnt so far, once it reads past the acks
        assert await pruner.step() == 0  # it has not read them yet: their copies may still be ids it knows
        assert await learnt() == {str(e.id) for e in events}

        await apply_the_log()  # the acks, learnt after the candidate's horizon
        log = await read_all(fresh.settings, topic)
        acks = {str(header(r, "ce_id")) for r in log if header(r, "ce_source") == NAME}
        assert len(acks) == 10
        assert await pruner.step() == len(events)
        assert await learnt() == acks
        # the step took its next candidate too: the acks are in no outbox and read, so they go next
        assert await pruner.step() == len(acks)
        assert await learnt() == set()
        assert await ledger_rows(fresh) == expected_ledger(events)
    finally:
        await producer.stop()
        await pool.close()


async def test_a_service_pruning_eagerly_still_applies_a_resent_batch_once(fresh: Isolated) -> None:
    """The ledger service prunes every 0.2 s with no `keep`, while its relay dies between sending a
    batch and deleting it: the batch is sent again, and no copy of it is applied twice."""
    events = ticket_stream(tickets=120, comments=0)
    eager = {"MESA_INBOX_KEEP_S": "0", "MESA_INBOX_CLOCK_SKEW_S": "0", "MESA_INBOX_PRUNE_INTERVAL_S": "0.2"}
    victim = await ledger(fresh, MESA_FAULTS="relay_after_send=2", MESA_BATCH_SIZE="20", **eager).start().ready()
    await produce(fresh.settings, fresh.settings.topic(TICKET_EVENTS), events)
    assert await victim.wait_exit(90) == -9, victim.log_tail()

    # the survivor's relay is held back (its leader lock taken here) while its consumer reads the
    # first copies and its pruner runs: it must still know them when the second copies come
    holder = await asyncpg.connect(fresh.settings.database_url)
    await holder.execute("SELECT pg_advisory_lock(hashtext('ledger.outbox'))")
    survivor = ledger(fresh, MESA_BATCH_SIZE="20", **eager).start()
    try:
        topic = fresh.settings.topic(TICKET_EVENTS)
        await eventually(lambda: inbox_caught_up(fresh.settings, NAME, NAME, [topic]), timeout=60, what="catch-up")
        await _until_steady(fresh, "SELECT count(*) FROM ledger.inbox_events")  # pruned what it may
        await holder.close()
        await settle(fresh, [survivor])
        records = await read_all(fresh.settings, fresh.settings.topic(TICKET_EVENTS))
        ack_ids = Counter(header(r, "ce_id") for r in records if header(r, "ce_source") == NAME)
        assert any(n > 1 for n in ack_ids.values())  # sent twice ...
        await check_acks(fresh, events)  # ... applied once
        assert await ledger_rows(fresh) == expected_ledger(events)

        async def forgotten() -> bool:
            return await _count(fresh, "SELECT count(*) FROM ledger.inbox_events") == 0

        await eventually(forgotten, timeout=30, what="the ledger to forget every id it applied")
    finally:
        await holder.close()
        survivor.stop()


async def _until_steady(iso: Isolated, sql: str, rounds: int = 8) -> None:
    """Until `sql` gives the same count over `rounds` looks 0.25 s apart (several prune rounds)."""
    seen: list[int] = []

    async def steady() -> bool:
        seen.append(await _count(iso, sql))
        return len(seen) >= rounds and len(set(seen[-rounds:])) == 1

    await eventually(steady, timeout=30, interval=0.25, what=f"a steady {sql}")


async def _count(iso: Isolated, sql: str) -> int:
    conn = await asyncpg.connect(iso.settings.database_url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def test_a_redriven_event_is_applied_only_by_the_consumer_that_refused_it(fresh: Isolated) -> None:
    """Ops re-drive a letter another consumer refused, long after this one applied the original and
    forgot its id: this one skips it. A letter it refused itself it applies again."""
    topic = fresh.settings.topic(TICKET_EVENTS)
    events = ticket_stream(tickets=3, comments=1)
    await produce(fresh.settings, topic, events)
    pool = await db.create_pool(fresh.settings.database_url, NAME)
    try:
        await db.migrate(pool, NAME, MIGRATIONS)
        consumer = ledger_consumer(fresh.settings, pool, Letters(await Keyring.open(pool, fresh.settings)))

        async def apply_the_log() -> None:
            for tp, records in _by_partition(await read_all(fresh.settings, topic)).items():
                await consumer.apply(tp, records)

        await apply_the_log()
        await pool.execute("DELETE FROM inbox_events")  # forgotten, as the pruner would
        before = await ledger_rows(fresh)
        comment = next(e for e in events if e.type == "ticket.commented")
        key, value, headers = signed(fresh.settings, comment)
        for_routing = [*headers, ("dlq_redriven_from", b"x.dlq/0/0"), (REDRIVEN_FOR, b"routing.tickets")]
        await produce(fresh.settings, topic, [(key, value, for_routing)])
        await apply_the_log()
        assert await ledger_rows(fresh) == before  # routing's letter: not this consumer's to apply

        for_us = [*headers, ("dlq_redriven_from", b"x.dlq/0/1"), (REDRIVEN_FOR, NAME.encode())]
        await produce(fresh.settings, topic, [(key, value, for_us)])
        await apply_the_log()
        after = await ledger_rows(fresh)
        assert after[comment.subject][0] == before[comment.subject][0] + 1  # its own letter: applied
    finally:
        await pool.close()
