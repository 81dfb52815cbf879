"""What every service process does the same way: connect, migrate, relay, consume, serve.

A service declares itself in a `ServiceSpec` (its `service.py`) whose `build(rt) -> Parts`
coroutine adds its consumers, API and loops; `serve` wires the real adapters
(the one place that does), serves `/healthz`, `/readyz` and `/metrics` next to the service's own
API, and shuts down cleanly on SIGTERM: stop polling, finish the batch in hand, stop the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import uvicorn
import uvloop
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.domain.events import Payload
from shared.platform import db, tracing
from shared.platform.auth import Authenticator
from shared.platform.bus import start_producer
from shared.platform.clock import Clock, SystemClock
from shared.platform.consumer import BatchHandler, Decoder, Handler, InboxConsumer, M, verified_events
from shared.platform.http_guard import BoundedHttpTools, harden
from shared.platform.inbox_pruning import InboxPruner
from shared.platform.keyring import SCHEMA as KEYS_SCHEMA
from shared.platform.keyring import Keyring, master_key
from shared.platform.letters import Letters, Owner
from shared.platform.logging import configure_logging, get_logger
from shared.platform.outbox import OutboxRelay, measure_backlog
from shared.platform.settings import Settings
from shared.platform.signing import Signer, Trust, load_signer
from shared.platform.topology import Station

log = get_logger(__name__)


TICK_S = 1.0  # how often the HTTP server looks at the time (its Date header has seconds)


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM once its own shutdown is done, which kills the process before the
    consumers leave their groups (the next instance then waits a whole session timeout for its
    partitions). Here the signal only asks to stop; `serve` finishes the orderly shutdown.

    uvicorn also wakes ten times a second to see whether it should stop: a quarter of an idle
    service's CPU (issue 22). Here it wakes once a second, and at once when asked to stop."""

    _stop_asked: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.ask_to_stop()

    def ask_to_stop(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._stop_asked is not None:
            # (a signal handler runs between any two steps of the loop: hand it the wake-up)
            self._loop.call_soon_threadsafe(self._stop_asked.set)

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_asked = asyncio.Event()
        counter = 0  # uvicorn's tick counter: a multiple of ten is "a second has passed"
        while not await self.on_tick(counter):
            counter = (counter + int(TICK_S * 10)) % 864_000
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(TICK_S):
                    await self._stop_asked.wait()


@dataclass
class Runtime:
    """The wired adapters a service's `build` receives."""

    name: str
    settings: Settings
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    clock: Clock
    instance: str
    # requesters' keys when they live on another server than the service's schema (else `pool`)
    keys_pool: asyncpg.Pool | None = None

    @functools.cached_property
    def auth(self) -> Authenticator:
        return Authenticator(self.settings)

    @functools.cached_property
    def keyring(self) -> Keyring:
        """Requesters' data keys (the keys schema is migrated when a service starts)."""
        return Keyring(self.keys_pool or self.pool, master_key(self.settings), apart=self.keys_pool is not None)

    @functools.cached_property
    def letters(self) -> Letters:
        return Letters(self.keyring)

    @functools.cached_property
    def trust(self) -> Trust:
        """The public keys this process accepts signatures from."""
        return Trust.load(self.settings.signing_folder)

    def signer(self) -> Signer:
        """This service's signing key."""
        path = self.settings.signing_key_file or self.settings.signing_folder / f"{self.name}.key"
        return load_signer(path, self.name)

    def consumer(
        self,
        name: str,
        topic: str,
        handler: Handler[M] | None = None,
        *,
        group: str = "main",
        decode: Decoder[M] | None = None,
        batch_handler: BatchHandler[M] | None = None,
        applied_by: str | None = None,
        letter_owner: Owner | None = None,
        wants: Iterable[type[Payload]] | None = None,
        passes_over_live: Iterable[type[Payload]] = (),
        by_offset: bool = False,
        wait_ms: int | None = None,
    ) -> InboxConsumer[M]:
        """An inbox consumer of logical `topic`, in this service's consumer group `group`;
        give it a `handler` (one record at a time) or a `batch_handler` (a pure fold that takes a
        partition's batch at once). `applied_by`: see `InboxConsumer`. `wants`: the payload types
        the handler acts on; records of other types are passed over unread. `passes_over_live`,
        `by_offset`, `wait_ms`: see `InboxConsumer`."""
        extra: dict[str, Any] = {"decode": decode or verified_events(self.trust)}
        if batch_handler is not None:
            extra["batch_handler"] = batch_handler
        return InboxConsumer[M](
            self.settings,
            self.pool,
            name=name,
            group_id=self.settings.group(self.name, group),
            topics=[self.settings.topic(topic)],
            handler=handler,
            applied_by=applied_by,
            letters=self.letters,
            letter_owner=letter_owner,
            wants=None if wants is None else frozenset(w.event_type for w in wants),
            passes_over_live=frozenset(w.event_type for w in passes_over_live),
            by_offset=by_offset,
            wait_ms=wait_ms,
            **extra,
        )


@dataclass
class Parts:
    """What a service adds to the runtime."""

    consumers: list[InboxConsumer[Any]] = field(default_factory=list)
    app: FastAPI | None = None
    background: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # awaited last on shutdown (extra pools, clients)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # asked on shutdown to finish what a background loop has under way (notify's messages on
    # their way), awaited before the loops are cancelled
    finishers: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)


Build = Callable[[Runtime], Awaitable[Parts]]


@dataclass(frozen=True)
class SwapGuard:
    """A replay swap is refused while `query` (with `{schema}`) counts anything: `why` says so."""

    query: str
    why: str


@dataclass(frozen=True)
class ServiceSpec:
    """A service, declared once (its `service.py`): what runs it and what a replay of it means."""

    station: Station
    migrations: Path
    build: Build
    # a replay rebuilds it from the log (intake and audit are the log's writers and its witness)
    replayable: bool = False
    # tables its API writes (not folded from the log): a replay leaves them, a swap keeps them
    api_state: tuple[str, ...] = ()
    # per table, the columns the log determines (all by default): what a replay is compared on
    replay_compare: Mapping[str, str] = field(default_factory=dict)
    # per table, the rows the log determines (a WHERE clause; all by default)
    replay_rows: Mapping[str, str] = field(default_factory=dict)
    swap_guard: SwapGuard | None = None
    # tables whose folds find rows by unique keys only: a replay builds their other indexes once,
    # after folding, instead of keeping them up to date row by row (ops/shadow.py)
    replay_indexes_after: tuple[str, ...] = ()
    # what a replay derives once every row is folded (the handlers left it, `in_bulk_replay`)
    replay_finish: Callable[[asyncpg.Pool], Awaitable[None]] | None = None

    @property
    def name(self) -> str:
        return self.station.name


def ops_routes(app: FastAPI, rt: Runtime, parts: Parts) -> None:
    harden(app, rt.settings)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": rt.name, "instance": rt.instance}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> Response:
        checks: dict[str, bool] = {}
        try:
            checks["database"] = await rt.pool.fetchval("SELECT true", timeout=2)
        except Exception:
            checks["database"] = False
        # joined: the group has given this instance its partitions (possibly none) at least once
        checks["consumers"] = all(c.joined.is_set() for c in parts.consumers)
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# A consumer allocates many short-lived objects per record (records, envelopes, payloads) while
# holding a batch of them alive, so CPython's default (a young collection every 700 allocations,
# each scanning the batch) spent half of decoding in the collector (bench: 32 -> 15 us/event).
GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Collect less often, and never scan what start-up built (modules, schemas, settings)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def start_runtime(name: str, settings: Settings, migrations: Path, clock: Clock | None = None) -> Runtime:
    pool = await db.create_pool(settings.database_url_for(name), name, max_size=10)
    applied = await db.migrate(pool, name, migrations)
    if applied:
        log.info("migrations applied", names=applied)
    keys_pool = await open_keys_pool(settings, name)
    # every service seals its dead letters (shared.platform.letters)
    await Keyring.open(keys_pool or pool, settings, apart=keys_pool is not None)
    # topics and ACLs are an operator's (`mesa topics create`): a service may not create them
    instance = f"{name}-{socket.gethostname()}-{os.getpid()}"
    producer = await start_producer(settings, instance)
    return Runtime(name, settings, pool, producer, clock or SystemClock(), instance, keys_pool)


async def open_keys_pool(settings: Settings, service: str) -> asyncpg.Pool | None:
    """A pool on the keys' server when it is not the service's own (None: the service's pool
    reaches them)."""
    url = settings.database_url_for(KEYS_SCHEMA)
    if url == settings.database_url_for(service):
        return None
    return await db.create_pool(url, KEYS_SCHEMA, max_size=4)


def run(spec: ServiceSpec) -> None:
    """`python -m services.<name>`: the service on uvloop, whose socket I/O is written in C. Every
    service spends much of its time writing and reading small messages (a statement, a fetch, a
    produce); asyncio's pure-Python transports were a fifth of their profiles."""
    uvloop.run(serve(spec))


async def serve(spec: ServiceSpec, settings: Settings | None = None, port: int | None = None) -> None:
    """Run the service until SIGTERM; it listens on `port`, else on its `<NAME>_PORT` setting."""
    name = spec.name
    settings = settings or Settings()
    if problems := settings.production_problems():
        # refuse to start rather than run with what only suits a developer's machine
        raise SystemExit(
            f"{name}: refusing to start in production (MESA_ENV=production):\n  - "
            + "\n  - ".join(problems)
            + "\n(a developer's machine: MESA_ENV=development, as make up and make test set)"
        )
    if settings.kafka_principal is None:  # on the broker, a service is itself
        settings = settings.model_copy(update={"kafka_principal": name})
    port = port if port is not None else settings.port(name)
    configure_logging(settings.log_level, settings.log_format, service=name)
    rt = await start_runtime(name, settings, spec.migrations)
    tracer = tracing.configure_tracing(name, rt.instance, settings.otlp_endpoint, settings.trace_sample)
    parts = await spec.build(rt)
    app = parts.app or FastAPI(title=f"Mesa {name}")
    tune_gc()
    ops_routes(app, rt, parts)
    tracing.instrument_app(app)
    relay = OutboxRelay(
        rt.pool,
        rt.producer,
        name,
        rt.signer(),
        batch_size=settings.batch_size,
        poll_seconds=settings.outbox_poll_seconds,
        linger_seconds=settings.outbox_linger_ms / 1000,
    )
    # consumers and the relay finish what they hold when asked; background loops are just cancelled
    # background tasks are quiet: their statements are spans only under a traced record's span
    quiet = tracing.quiet_context()
    draining = [asyncio.create_task(relay.run(), name="outbox-relay", context=quiet.copy())]
    draining += [asyncio.create_task(c.run(), name=f"consumer-{c.name}", context=quiet.copy()) for c in parts.consumers]
    loops = [
        asyncio.create_task(
            _after(_history_folded(rt.pool, parts.consumers), job), name=job.__name__, context=quiet.copy()
        )
        for job in parts.background
    ]
    loops.append(
        asyncio.create_task(
            every(settings.metrics_interval_s, functools.partial(measure_backlog, rt.pool, name), "outbox-backlog"),
            name="outbox-backlog",
            context=quiet.copy(),
        )
    )
    if parts.consumers:
        pruner = InboxPruner(
            rt.pool,
            parts.consumers,
            keep_s=settings.inbox_keep_s,
            skew_s=settings.inbox_clock_skew_s,
            others=settings.database_urls() - {settings.database_url_for(name)},
        )
        loops.append(
            asyncio.create_task(
                every(settings.inbox_prune_interval_s, pruner.step, "inbox-prune", wait_first=True),
                name="inbox-prune",
                context=quiet.copy(),
            )
        )
    tasks = draining + loops
    server = _Server(
        uvicorn.Config(
            app, host=settings.http_host, port=port, log_config=None, access_log=False, http=BoundedHttpTools
        )
    )
    log.info("service started", port=port, instance=rt.instance)
    watchdog = asyncio.create_task(_fail_fast(tasks, server))
    try:
        await server.serve()
    finally:
        watchdog.cancel()
        for c in parts.consumers:
            c.stop()
        finishing = [asyncio.create_task(finish()) for finish in parts.finishers]
        if finishing:
            await asyncio.wait(finishing, timeout=15)
        for loop_task in loops:
            loop_task.cancel()
        relay.stop()  # (after the finishers: what they settled goes out in its last batch)
        _done, pending = await asyncio.wait(draining, timeout=15)
        for t in pending:
            t.cancel()
        await asyncio.gather(*loops, *pending, return_exceptions=True)
        await rt.producer.stop()
        for close in parts.closers:
            await close()
        await rt.pool.close()
        if rt.keys_pool is not None:
            await rt.keys_pool.close()
        if tracer is not None:  # what is still batched goes out, unless the collector is away
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.to_thread(tracer.shutdown), 5)
        log.info("service stopped")


async def _history_folded(pool: asyncpg.Pool, consumers: list[InboxConsumer[Any]]) -> None:
    """Until every consumer of the service has joined and folded the history it met (no
    partition below its `history_end`). A loop that acts on time (SLA's timers, routing's sweeps,
    notify's digests, intake's auto-close) must never act on a ticket whose later history is not
    read yet: SLA, joining a year's log, escalated closed tickets whose targets it had folded and
    whose closing it had not (bench.history)."""
    for c in consumers:
        await c.joined.wait()
    said = False
    while True:
        try:
            behind = await pool.fetchval("SELECT EXISTS (SELECT 1 FROM inbox_offsets WHERE next_offset < history_end)")
        except db.TRANSIENT:
            behind = True
        if not behind:
            if said:
                log.info("history folded: background jobs start")
            return
        if not said:
            log.info("folding history: background jobs wait for it")
            said = True
        await asyncio.sleep(1)


async def _after(first: Awaitable[None], job: Callable[[], Coroutine[Any, Any, None]]) -> None:
    await first
    await job()


async def _fail_fast(tasks: list[asyncio.Task[None]], server: _Server) -> None:
    """A background task that dies takes the process down (its supervisor restarts it)."""
    done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            log.error("background task died", task=t.get_name(), error=repr(t.exception()))
            os._exit(70)
    server.ask_to_stop()


async def every(
    interval: float,
    step: Callable[[], Awaitable[object]],
    what: str,
    *,
    while_busy: bool = False,
    wait_first: bool = False,
) -> None:
    """A service's background loop: run `step` every `interval` seconds (`while_busy`: again at
    once as long as it reports work done; `wait_first`: not at start), riding out a database that
    is briefly away (logged by the error's type, never its words); anything else ends the loop
    and, with it, the process (its supervisor starts another)."""
    while True:
        if wait_first:
            await asyncio.sleep(interval)
        try:
            while await step() and while_busy:
                pass
        except db.TRANSIENT as exc:
            log.warning("background step retry", loop=what, error=type(exc).__name__)
        if not wait_first:
            await asyncio.sleep(interval)
