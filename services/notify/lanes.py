"""Which SMTP connection (lane) each claimed message goes out on. Pure: the deliverer does the I/O.

Lanes are fed continuously: rows claimed while others are still on their way join the lanes,
none waits for the slowest lane of a batch to finish (a batch barrier left most connections idle
at its end, and the claims and the sends in turn). The rules:

- a ticket's messages (else a recipient's) stay on one lane for as long as any of them is not
  settled, in the order claimed, so they reach a mailbox in the order they were queued;
- a group with nothing on its way goes to the lane with the least to do, the largest groups
  first, so the lanes stay even;
- a message counts as on its way from `add` until its lane reports it settled (`done`).
"""

from __future__ import annotations

from collections import deque

from services.notify.ledger import Delivery


def group_of(d: Delivery) -> str:
    return d.ticket_id or d.recipient


class Lanes:
    def __init__(self, count: int) -> None:
        self.queues: list[deque[Delivery]] = [deque() for _ in range(max(1, count))]
        self._holding: dict[str, tuple[int, int]] = {}  # group -> (lane, messages not yet settled)

    @property
    def in_flight(self) -> int:
        return sum(map(len, self.queues))

    def add(self, rows: list[Delivery]) -> set[int]:
        """Put `rows` (in claim order) on lanes; return the lanes that were given work."""
        groups: dict[str, list[Delivery]] = {}
        for d in rows:
            groups.setdefault(group_of(d), []).append(d)
        given: set[int] = set()
        for key, group in sorted(groups.items(), key=lambda kv: len(kv[1]), reverse=True):
            lane, pending = self._holding.get(key, (-1, 0))
            if pending == 0:
                lane = min(range(len(self.queues)), key=lambda i: len(self.queues[i]))
            self.queues[lane].extend(group)
            self._holding[key] = (lane, pending + len(group))
            given.add(lane)
        return given

    def next(self, lane: int) -> Delivery | None:
        """The message `lane` sends now (it stays counted until `done`)."""
        queue = self.queues[lane]
        return queue[0] if queue else None

    def done(self, lane: int) -> Delivery:
        """`lane`'s current message is settled (sent, deferred or given up)."""
        d = self.queues[lane].popleft()
        key = group_of(d)
        held, pending = self._holding[key]
        if pending <= 1:
            del self._holding[key]
        else:
            self._holding[key] = (held, pending - 1)
        return d
