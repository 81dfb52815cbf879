"""Replay in several processes: each worker folds its share of a consumer's partitions.

A consumer's partitions are independent (the log is keyed by ticket), so N workers folding
disjoint partitions into the same shadow schema do what N live instances of the service do in
one consumer group. One Python process tops out at one core, so this is how a replay uses a
machine's others (PostgreSQL's work is spread over one backend per connection anyway).

Protocol, one JSON document per line: the parent sends the settings, then one job per consumer
(`{"consumer": name, "targets": [[topic, partition, end], ...]}`); the worker answers each job
with progress lines (`{"read": n}`) and `{"done": n}`. Closing its stdin ends it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Callable

from aiokafka import TopicPartition

from shared.platform.settings import Settings

_LINE_LIMIT = 2**20  # a job names at most a few thousand partitions


def share(targets: dict[TopicPartition, int], workers: int) -> list[dict[TopicPartition, int]]:
    """Partitions dealt round-robin, in (topic, partition) order: worker i gets every n-th."""
    shares: list[dict[TopicPartition, int]] = [{} for _ in range(workers)]
    for i, tp in enumerate(sorted(targets, key=lambda tp: (tp.topic, tp.partition))):
        shares[i % workers][tp] = targets[tp]
    return shares


class WorkerFailed(RuntimeError):
    pass


class Crew:
    def __init__(self, procs: list[asyncio.subprocess.Process]) -> None:
        self._procs = procs
        # stderr is drained as it comes (a full pipe would stall a worker); the end explains a failure
        self._errors = {proc.pid: collections.deque[str](maxlen=15) for proc in procs}
        self._drains = {proc.pid: asyncio.create_task(self._drain(proc)) for proc in procs}

    async def _drain(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while line := await proc.stderr.readline():
            self._errors[proc.pid].append(line.decode("utf-8", "replace").rstrip())

    async def _failure(self, proc: asyncio.subprocess.Process) -> WorkerFailed:
        await proc.wait()
        await asyncio.wait_for(self._drains[proc.pid], timeout=5)
        lines = "\n".join(self._errors[proc.pid]) or "no message"
        return WorkerFailed(f"replay worker exited with {proc.returncode}: {lines}")

    @classmethod
    @contextlib.asynccontextmanager
    async def start(cls, settings: Settings, service: str, schema: str, workers: int) -> AsyncIterator[Crew]:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ops.replay_workers",
                service,
                schema,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )
            for _ in range(workers)
        ]
        crew = cls(procs)
        try:
            for proc in procs:
                crew._send(proc, settings.model_dump_json())
            yield crew
        finally:
            for proc in procs:
                if proc.stdin is not None and not proc.stdin.is_closing():
                    proc.stdin.close()
            results = await asyncio.gather(*(proc.wait() for proc in procs), return_exceptions=True)
            failed = [proc for proc, rc in zip(procs, results, strict=True) if rc != 0]
            if failed and sys.exc_info()[0] is None:
                raise await crew._failure(failed[0])

    @staticmethod
    def _send(proc: asyncio.subprocess.Process, line: str) -> None:
        assert proc.stdin is not None
        proc.stdin.write(line.encode() + b"\n")

    async def replay(
        self, consumer: str, targets: dict[TopicPartition, int], on_batch: Callable[[int], None] | None
    ) -> int:
        """Fold `consumer` up to `targets` in every worker at once; returns the records read."""
        shares = share(targets, len(self._procs))
        for proc, part in zip(self._procs, shares, strict=True):
            job = {"consumer": consumer, "targets": [[tp.topic, tp.partition, end] for tp, end in part.items()]}
            self._send(proc, json.dumps(job))
        counts = await asyncio.gather(*(self._follow(proc, on_batch) for proc in self._procs))
        return sum(counts)

    async def _follow(self, proc: asyncio.subprocess.Process, on_batch: Callable[[int], None] | None) -> int:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            msg = json.loads(line)
            if "done" in msg:
                return int(msg["done"])
            if on_batch is not None:
                on_batch(int(msg["read"]))
        raise await self._failure(proc)


async def _work(service: str, schema: str) -> None:
    from ops.shadow import attach_shadow
    from shared.platform.runtime import tune_gc

    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    settings = Settings.model_validate_json(await reader.readline())
    shadow = await attach_shadow(settings, service, schema)
    tune_gc()
    consumers = {c.name: c for c in shadow.consumers}

    def report(msg: dict[str, int]) -> None:
        sys.stdout.write(json.dumps(msg) + "\n")
        sys.stdout.flush()

    try:
        while line := await reader.readline():
            job = json.loads(line)
            targets = {TopicPartition(t, p): int(end) for t, p, end in job["targets"]}
            read = await consumers[job["consumer"]].replay_to(targets, lambda n: report({"read": n}), bulk=True)
            report({"done": read})
    finally:
        await shadow.close()


if __name__ == "__main__":
    from shared.platform.logging import configure_logging

    configure_logging("WARNING", "console", service="replay-worker")
    asyncio.run(_work(sys.argv[1], sys.argv[2]))
