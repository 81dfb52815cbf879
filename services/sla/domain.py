"""SLA policy, pure: targets per priority and the instant each is due.

First response: the first public answer of an agent (a comment or a request for information).
Resolution: the ticket resolved. Waiting on the customer pauses the resolution clock; the time
paused is added to the resolution due time when the customer replies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.events.catalogue import Priority


@dataclass(frozen=True)
class Target:
    first_response: timedelta
    resolution: timedelta


# Defaults for the shop's support desk; 24x7 until business calendars come.
TARGETS: dict[Priority, Target] = {
    Priority.P1: Target(timedelta(hours=1), timedelta(hours=4)),
    Priority.P2: Target(timedelta(hours=4), timedelta(hours=24)),
    Priority.P3: Target(timedelta(hours=8), timedelta(hours=72)),
    Priority.P4: Target(timedelta(hours=24), timedelta(hours=120)),
}


def due_times(priority: Priority, opened_at: datetime) -> tuple[datetime, datetime]:
    target = TARGETS[priority]
    return opened_at + target.first_response, opened_at + target.resolution


def resumed_due(resolution_due: datetime, paused_at: datetime, resumed_at: datetime) -> datetime:
    """The resolution due time after a pause: pushed back by the time spent waiting."""
    return resolution_due + max(resumed_at - paused_at, timedelta(0))
