"""Benchmark: what every consumer pays for every record it reads, before its handler sees it.

    .venv/bin/python -m bench.decode [--events 100000]

A consumer of Mesa's events decodes each record (CloudEvents headers, the payload's JSON) and
checks who signed it (the record's leaf, its Merkle path, the batch's signature once): the
fixed cost per record in every service and in a replay. Pure CPU, no broker and no database:
`--events` ticket events as `bench.replay` writes them (five per ticket, text sealed), signed as
the owners' relays sign them (`bench.relays`), decoded by `verified_events` with a fresh `Trust`
(so the batches' signatures are verified here, as a consumer meets them), in two orders:
- the log's: as a live consumer reads a partition's records soon after they were written;
- partition by partition (12, by key, as the producer deals them): as a replay, or a consumer
  with a backlog, reads a batch's records far apart.
Prints microseconds per record (the best of three passes, each with a fresh `Trust`);
docs/benchmarks.md keeps the results.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
from collections.abc import Callable

from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord

from bench.relays import RELAY_BATCH, Owned, sign_as_relays
from bench.replay import history
from shared.domain.events.catalogue import owners_of
from shared.platform.consumer import verified_events
from shared.platform.signing import SERVICES, Signer, Trust

PARTITIONS = 12


def records(n: int) -> tuple[list[ConsumerRecord[bytes, bytes]], Trust]:
    """`n` events as records of one log, in the order written, each with its partition; and the
    trust that accepts their signers."""
    keys = {f"P{i:04d}": os.urandom(32) for i in range(2_000)}
    signers = {s: Signer.from_seed(s, os.urandom(32)) for s in SERVICES}
    out: list[ConsumerRecord[bytes, bytes]] = []
    chunk: list[Owned] = []

    def flush() -> None:
        for k, v, h in sign_as_relays(chunk, signers):
            part = (murmur2(k) & 0x7FFFFFFF) % PARTITIONS
            out.append(ConsumerRecord("ticket.events", part, len(out), 0, 0, k, v, None, len(k), len(v), tuple(h)))
        chunk.clear()

    for env in history(n, keys):
        chunk.append((min(owners_of(env.type)), env.to_kafka()))
        if len(chunk) >= RELAY_BATCH:
            flush()
    flush()
    return out, Trust({s.kid: (name, s.public) for name, s in signers.items()})


def best_of_three(label: str, recs: list[ConsumerRecord[bytes, bytes]], make: Callable[[], Trust]) -> float:
    best = float("inf")
    for _ in range(3):
        decode = verified_events(make())
        start = time.perf_counter()
        for r in recs:
            decode(r)
        best = min(best, time.perf_counter() - start)
    per = 1e6 * best / len(recs)
    print(f"{label}: {per:.2f} us per record")
    return per


def main(n: int) -> None:
    recs, trust = records(n)

    def fresh() -> Trust:
        return Trust(dict(trust.keys), dict(trust.cutover))

    by_partition = sorted(recs, key=lambda r: (r.partition, r.offset))
    gc.freeze()  # as services and replay run (shared.platform.runtime.tune_gc)
    gc.set_threshold(20_000, 50, 100)
    print(f"{len(recs):,} records, {sum(len(r.value or b'') for r in recs) / len(recs):.0f} bytes of value on average")
    best_of_three("verified decode, the log's order", recs, fresh)
    best_of_three(f"verified decode, partition by partition ({PARTITIONS})", by_partition, fresh)
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, Python {platform.python_version()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    main(parser.parse_args().events)
