"""SLA targets per priority and the pause arithmetic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.sla.domain import TARGETS, due_times, resumed_due
from shared.events.catalogue import Priority

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def test_more_urgent_priorities_get_tighter_targets() -> None:
    order = [Priority.P1, Priority.P2, Priority.P3, Priority.P4]
    firsts = [TARGETS[p].first_response for p in order]
    resolutions = [TARGETS[p].resolution for p in order]
    assert firsts == sorted(firsts) and resolutions == sorted(resolutions)
    assert all(TARGETS[p].first_response < TARGETS[p].resolution for p in order)
    assert due_times(Priority.P1, T0) == (T0 + timedelta(hours=1), T0 + timedelta(hours=4))


@given(st.integers(0, 10_000), st.integers(-100, 10_000))
def test_a_pause_pushes_the_due_time_by_the_time_waited(paused_min: int, waited_min: int) -> None:
    due = T0 + timedelta(hours=24)
    paused = T0 + timedelta(minutes=paused_min)
    resumed = paused + timedelta(minutes=waited_min)
    assert resumed_due(due, paused, resumed) == due + timedelta(minutes=max(waited_min, 0))
