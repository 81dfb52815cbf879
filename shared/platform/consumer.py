"""The inbox consumer: records in, state and outbox rows out, in one PostgreSQL transaction.

For each batch of one partition:
1. decode each record; an undecodable one (`InvalidRecord`) becomes a dead letter, in the outbox;
2. in one statement, lock the partition's inbox row, move its offset past the batch (it commits
   with the rest) and record the batch's event ids; skip records below the offset it had
   (redeliveries) and event ids already applied (the same event at another offset);
3. write the dead letters of step 1, for the records past that offset;
4. call the handler in a savepoint; a `Rejected`/`InvalidRecord` it raises is dead-lettered too;
5. commit; then, at most once a second, commit the offsets to Kafka (for lag monitoring).
A live batch of records all of types the consumer never reads (`wants`) skips 1-5: the next
claim of its partition moves the offset past it, or one a second at most.
Anything else raised is taken as transient: the transaction rolls back and the batch is retried
with backoff. After a few failed tries the batch is replayed with each failing record
dead-lettered, so one poisonous record cannot stop a partition for good.

On partition assignment the consumer seeks to the offsets stored in the inbox (0 when none), so
a dropped schema replays the log from the start.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import functools
import itertools
import time
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord
from opentelemetry import trace
from prometheus_client import Counter, Gauge

from shared.domain.events import Envelope, InvalidRecord
from shared.platform import db, inbox, outbox, tracing
from shared.platform.bus import make_consumer
from shared.platform.faults import fault_point
from shared.platform.letters import REDRIVEN_FOR, Letters, Owner
from shared.platform.logging import get_logger
from shared.platform.settings import Settings
from shared.platform.signing import Trust
from shared.platform.topics import DLQ_SUFFIX

log = get_logger(__name__)

APPLIED = Counter("mesa_records_applied_total", "Records applied", ["consumer", "topic"])
DUPLICATES = Counter("mesa_records_duplicate_total", "Records skipped as duplicates", ["consumer", "kind"])
UNWANTED = Counter(
    "mesa_records_unwanted_total", "Records skipped unread: a type this consumer never acts on", ["consumer"]
)
SET_ASIDE = Counter(
    "mesa_batches_passed_over_total",
    "Partitions' polls of records all passed over unread, their position not written at once",
    ["consumer"],
)
DEAD = Counter("mesa_records_dead_lettered_total", "Records sent to a DLQ", ["consumer", "code"])
RETRIES = Counter("mesa_batch_retries_total", "Batches retried after an error", ["consumer"])
# Seen from inside, per partition this instance holds (a Kubernetes HPA reads them per pod).
# ops/lagwatch.py measures the same from outside, for every group, stopped members included.
LAG = Gauge(
    "mesa_inbox_lag_records", "Records in the log this instance has not applied yet", ["consumer", "topic", "partition"]
)
OLDEST = Gauge(
    "mesa_inbox_oldest_unapplied_seconds",
    "Age of the oldest record taken from the log and not yet applied (0: none waiting)",
    ["consumer", "topic", "partition"],
)
LAG_EVERY_S = 1.0  # how often the gauges are brought up to date

Record: TypeAlias = ConsumerRecord[bytes, bytes]
Emitted = Sequence[tuple[str, Envelope]] | None


class HasId(Protocol):
    @property
    def id(self) -> UUID: ...


M = TypeVar("M", bound=HasId)


@dataclass(frozen=True)
class Delivery:
    """Where a message came from, and whether it is history (fold it, do not act on it)."""

    record: Record
    replaying: bool


Handler = Callable[[asyncpg.Connection, M, Delivery], Awaitable[Emitted]]
# A handler of a whole batch (one partition's fresh records, in order): a pure fold that can
# load and write its rows in a few statements instead of a few per record.
BatchHandler = Callable[[asyncpg.Connection, list[tuple[M, Delivery]]], Awaitable[Emitted]]
Decoder = Callable[[Record], M]

# What a retry cures. A deadlock or a serialization failure (TransactionRollbackError) is one: a
# record that lost one must never be dead-lettered as poisonous.
_TRANSIENT_DB = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.TransactionRollbackError,
    asyncio.TimeoutError,
)
KAFKA_COMMIT_EVERY_S = 1.0
# A live partition's poll of records this consumer never reads (`wants`) writes nothing: its
# position is stored with the partition's next claim, or by this long after the last one at most
# (what `catch_up`, the pruner and `mesa replay` read of it may lag by that much).
PASSED_OVER_STORED_WITHIN_S = 1.0
# The ids of the decisions a consumer applied as it made them, kept until it reads them back (live,
# a moment later): a poll of those alone needs no claim. Past this many, the oldest are forgotten
# (their copies then take a claim, which skips them as ever).
OWN_REMEMBERED = 10_000
POISON_AFTER = 5  # tries (about 3 s of backoff) before a failing record is dead-lettered


class _NeedsSavepoints(Exception):
    """The fast path met a record the handler refused: redo the batch a savepoint per record."""


def _header(record: Record, name: str) -> bytes | None:
    """The first header of that name (a plain loop: every consumer asks it of every record)."""
    for k, v in record.headers or ():
        if k == name:
            return v  # type: ignore[no-any-return]
    return None


def nothing_to_read(
    records: Sequence[Record], history_end: int, wants: frozenset[bytes] | None, own: Container[bytes] = ()
) -> bool:
    """Whether a partition's batch is live (at or past where its history ended) and each of its
    records either of a type outside `wants` or one of this consumer's own decisions read back
    (`own`: their `ce_id`s, applied as they were made), none re-driven (a re-driven letter is
    always looked at): a batch that can be passed over without a claim
    (`InboxConsumer._set_aside_passed_over`). A record with no type is read (decoded, and refused
    if it is not an event)."""
    if (wants is None and not own) or not records or records[0].offset < history_end:
        return False
    for r in records:
        kind = _header(r, "ce_type")
        if kind is None or _header(r, REDRIVEN_FOR) is not None:
            return False
        if wants is not None and bytes(kind) not in wants:
            continue
        made = _header(r, "ce_id")
        if made is None or bytes(made) not in own:
            return False
    return True


# Set while `replay_to` fills a shadow from offset 0 (`ops.replay.rebuild`, `bulk`): a handler
# may then leave what it derives from its own rows to the replay's end (`ServiceSpec.replay_finish`),
# which derives it once per row instead of at every write of the row. Never set for a live
# consumer, nor for a shadow's catch-up before a compare or a swap.
_BULK_REPLAY: contextvars.ContextVar[bool] = contextvars.ContextVar("bulk_replay", default=False)


def in_bulk_replay() -> bool:
    return _BULK_REPLAY.get()


def decode_event(record: Record) -> Envelope:
    """A record as an envelope, its signature unchecked: for tools that only look."""
    return Envelope.from_kafka(record.key, record.value, list(record.headers or ()))


def verified_events(trust: Trust) -> Decoder[Envelope]:
    """The decoder of every consumer of Mesa's own events: a record is taken only if an owner of
    its type signed it (or it is unsigned history before its partition's cut-over)."""

    def decode(record: Record) -> Envelope:
        headers = list(record.headers or ())
        env = Envelope.from_kafka(record.key, record.value, headers)
        trust.check(record.topic, record.partition, record.offset, env.type, record.key, record.value, headers)
        return env

    return decode


def _id_of(message: HasId) -> str:
    return str(message.id)


def _traced(env: Envelope, spans: dict[str, trace.Span]) -> Envelope:
    span = spans.get(env.causationid or "")
    if span is None:
        return env
    return env.model_copy(update={"traceparent": tracing.traceparent_of(span)})


class _SeekToInbox(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: InboxConsumer[Any]) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass  # nothing to flush: every applied batch is already committed in PostgreSQL

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner.seek_to_inbox(assigned)


class InboxConsumer(Generic[M]):
    """Runs one consumer group member until `stop()`; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        *,
        name: str,
        group_id: str,
        topics: list[str],
        handler: Handler[M] | None = None,
        decode: Decoder[M],
        letters: Letters,
        client_id: str | None = None,
        batch_handler: BatchHandler[M] | None = None,
        applied_by: str | None = None,
        letter_owner: Owner | None = None,
        wants: frozenset[str] | None = None,
        passes_over_live: frozenset[str] = frozenset(),
        by_offset: bool = False,
        wait_ms: int | None = None,
    ) -> None:
        """`wait_ms`: how long a record may wait for the ones behind it, to be applied with them
        in one transaction (this consumer's linger after a poll); for consumers nobody waits on
        (the auditor's chain, mail). None: the service-wide linger (`consumer_linger_ms`).
        `by_offset`: a record's identity is its place in the log (the auditor chains every
        record, a re-sent duplicate too), so no event ids are recorded; the position alone
        makes a record applied once. `wants`: the event types the handler acts on (None: all); a record whose `ce_type`
        says it is another is passed over unread, unverified and unrecorded (its offset is
        still applied; a live poll of nothing else writes no transaction of its own, see
        `_set_aside_passed_over`). `passes_over_live`: types passed over so only when live, at or past
        where the partition's history ended when it was assigned here (notify's own outcomes:
        it wrote them as it settled, but a rebuild learns from them); a replay's instance,
        never assigned anything, reads them all. `applied_by`: the consumer (of this service)
        that applies the events this one's handler emits as it decides them (routing's
        assignments, SLA's timers); they are marked in its
        inbox as they go to the outbox, so the copies it reads back are skipped. `letters` seals
        dead letters (`letter_owner`: who a refused record concerns, when the service knows)."""
        self.name = name
        self._name_bytes = name.encode()
        self._settings = settings
        self._pool = pool
        self._topics = topics
        if (handler is None) == (batch_handler is None):
            raise ValueError("give a consumer either a handler or a batch handler")
        self._handler = handler
        self._batch_handler = batch_handler
        self._applied_by = applied_by
        self._by_offset = by_offset
        self._wants = None if wants is None else frozenset(t.encode() for t in wants)
        # (ce_id of) events this consumer's handler emitted and applied here, not read back yet
        self._own: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._passes_over_live = frozenset(t.encode() for t in passes_over_live)
        self._letters = letters
        self._letter_owner = letter_owner
        self._to_commit: dict[TopicPartition, int] = {}
        self._committed_at = 0.0
        self._decode = decode
        self._linger_s = (settings.consumer_linger_ms if wait_ms is None else wait_ms) / 1000
        self._hurried_linger_s = min(self._linger_s, settings.consumer_linger_ms / 1000)
        self._waiting = 0  # readers in this process waiting for what a person just did (`hurried`)
        self._wake = asyncio.Event()
        self._consumer: AIOKafkaConsumer = make_consumer(
            settings, group_id, client_id or name, linger_ms=self._linger_s * 1000
        )
        self._stopping = False
        self.assigned: set[TopicPartition] = set()
        self._history_end: dict[TopicPartition, int] = {}
        self._history_side_by_side = True  # until two partitions' folds contend (see _back_off)
        self.started = asyncio.Event()
        self.joined = asyncio.Event()
        self._applied: dict[TopicPartition, int] = {}  # next offset to apply, per partition held
        # positions passed over unread and not written yet (`_set_aside_passed_over`), and since when
        self._unstored: dict[TopicPartition, int] = {}
        self._unstored_since = 0.0
        self._lag_measured = 0.0
        self._ends: AIOKafkaConsumer | None = None
        self._ends_lock = asyncio.Lock()

    async def seek_to_inbox(self, assigned: set[TopicPartition]) -> None:
        ends = await self._consumer.end_offsets(list(assigned)) if assigned else {}
        # where each partition begins now: a position below it (retention deleted what was there)
        # would never move, and the service's time-driven jobs wait for it (runtime._history_folded)
        starts = await self._consumer.beginning_offsets(list(assigned)) if assigned else {}
        positions = await inbox.adopt_partitions(
            self._pool,
            self.name,
            {(tp.topic, tp.partition): off for tp, off in ends.items()},
            {(tp.topic, tp.partition): off for tp, off in starts.items()},
        )
        for tp in assigned:
            next_offset, history_end = positions[(tp.topic, tp.partition)]
            self._consumer.seek(tp, next_offset)
            self._history_end[tp] = history_end
            self._applied[tp] = next_offset
        for gone in self.assigned - set(assigned):  # another instance reports those now
            self._applied.pop(gone, None)
            self._unstored.pop(gone, None)  # (its next owner passes them over again)
            for gauge in (LAG, OLDEST):
                with contextlib.suppress(KeyError):
                    gauge.remove(self.name, gone.topic, str(gone.partition))
        self.assigned = set(assigned)
        self.joined.set()
        log.info("partitions assigned", consumer=self.name, partitions=len(assigned))

    async def run(self) -> None:
        self._consumer.subscribe(self._topics, listener=_SeekToInbox(self))
        await self._consumer.start()
        self.started.set()
        try:
            while not self._stopping:
                batch = await self._gather(await self._consumer.getmany(timeout_ms=500))
                if batch and not self._stopping:
                    self._waiting_since(batch)
                    await self._apply_poll(batch)
                    for tp, records in batch.items():
                        if tp in self._applied:  # (still held: a rebalance may have moved it meanwhile)
                            self._applied[tp] = records[-1].offset + 1
                self._measure_lag()
                await self._store_passed_over(force=False)
                await self._commit_to_kafka(force=False)  # (an idle consumer reports its last batches)
            await self._store_passed_over(force=True)
            await self._commit_to_kafka(force=True)
        finally:
            await self._consumer.stop()
            if self._ends is not None:
                await self._ends.stop()

    def applied_up_to(self, tp: TopicPartition) -> int | None:
        """The next offset this instance will apply of a partition it holds (None: not held here)."""
        return self._applied.get(tp)

    def _waiting_since(self, batch: dict[TopicPartition, list[Record]]) -> None:
        """The oldest record of each partition's batch is the oldest one not applied yet."""
        now = time.time()
        for tp, records in batch.items():
            OLDEST.labels(self.name, tp.topic, str(tp.partition)).set(max(0.0, now - records[0].timestamp / 1000))

    def _measure_lag(self) -> None:
        """Records behind the log's end (its high watermark, as the last fetch saw it) per
        partition held; a partition caught up has nothing waiting."""
        now = time.monotonic()
        if now < self._lag_measured + LAG_EVERY_S:
            return
        self._lag_measured = now
        held = self._consumer.assignment()
        for tp, applied in self._applied.items():
            if tp not in held:  # revoked a moment ago; the rebalance listener forgets it
                continue
            end = self._consumer.highwater(tp)
            if end is None:  # nothing fetched from it yet
                continue
            behind = max(0, end - applied)
            LAG.labels(self.name, tp.topic, str(tp.partition)).set(behind)
            if behind == 0:
                OLDEST.labels(self.name, tp.topic, str(tp.partition)).set(0)

    async def _gather(self, batch: dict[TopicPartition, list[Record]]) -> dict[TopicPartition, list[Record]]:
        """A small poll and what arrives within the linger after it, as one batch. While someone
        waits (`hurried`), a latency budget gives way to the service-wide linger."""
        hurried = self._waiting > 0
        linger = self._hurried_linger_s if hurried else self._linger_s
        if not batch or not linger or sum(map(len, batch.values())) >= self._settings.batch_size:
            return batch
        if hurried:
            await asyncio.sleep(linger)
        else:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(linger):
                    await self._wake.wait()
        for tp, records in (await self._consumer.getmany(timeout_ms=0)).items():
            batch.setdefault(tp, []).extend(records)  # the fetcher hands a partition's records in order
        return batch

    async def log_ends(self) -> dict[TopicPartition, int] | None:
        """The end offset of every partition of this consumer's topics (assigned here or not);
        None while the broker's metadata for one of them is not known here yet."""
        partitions: list[TopicPartition] = []
        for topic in self._topics:
            known = self._consumer.partitions_for_topic(topic)
            if not known:
                return None
            partitions += [TopicPartition(topic, p) for p in known]
        return dict(await self._consumer.end_offsets(partitions))

    async def catch_up(self, key: bytes, timeout: float) -> bool:
        """Wait, at most `timeout` seconds, until this consumer (whichever instance holds the
        partition) has applied `key`'s partition up to where the log ends now; whether it got
        there. What a service decides on state this consumer folds (intake on a ticket's status
        and owner) waits here before refusing: whoever sent the command may have seen a newer
        state elsewhere (a projection, a mail) before this service read it."""
        if self._stopping:
            return False
        topic = self._topics[0]
        known = sorted(self._consumer.partitions_for_topic(topic) or ())
        if not known:
            return False
        # where the producer put it: Kafka's default partitioner (murmur2 of the key)
        tp = TopicPartition(topic, known[(murmur2(key) & 0x7FFFFFFF) % len(known)])
        deadline = time.monotonic() + timeout
        try:
            ends = await asyncio.wait_for((await self._ends_client()).end_offsets([tp]), timeout)
        except (KafkaError, TimeoutError):
            return False
        pause = 0.005
        while await inbox.position(self._pool, self.name, tp.topic, tp.partition) < ends[tp]:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(pause)  # polled: the instance that holds the partition may be another process
            pause = min(pause * 2, 0.05)
        return True

    async def _ends_client(self) -> AIOKafkaConsumer:
        """A client of its own for the log's ends: the group consumer's connection is busy with
        long-polling fetches, which the broker answers in order (up to half a second each)."""
        async with self._ends_lock:
            if self._ends is None:
                client = AIOKafkaConsumer(
                    **self._settings.kafka(),
                    client_id=f"{self.name}-ends",
                    enable_auto_commit=False,
                    isolation_level="read_committed",
                )
                await client.start()
                self._ends = client
            return self._ends

    @contextlib.contextmanager
    def hurried(self) -> Iterator[None]:
        """While a reader in this process waits for the view to show what a person just did (the
        web, after a form): this consumer applies what it reads as soon as a consumer without a
        budget would, and a linger under way ends now. Other instances keep their budget."""
        self._waiting += 1
        self._wake.set()
        try:
            yield
        finally:
            self._waiting -= 1

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()  # a budget's linger under way ends: nobody waits for a stopped consumer

    async def close(self) -> None:
        """Release the group consumer of an instance that never ran (a replay's)."""
        await self._consumer.stop()

    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    async def replay_to(
        self,
        targets: dict[TopicPartition, int],
        on_batch: Callable[[int], None] | None = None,
        *,
        bulk: bool = False,
    ) -> int:
        """Apply this consumer's records from its stored positions up to `targets` (exclusive) as
        history: folded, never acted on. Reads with a consumer of its own, outside any group, so
        the live service's group is not disturbed. Returns how many records were read. `bulk`:
        a shadow filled from offset 0, finished by its service's `replay_finish` (`in_bulk_replay`)."""
        token = _BULK_REPLAY.set(bulk)
        try:
            return await self._replay_to(targets, on_batch)
        finally:
            _BULK_REPLAY.reset(token)

    async def _replay_to(self, targets: dict[TopicPartition, int], on_batch: Callable[[int], None] | None) -> int:
        todo = {tp: end for tp, end in targets.items() if end > 0}
        async with self._pool.acquire() as conn, conn.transaction():
            for tp, end in todo.items():
                await conn.execute(
                    "INSERT INTO inbox_offsets(consumer, topic, partition, next_offset, history_end)"
                    " VALUES ($1, $2, $3, 0, $4) ON CONFLICT (consumer, topic, partition)"
                    " DO UPDATE SET history_end = greatest(inbox_offsets.history_end, $4)",
                    self.name,
                    tp.topic,
                    tp.partition,
                    end,
                )
            rows = await conn.fetch(
                "SELECT topic, partition, next_offset FROM inbox_offsets WHERE consumer = $1", self.name
            )
        start = {TopicPartition(r["topic"], r["partition"]): int(r["next_offset"]) for r in rows}
        todo = {tp: end for tp, end in todo.items() if start.get(tp, 0) < end}
        if not todo:
            return 0
        reader = AIOKafkaConsumer(
            **self._settings.kafka(),
            group_id=None,
            client_id=f"{self.name}-replay",
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_poll_records=max(self._settings.batch_size, 5000),  # history comes in big batches
            fetch_max_bytes=64 * 2**20,
            max_partition_fetch_bytes=8 * 2**20,
        )
        await reader.start()
        read = 0
        try:
            reader.assign(list(todo))
            for tp in todo:
                reader.seek(tp, start.get(tp, 0))
            while todo:
                batch = await reader.getmany(*todo, timeout_ms=1000)
                work = {tp: [r for r in records if r.offset < todo[tp]] for tp, records in batch.items() if tp in todo}
                # partitions are independent: fold them side by side, each on its own connection,
                # so decoding one overlaps the database round trips of another
                await asyncio.gather(*(self.apply(tp, records) for tp, records in work.items() if records))
                for tp, records in work.items():
                    read += len(records)
                    if on_batch is not None and records:
                        on_batch(len(records))
                    if (records and records[-1].offset + 1 >= todo[tp]) or await reader.position(tp) >= todo[tp]:
                        del todo[tp]
                        reader.pause(tp)
        finally:
            await reader.stop()
        return read

    async def apply(self, tp: TopicPartition, records: list[Record]) -> int | None:
        """Apply one partition's batch (retrying transient failures); return the next offset
        to consume, or None when every record had been applied before."""
        careful = False  # savepoint per record: only after the fast path met a refused record
        for attempt in itertools.count():
            try:
                return await self._apply_in_transaction(tp, records, careful, attempt >= POISON_AFTER)
            except _NeedsSavepoints:
                careful = True
            except Exception as exc:  # transient, or a handler bug: retry, then isolate the culprit
                careful = True
                await self._back_off(attempt, exc)
        raise AssertionError("unreachable")

    async def _apply_and_commit(self, tp: TopicPartition, records: list[Record]) -> None:
        applied_up_to = await self.apply(tp, records)
        self._unstored.pop(tp, None)  # the claim moved past what was set aside
        fault_point("after_state_commit")
        if applied_up_to is not None:
            self._to_commit[tp] = applied_up_to
            await self._commit_to_kafka(force=False)
        fault_point("after_kafka_commit")

    async def _commit_to_kafka(self, *, force: bool) -> None:
        """Tell Kafka how far the group got, at most once per KAFKA_COMMIT_EVERY_S. The inbox in
        PostgreSQL is the truth a restarted consumer seeks to; Kafka's committed offsets are for
        lag monitoring, so a commit per batch (a broker round trip each) buys nothing."""
        now = time.monotonic()
        if not self._to_commit or (not force and now - self._committed_at < KAFKA_COMMIT_EVERY_S):
            return
        owned = self._consumer.assignment()
        offsets = {tp: off for tp, off in self._to_commit.items() if tp in owned}
        self._to_commit.clear()
        self._committed_at = now
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except KafkaError as exc:  # rebalanced meanwhile: the inbox has the truth anyway
            log.info("kafka commit skipped", consumer=self.name, error=str(exc))

    async def _back_off(self, attempt: int, exc: BaseException) -> None:
        RETRIES.labels(self.name).inc()
        if isinstance(exc, asyncpg.TransactionRollbackError) and self._history_side_by_side:
            # partitions' folds lock shared rows (routing's agents): one at a time from now on
            self._history_side_by_side = False
            log.info("history folds contend: one partition at a time", consumer=self.name)
        log.warning("batch failed, retrying", consumer=self.name, attempt=attempt, error=repr(exc))
        await asyncio.sleep(min(0.1 * 2**attempt, 5.0))

    async def _apply_poll(self, batch: dict[TopicPartition, list[Record]]) -> None:
        """A poll's partitions in one transaction (each with its own offset row, locked in a fixed
        order): at moderate load a poll brings a few records from many partitions, and one
        transaction for all of them costs the database a fraction of one each. Anything going
        wrong rolls it all back and each partition is applied on its own, the careful way."""
        batch = self._set_aside_passed_over(batch)
        if not batch:
            return
        if len(batch) == 1:
            [(tp, records)] = batch.items()
            await self._apply_and_commit(tp, records)
            return
        if (
            self._history_side_by_side
            and self._settings.history_parallel > 1
            and all(records[-1].offset < self._history_end.get(tp, 0) for tp, records in batch.items())
        ):
            # history only (a service joining a log, a schema dropped): nothing is acted on and
            # partitions are independent, so each folds in a transaction of its own, side by side,
            # one's round trips overlapping another's (as replay_to does)
            room = asyncio.Semaphore(self._settings.history_parallel)  # the pool keeps some for the rest

            async def fold(tp: TopicPartition, records: list[Record]) -> None:
                async with room:
                    await self._apply_and_commit(tp, records)

            await asyncio.gather(*(fold(tp, records) for tp, records in batch.items()))
            return
        parts = sorted(batch.items(), key=lambda item: (item[0].topic, item[0].partition))
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                done = await self._apply_together(conn, parts)
        except Exception as exc:  # a refused record, a conflict, a restart: one partition at a time
            log.info("batch of partitions falls back to one at a time", consumer=self.name, error=repr(exc))
            for tp, records in parts:
                if self._stopping:
                    return
                await self._apply_and_commit(tp, records)
            return
        for tp, _ in parts:
            self._unstored.pop(tp, None)
        fault_point("after_state_commit")
        for tp, applied_up_to in done:
            if applied_up_to is not None:
                self._to_commit[tp] = applied_up_to
        await self._commit_to_kafka(force=False)
        fault_point("after_kafka_commit")

    async def _apply_in_transaction(
        self, tp: TopicPartition, records: list[Record], careful: bool, isolate_failures: bool
    ) -> int | None:
        async with self._pool.acquire() as conn, conn.transaction():
            return await self._apply_partition(conn, tp, records, careful, isolate_failures)

    async def _apply_partition(
        self, conn: asyncpg.Connection, tp: TopicPartition, records: list[Record], careful: bool, isolate: bool
    ) -> int | None:
        """One partition's batch inside the caller's transaction."""
        if not careful:
            [(_, applied_up_to)] = await self._apply_together(conn, [(tp, records)])
            return applied_up_to
        decoded = self._decode_all(records)
        positions, fresh = await self._claim(conn, [(tp, records)], {tp: decoded})
        if records[-1].offset < positions[tp][0]:  # all applied before
            self._count_redelivered(decoded, positions[tp][0])
            return None
        todo_messages = await self._fresh(conn, decoded, positions[tp], fresh)
        spans = self._open_spans(todo_messages) if tracing.enabled() else {}
        try:
            for message, delivery in todo_messages:
                await self._apply_one(conn, message, delivery, True, isolate, spans)
        except BaseException as exc:
            tracing.finish(spans.values(), exc)
            raise
        tracing.finish(spans.values())
        fault_point("before_state_commit")
        return int(records[-1].offset) + 1

    async def _apply_together(
        self, conn: asyncpg.Connection, parts: list[tuple[TopicPartition, list[Record]]]
    ) -> list[tuple[TopicPartition, int | None]]:
        """The fast path, for a poll's partitions at once (in the caller's transaction): one
        claim for all of them, then their fresh records (each partition's in order, partitions one
        after the other, as applying them in turn would give) in one call of a batch handler, or
        one by one to a handler; so a poll of a few records from each of many partitions pays one
        round of statements instead of one per partition. Returns each partition's next offset
        (None: all applied before). A refusal aborts it all (`_NeedsSavepoints`)."""
        decoded = {tp: self._decode_all(records) for tp, records in parts}
        positions, fresh = await self._claim(conn, parts, decoded)
        items: list[tuple[M, Delivery]] = []
        done: list[tuple[TopicPartition, int | None]] = []
        for tp, records in parts:
            if records[-1].offset < positions[tp][0]:  # all applied before
                self._count_redelivered(decoded[tp], positions[tp][0])
                done.append((tp, None))
                continue
            items += await self._fresh(conn, decoded[tp], positions[tp], fresh)
            done.append((tp, int(records[-1].offset) + 1))
        spans = self._open_spans(items) if tracing.enabled() else {}
        try:
            if self._batch_handler is not None:
                await self._apply_batch(conn, items, spans)
            else:
                for message, delivery in items:
                    await self._apply_one(conn, message, delivery, False, False, spans)
        except BaseException as exc:
            tracing.finish(spans.values(), exc)
            raise
        tracing.finish(spans.values())
        fault_point("before_state_commit")
        return done

    async def _claim(
        self,
        conn: asyncpg.Connection,
        parts: list[tuple[TopicPartition, list[Record]]],
        decoded: dict[TopicPartition, list[tuple[Record, M | InvalidRecord]]],
    ) -> tuple[dict[TopicPartition, inbox.Position], set[UUID]]:
        """Claim the partitions' batches in one statement (decoded first, so the event ids go with
        it): the position each had, and the event ids not applied before."""
        ids = [
            (tp.topic, tp.partition, r.offset, m.id)
            for tp, pairs in decoded.items()
            for r, m in pairs
            if not self._by_offset and not isinstance(m, InvalidRecord)
        ]
        claims = [(tp.topic, tp.partition, records[-1].offset + 1) for tp, records in parts]
        found, fresh = await inbox.claim_batches(conn, self.name, claims, ids)
        positions: dict[TopicPartition, inbox.Position] = {}
        for tp, records in parts:
            position = found.get((tp.topic, tp.partition))
            if position is None:  # a partition without an inbox row yet (normally adopted on assignment)
                mine = [(o, i) for t, p, o, i in ids if (t, p) == (tp.topic, tp.partition)]
                up_to = records[-1].offset + 1
                position, first = await inbox.claim_batch(
                    conn, self.name, tp.topic, tp.partition, up_to, [o for o, _ in mine], [i for _, i in mine]
                )
                fresh |= first
            positions[tp] = position
        return positions, fresh

    def _decode_all(self, records: list[Record]) -> list[tuple[Record, M | InvalidRecord]]:
        """A batch's records this consumer reads, decoded (an undecodable one as its refusal)."""
        decoded: list[tuple[Record, M | InvalidRecord]] = []
        for record in records:
            if not self._reads(record):
                continue
            try:
                decoded.append((record, self._decode(record)))
            except InvalidRecord as exc:
                decoded.append((record, exc))
        return decoded

    def _count_redelivered(self, decoded: list[tuple[Record, M | InvalidRecord]], next_offset: int) -> None:
        below = sum(1 for r, _ in decoded if r.offset < next_offset)
        if below:
            DUPLICATES.labels(self.name, "offset").inc(below)

    async def _fresh(
        self,
        conn: asyncpg.Connection,
        decoded: list[tuple[Record, M | InvalidRecord]],
        position: inbox.Position,
        fresh: set[UUID],
    ) -> list[tuple[M, Delivery]]:
        """What a partition's claimed batch leaves to apply: records past the position it had,
        whose event ids were not applied before (`fresh` loses each id it gives out: the same id
        twice, the first one counts); the undecodable ones among them are dead-lettered here."""
        next_offset, history_end = position
        self._count_redelivered(decoded, next_offset)
        todo: list[tuple[M, Delivery]] = []
        for record, message in decoded:
            if record.offset < next_offset:
                continue
            if isinstance(message, InvalidRecord):
                await self._dead_letter(conn, record, message)
                continue
            if not self._by_offset:
                if message.id not in fresh:
                    DUPLICATES.labels(self.name, "event_id").inc()
                    continue
                fresh.discard(message.id)
            todo.append((message, Delivery(record, record.offset < history_end)))
        return todo

    def _open_spans(self, items: list[tuple[M, Delivery]]) -> dict[str, trace.Span]:
        """A CONSUMER span per live record whose trace is sampled, by event id (history makes none)."""
        spans: dict[str, trace.Span] = {}
        for message, d in items:
            if d.replaying:
                continue
            r = d.record
            name: Callable[[], str] = functools.partial(_id_of, message)
            span = tracing.start_consume(self.name, r.topic, r.partition, r.offset, r.timestamp, r.headers, name)
            if span is not None:
                spans[str(message.id)] = span
        return spans

    def _reads(self, record: Record) -> bool:
        """Whether this consumer decodes `record`; one it passes over is counted as such."""
        if self._redriven_for_another(record):
            DUPLICATES.labels(self.name, "redrive").inc()
            return False
        if self._wants is not None and not self._wanted(record):
            UNWANTED.labels(self.name).inc()
            return False
        if self._passes_over_live and self._passed_over_live(record):
            UNWANTED.labels(self.name).inc()
            return False
        return True

    def _set_aside_passed_over(self, batch: dict[TopicPartition, list[Record]]) -> dict[TopicPartition, list[Record]]:
        """The poll without its live partitions whose records are all of types this consumer
        never reads (`wants`) or its own decisions read back (applied as they were made: routing
        meets its `ticket.assigned` alone, a moment after deciding it). Routing reads 4 of a
        ticket's 10 events, and a consumer without a budget meets most of the others alone, each a
        transaction that only moved a position. Passing them over again after a restart changes
        nothing (a claim then skips the own ones by id), so their position waits for the
        partition's next claim, or `_store_passed_over`; Kafka is told at once (lag).
        History is always stored as it goes: background jobs wait for it (`_history_folded`).
        Types passed over only when live (`passes_over_live`) are not set aside: a replay of the
        service reads them, and compares its result at the stored positions."""
        if self._wants is None and not self._own:
            return batch
        kept: dict[TopicPartition, list[Record]] = {}
        for tp, records in batch.items():
            if not nothing_to_read(records, self._history_end.get(tp, 0), self._wants, self._own):
                kept[tp] = records
                continue
            own = 0
            for r in records:
                made = _header(r, "ce_id")
                if made is not None and bytes(made) in self._own:
                    del self._own[bytes(made)]
                    own += 1
            if own:
                DUPLICATES.labels(self.name, "own").inc(own)
            if len(records) > own:
                UNWANTED.labels(self.name).inc(len(records) - own)
            SET_ASIDE.labels(self.name).inc()
            if not self._unstored:
                self._unstored_since = time.monotonic()
            self._unstored[tp] = self._to_commit[tp] = records[-1].offset + 1
        return kept

    async def _store_passed_over(self, *, force: bool) -> None:
        """Write the positions set aside, once the oldest has waited `PASSED_OVER_STORED_WITHIN_S`
        (or now, on the way out): what reads a stored position (`catch_up`, the inbox's pruner,
        `mesa replay`) sees a partition that went quiet on passed-over records move past them."""
        if not self._unstored or (not force and time.monotonic() - self._unstored_since < PASSED_OVER_STORED_WITHIN_S):
            return
        moves = dict(self._unstored)
        claims = [
            (tp.topic, tp.partition, offset)
            for tp, offset in sorted(moves.items(), key=lambda m: (m[0].topic, m[0].partition))
        ]
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await inbox.claim_batches(conn, self.name, claims, [])
        except db.TRANSIENT as exc:  # the next round tries again; passing them over again is harmless
            log.info("positions passed over not stored yet", consumer=self.name, error=repr(exc))
            return
        for tp, offset in moves.items():
            if self._unstored.get(tp) == offset:  # (not set aside further meanwhile)
                del self._unstored[tp]
        self._unstored_since = time.monotonic()

    def _wanted(self, record: Record) -> bool:
        """A record of a type this consumer acts on, or of no declared type (decoded, and refused
        if it is not an event)."""
        assert self._wants is not None
        kind = _header(record, "ce_type")
        return kind is None or bytes(kind) in self._wants

    def _passed_over_live(self, record: Record) -> bool:
        """A live record of a type passed over when live. The history's end is the one read at
        assignment: the stored one only ever rises past records already applied (a replay's
        swap), so a record this calls live is live."""
        end = self._history_end.get(TopicPartition(record.topic, record.partition))
        if end is None or record.offset < end:
            return False
        kind = _header(record, "ce_type")
        return kind is not None and bytes(kind) in self._passes_over_live

    def _redriven_for_another(self, record: Record) -> bool:
        """A re-driven dead letter is for the consumer that refused it; every other one applied
        the original at its own offset (and may have forgotten its id since)."""
        meant_for = _header(record, REDRIVEN_FOR)  # re-driving drops a letter's old marks: one at most
        return meant_for is not None and meant_for != self._name_bytes

    async def _apply_batch(
        self, conn: asyncpg.Connection, items: list[tuple[M, Delivery]], spans: dict[str, trace.Span]
    ) -> None:
        """The fast path of a batch handler: the whole batch in one call. A refusal aborts it, and
        the batch is re-run carefully, one record (a batch of one) per savepoint."""
        assert self._batch_handler is not None
        if not items:
            return
        try:
            emitted = await self._batch_handler(conn, items)
        except InvalidRecord:
            raise _NeedsSavepoints() from None
        await self._emit(conn, emitted, replaying=all(d.replaying for _, d in items), spans=spans)
        for topic, n in Tally(d.record.topic for _, d in items).items():
            APPLIED.labels(self.name, topic).inc(n)

    async def _apply_one(
        self,
        conn: asyncpg.Connection,
        message: M,
        delivery: Delivery,
        careful: bool,
        isolate: bool,
        spans: dict[str, trace.Span],
    ) -> None:
        span = spans.get(str(message.id)) if spans else None
        # the record's span is current while it is handled: its statements are its children
        within: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        if span is not None:
            within = contextlib.ExitStack()
            within.enter_context(trace.use_span(span, end_on_exit=False))
            within.enter_context(tracing.heard())
        with within:
            await self._apply_one_within(conn, message, delivery, careful, isolate, spans)

    async def _apply_one_within(
        self,
        conn: asyncpg.Connection,
        message: M,
        delivery: Delivery,
        careful: bool,
        isolate: bool,
        spans: dict[str, trace.Span],
    ) -> None:
        record = delivery.record
        if not careful:
            # the fast path: no savepoint. A refusal aborts the batch, which is re-run carefully.
            try:
                await self._handle(conn, message, delivery, spans)
            except InvalidRecord:
                raise _NeedsSavepoints() from None
            APPLIED.labels(self.name, record.topic).inc()
            return
        try:
            async with conn.transaction():  # a savepoint: a refused record leaves no trace
                await self._handle(conn, message, delivery, spans)
        except InvalidRecord as exc:
            await self._dead_letter(conn, record, exc, message.id)
            return
        except _TRANSIENT_DB:
            raise
        except Exception as exc:
            if not isolate:
                raise
            log.error("handler failed repeatedly; dead-lettering", consumer=self.name, error=repr(exc))
            failed = InvalidRecord(f"handler error: {type(exc).__name__}")
            failed.code = "handler_error"
            await self._dead_letter(conn, record, failed, message.id)
            return
        APPLIED.labels(self.name, record.topic).inc()

    async def _handle(
        self, conn: asyncpg.Connection, message: M, delivery: Delivery, spans: dict[str, trace.Span]
    ) -> None:
        if self._batch_handler is not None:
            emitted = await self._batch_handler(conn, [(message, delivery)])
        else:
            assert self._handler is not None
            emitted = await self._handler(conn, message, delivery)
        await self._emit(conn, emitted, replaying=delivery.replaying, spans=spans)

    async def _emit(
        self, conn: asyncpg.Connection, emitted: Emitted, *, replaying: bool, spans: dict[str, trace.Span]
    ) -> None:
        if not emitted:
            return
        if replaying:  # history: what it caused is already in the log, and applied
            if self._applied_by is not None:
                await inbox.first_seen_many(conn, self._applied_by, [env.id for _, env in emitted])
            return
        if spans:  # a reaction to a traced record continues its trace from this consumer's span
            emitted = [(topic, _traced(env, spans)) for topic, env in emitted]
        await outbox.enqueue_all(conn, emitted, applied_by=self._applied_by)
        if self._applied_by == self.name:
            # applied here in this transaction; should it roll back, the id never reaches the log
            # (or comes back in a decision made again, applied here the same way)
            for _, env in emitted:
                self._own[str(env.id).encode()] = None
            while len(self._own) > OWN_REMEMBERED:
                self._own.popitem(last=False)

    async def _dead_letter(
        self, conn: asyncpg.Connection, record: Record, why: InvalidRecord, event_id: UUID | None = None
    ) -> None:
        """Seal `record` into its topic's DLQ (shared.platform.letters). A record the handler refused was
        not applied: its event id is forgotten, so a re-drive of the same record applies here (and
        nowhere it was applied already)."""
        letter = await self._letters.make(
            conn,
            dlq_topic=record.topic + DLQ_SUFFIX,
            origin=(record.topic, record.partition, record.offset),
            key=record.key,
            value=record.value,
            headers=list(record.headers or ()),
            reason=why.reason,
            code=why.code,
            consumer=self.name,
            sender=why.sender,
            sender_scopes=why.sender_scopes,
            owner=self._letter_owner,
        )
        await outbox.enqueue_raw(conn, letter.topic, letter.key, letter.value, letter.headers)
        if event_id is not None:
            await conn.execute("DELETE FROM inbox_events WHERE consumer = $1 AND event_id = $2", self.name, event_id)
        DEAD.labels(self.name, why.code).inc()
        log.warning(
            "record dead-lettered",
            consumer=self.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            code=why.code,
            reason=why.reason,
        )
