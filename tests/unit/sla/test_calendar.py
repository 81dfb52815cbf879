"""Business-time arithmetic against a brute-force, minute-by-minute reference, over random
calendars in zones with DST, holidays and year ends (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.calendar import TWENTY_FOUR_SEVEN, Calendar, weekly

MINUTE = timedelta(minutes=1)
ZONES = ["Europe/Madrid", "America/Mexico_City", "America/Santiago", "America/New_York", "Australia/Lord_Howe", "UTC"]


def is_business(cal: Calendar, t: datetime) -> bool:
    """The definition, read literally for one instant."""
    local = t.astimezone(ZoneInfo(cal.timezone))
    if local.date() in cal.holidays:
        return False
    wall = local.time().replace(tzinfo=None)
    return any(s <= wall and (e == time.max or wall < e) for s, e in cal.hours.get(local.weekday(), ()))


def brute_elapsed(cal: Calendar, a: datetime, b: datetime) -> timedelta:
    n, t = 0, a
    while t < b:
        n += is_business(cal, t)
        t += MINUTE
    return n * MINUTE


def brute_add(cal: Calendar, a: datetime, d: timedelta) -> datetime:
    t, left = a, d
    while left > timedelta(0):
        if is_business(cal, t):
            left -= MINUTE
        t += MINUTE
    # the answer is the end of the last business minute consumed
    return t if d > timedelta(0) else a


hhmm = st.integers(0, 47).map(lambda h: time(h // 2, 30 * (h % 2)))


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    hours: dict[int, tuple[tuple[time, time], ...]] = {}
    for day in range(7):
        spans = []
        for _ in range(draw(st.integers(0, 2))):
            s, e = sorted(draw(st.lists(hhmm, min_size=2, max_size=2, unique=True)))
            if draw(st.booleans()) and e == time(23, 30):
                e = time.max
            spans.append((s, e))
        if spans:
            hours[day] = tuple(spans)
    if not hours:
        hours[0] = ((time(9), time(17)),)
    holidays = frozenset(draw(st.lists(st.dates(date(2026, 3, 1), date(2027, 1, 10)), max_size=6)))
    return Calendar(timezone=draw(st.sampled_from(ZONES)), hours=hours, holidays=holidays)


# around DST changes and the year end, where bugs live
STARTS = [
    datetime(2026, 3, 28, 20, 0, tzinfo=UTC),
    datetime(2026, 4, 4, 12, 0, tzinfo=UTC),
    datetime(2026, 10, 24, 18, 0, tzinfo=UTC),
    datetime(2026, 10, 31, 22, 0, tzinfo=UTC),
    datetime(2026, 12, 30, 23, 0, tzinfo=UTC),
    datetime(2026, 9, 5, 3, 0, tzinfo=UTC),
]
instants = st.tuples(st.sampled_from(STARTS), st.integers(0, 3 * 24 * 60)).map(lambda p: p[0] + timedelta(minutes=p[1]))


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, st.integers(0, 4 * 24 * 60))
def test_elapsed_matches_the_definition_minute_by_minute(cal: Calendar, a: datetime, minutes: int) -> None:
    b = a + timedelta(minutes=minutes)
    assert cal.elapsed(a, b) == brute_elapsed(cal, a, b)


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, st.integers(0, 12 * 60))
def test_add_matches_the_definition_and_inverts_elapsed(cal: Calendar, a: datetime, minutes: int) -> None:
    d = timedelta(minutes=minutes)
    due = cal.add(a, d)
    assert cal.elapsed(a, due) == d
    if due - a < timedelta(days=6):
        assert due == brute_add(cal, a, d)


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, st.integers(0, 12 * 60))
def test_subtract_is_the_mirror_of_add(cal: Calendar, b: datetime, minutes: int) -> None:
    d = timedelta(minutes=minutes)
    start = cal.subtract(b, d)
    assert cal.elapsed(start, b) == d
    # and it is the latest such instant: a minute later, less than d remains
    if d > timedelta(0):
        assert cal.elapsed(start + MINUTE, b) < d


def test_a_friday_evening_ticket_in_madrid_waits_for_monday() -> None:
    office = weekly("Europe/Madrid", {d: [("09:00", "18:00")] for d in range(5)})
    friday_5pm = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 17:00 in Madrid
    due = office.add(friday_5pm, timedelta(hours=2))
    assert due.astimezone(ZoneInfo("Europe/Madrid")) == datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Europe/Madrid"))


def test_holidays_and_dst_nights() -> None:
    christmas = weekly("Europe/Madrid", {d: [("09:00", "18:00")] for d in range(7)}, frozenset({date(2026, 12, 25)}))
    eve = datetime(2026, 12, 24, 16, 0, tzinfo=UTC)  # 17:00 local, one hour left that day
    assert christmas.add(eve, timedelta(hours=2)).astimezone(ZoneInfo("Europe/Madrid")).date() == date(2026, 12, 26)
    night = weekly("Europe/Madrid", {6: [("00:00", "06:00")]})  # Sunday 00:00-06:00 local
    spring = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # Sunday 29 March 00:00 local; 02:00 -> 03:00
    assert night.elapsed(spring, spring + timedelta(hours=8)) == timedelta(hours=5)
    autumn = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Sunday 25 October 00:00 local; 03:00 -> 02:00
    assert night.elapsed(autumn, autumn + timedelta(hours=8)) == timedelta(hours=7)


def test_twenty_four_seven_is_plain_time_and_empty_calendars_are_refused() -> None:
    a = datetime(2026, 1, 1, tzinfo=UTC)
    assert TWENTY_FOUR_SEVEN.add(a, timedelta(hours=5)) == a + timedelta(hours=5)
    assert TWENTY_FOUR_SEVEN.elapsed(a, a + timedelta(days=2)) == timedelta(days=2)
    with pytest.raises(ValueError):
        Calendar(timezone="UTC", hours={}).add(a, timedelta(hours=1))


@settings(max_examples=150, deadline=None)
@given(calendars(), instants, st.integers(1, 12 * 60), st.integers(0, 24 * 60), st.integers(0, 48 * 60))
def test_a_pause_is_credited_exactly(
    cal: Calendar, start: datetime, target_min: int, run_min: int, wait_min: int
) -> None:
    """What SLA does on pause and resume: keep the business time left, count it again from the
    reply. The business time counted on the clock is then exactly the target."""
    target = timedelta(minutes=target_min)
    due = cal.add(start, target)
    paused = min(start + timedelta(minutes=run_min), due)
    left = cal.elapsed(paused, due)
    resumed = paused + timedelta(minutes=wait_min)
    new_due = cal.add(resumed, left)
    assert cal.elapsed(start, paused) + cal.elapsed(resumed, new_due) == target
    assert new_due >= due
