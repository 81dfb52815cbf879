"""Clause 12's schedule, pure: which period's audit is due at any moment, in the business's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.projections import audits

MADRID = "Europe/Madrid"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # 1 Dec 07:00 in Madrid is 06:00 UTC: November is due from then, October before
        (datetime(2026, 12, 1, 5, 59, tzinfo=UTC), "2026-10"),
        (datetime(2026, 12, 1, 6, 0, tzinfo=UTC), "2026-11"),
        (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "2026-10"),
        (datetime(2027, 1, 1, 6, 0, tzinfo=UTC), "2026-12"),  # across the year
        (datetime(2027, 3, 15, 12, 0, tzinfo=UTC), "2027-02"),
    ],
)
def test_monthly_the_previous_month_is_due_from_the_hour_of_the_first(now: datetime, expected: str) -> None:
    period = audits.due_period(now, "monthly", MADRID, 7)
    assert period is not None and period.review_id == expected


def test_weekly_the_previous_monday_to_sunday_is_due() -> None:
    period = audits.due_period(datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "weekly", MADRID, 7)  # a Monday
    assert period == audits.Period("2026-11-23_2026-11-29", date(2026, 11, 23), date(2026, 11, 29))
    early = audits.due_period(datetime(2026, 11, 30, 5, 0, tzinfo=UTC), "weekly", MADRID, 7)
    assert early is not None and early.review_id == "2026-11-16_2026-11-22"


def test_off_is_never_due() -> None:
    assert audits.due_period(datetime(2026, 12, 1, 12, 0, tzinfo=UTC), "off", MADRID, 7) is None


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_the_due_period_is_whole_ended_and_the_latest_one(now: datetime) -> None:
    for schedule in ("monthly", "weekly"):
        period = audits.due_period(now, schedule, MADRID, 7)
        assert period is not None
        start, end = period.bounds(MADRID)
        assert start < end <= now  # it has ended
        assert end > now - timedelta(days=32 if schedule == "monthly" else 8)  # the latest one ended
        if schedule == "monthly":
            assert period.first.day == 1 and (period.last + timedelta(days=1)).day == 1
        else:
            assert period.first.weekday() == 0 and (period.last - period.first).days == 6
        assert audits.period_of(period.first, period.last) == period  # a month named the same by hand


def test_a_period_in_local_days_and_a_seed_that_does_not_depend_on_who_asks() -> None:
    start, end = audits.period_of(date(2026, 10, 1), date(2026, 10, 31)).bounds(MADRID)
    assert start == datetime(2026, 9, 30, 22, 0, tzinfo=UTC) and end == datetime(2026, 10, 31, 23, 0, tzinfo=UTC)
    assert audits.seed_of("2026-10") == audits.seed_of("2026-10") != audits.seed_of("2026-11")
