"""How far behind a consumer group is, in records and in seconds: the pure part of `ops.lagwatch`.

A group's lag on a partition is the log's end minus the group's committed offset. Its age is how
long the oldest record the group has not processed has waited. Reading that record would need
the right to read the topic, which a monitor must not have; instead the watcher remembers when
it first saw the log's end pass each offset (a few hundred samples per partition): the record
at offset `c` reached the log no later than the first sample whose end was past `c`. The age is
therefore a lower bound, short by at most one sampling interval, and exact enough to alert on
(this is how kafka-lag-exporter estimates it too).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field

SAMPLES_KEPT = 720  # at one sample every 5 s, an hour; older ends are folded into the oldest


@dataclass
class EndHistory:
    """When the log's end of one partition was seen, in order of offset (and time)."""

    ends: deque[int] = field(default_factory=deque)
    seen_at: deque[float] = field(default_factory=deque)

    def observe(self, end: int, now: float) -> None:
        if self.ends and end <= self.ends[-1]:
            return  # nothing appended since: the first sight of that end is what counts
        self.ends.append(end)
        self.seen_at.append(now)
        while len(self.ends) > SAMPLES_KEPT:
            self.ends.popleft()
            self.seen_at.popleft()

    def appended_by(self, offset: int) -> float | None:
        """The first time the end was seen past `offset` (the record there existed by then);
        None if no sample shows it (it came after the last one)."""
        i = bisect.bisect_right(self.ends, offset)
        return self.seen_at[i] if i < len(self.ends) else None


@dataclass(frozen=True)
class Lag:
    records: int
    seconds: float


def lag_of(history: EndHistory, begin: int, end: int, committed: int | None, now: float) -> Lag:
    """The lag of a group at `committed` (None: it never committed here, so all of the log is
    ahead of it) on a partition that holds `begin` to `end` now (retention deleted what was
    before `begin`: nobody can be behind on it)."""
    start = begin if committed is None else max(committed, begin)
    records = max(0, end - start)
    if records == 0:
        return Lag(0, 0.0)
    since = history.appended_by(start)
    return Lag(records, max(0.0, now - since) if since is not None else 0.0)
