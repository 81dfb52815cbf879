"""The lag's arithmetic (ops.lag), pure: the age is a lower bound of the oldest unprocessed
record's wait, short by at most one sampling interval."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ops.lag import SAMPLES_KEPT, EndHistory, lag_of


def test_a_group_at_the_end_is_not_behind() -> None:
    h = EndHistory()
    h.observe(10, 100.0)
    assert lag_of(h, 0, 10, 10, 500.0).records == 0
    assert lag_of(h, 0, 10, 10, 500.0).seconds == 0.0


def test_a_stopped_group_ages_from_when_its_next_record_was_first_seen() -> None:
    h = EndHistory()
    h.observe(10, 100.0)  # the group committed 10 at about this time and then stopped
    h.observe(15, 105.0)  # record 10 existed by 105 s
    h.observe(30, 110.0)
    lag = lag_of(h, 0, 30, 10, 160.0)
    assert lag.records == 20 and lag.seconds == 55.0


def test_a_group_that_never_committed_is_behind_from_where_the_log_begins() -> None:
    h = EndHistory()
    h.observe(50, 1.0)
    assert lag_of(h, 20, 50, None, 2.0).records == 30
    assert lag_of(h, 20, 50, 5, 2.0).records == 30  # below the log's start: deleted, not owed


def test_samples_are_bounded() -> None:
    h = EndHistory()
    for i in range(SAMPLES_KEPT * 2):
        h.observe(i + 1, float(i))
    assert len(h.ends) == SAMPLES_KEPT


@given(
    appends=st.lists(st.tuples(st.integers(0, 50), st.floats(0.1, 10)), min_size=1, max_size=40),
    every=st.integers(1, 5),
    stop_at=st.integers(0, 500),
)
def test_the_age_never_exceeds_the_truth_and_misses_it_by_less_than_a_sampling_interval(
    appends: list[tuple[int, float]], every: int, stop_at: int
) -> None:
    # a log appended in bursts at known times, sampled every `every` bursts (and at the end)
    appended_at: list[float] = []
    now = 0.0
    h = EndHistory()
    sample_times = []
    for i, (n, gap) in enumerate(appends):
        now += gap
        appended_at += [now] * n
        if i % every == 0 or i == len(appends) - 1:
            h.observe(len(appended_at), now)
            sample_times.append(now)
    committed = min(stop_at, len(appended_at))
    later = now + 30.0
    lag = lag_of(h, 0, len(appended_at), committed, later)
    assert lag.records == len(appended_at) - committed
    if lag.records:
        truth = later - appended_at[committed]
        assert lag.seconds <= truth + 1e-9
        # the first sample at or after the record's append is at most one sampling gap later
        first_seen = min(t for t in sample_times if t >= appended_at[committed] - 1e-9)
        assert abs((later - lag.seconds) - first_seen) < 1e-6
