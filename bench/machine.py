"""How fast the machine is at the moment, next to a benchmark's figures.

The development VM's speed drifts by a third within an hour (docs/benchmarks.md): the same run
gives other figures an hour later. A benchmark records this reading before and after it runs, so
figures from different hours can be read side by side, and a run made in a slow spell shows as
one. It is a fixed pure-Python loop, the kind of work the services do most: seconds, best of
three (lower is faster; 0.46-0.95 s on the development VM over a day).
"""

from __future__ import annotations

import time

LOOP = 5_000_000


def reference_loop_s(repeat: int = 3) -> float:
    """Seconds for LOOP additions in a Python loop, the best of `repeat` tries."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        total = 0
        for i in range(LOOP):
            total += i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)
