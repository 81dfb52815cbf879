"""Business time: exact arithmetic over working hours in a time zone, with holidays.

An instant is business time when its local wall time (in the calendar's zone) falls in one of
the working intervals of its local weekday, and its local date is not a holiday. This is the
definition, and `elapsed` and `add` follow it exactly, across weekends, holidays, year ends and
DST changes (a spring-forward hour that does not exist is not worked; a fall-back hour that
happens twice is worked twice, if it is inside working hours). Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY = timedelta(days=1)
_PROBE = timedelta(minutes=30)
_WINDOW = timedelta(hours=15)  # UTC offsets stay within +-14 h


@dataclass(frozen=True)
class Calendar:
    """`hours[weekday]` (0 = Monday) lists [start, end) local intervals; `end` may be 24:00
    (written `time.max`). An empty mapping with `always=True` is 24x7."""

    timezone: str = "UTC"
    hours: Mapping[int, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    always: bool = False

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Business time in [start, end)."""
        if end <= start:
            return timedelta(0)
        if self.always:
            return end - start
        total = timedelta(0)
        for lo, hi in self._intervals(start, end):
            total += min(hi, end) - max(lo, start)
        return total

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The first instant by which `duration` of business time has passed since `start`."""
        if duration <= timedelta(0):
            return start
        if self.always:
            return start + duration
        left = duration
        for lo, hi in self._intervals(start, None):
            lo = max(lo, start)
            if hi - lo >= left:
                return lo + left
            left -= hi - lo
        raise AssertionError("unreachable: a calendar with no working time")  # pragma: no cover

    def subtract(self, end: datetime, duration: timedelta) -> datetime:
        """The last instant from which `duration` of business time passes by `end`."""
        if duration <= timedelta(0):
            return end
        if self.always:
            return end - duration
        left = duration
        for lo, hi in self._intervals_backward(end):
            hi = min(hi, end)
            if hi - lo >= left:
                return hi - left
            left -= hi - lo
        raise AssertionError("unreachable")  # pragma: no cover

    def _intervals_backward(self, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        if not any(self.hours.values()):
            raise ValueError("this calendar has no working hours")
        zone = ZoneInfo(self.timezone)
        day = end.astimezone(zone).date() + DAY
        idle_days = 0
        while True:
            found = False
            spans = _day_intervals(self.timezone, day, self.hours.get(day.weekday(), ()), day in self.holidays)
            for lo, hi in reversed(spans):
                found = True
                if lo < end:
                    yield lo, hi
            idle_days = 0 if found else idle_days + 1
            if idle_days > 800:
                raise ValueError("no working time within two years")
            day -= DAY

    def _intervals(self, start: datetime, end: datetime | None) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC) that overlap [start, end), in order; endless when end is None."""
        if not any(self.hours.values()):
            raise ValueError("this calendar has no working hours")
        zone = ZoneInfo(self.timezone)
        day = start.astimezone(zone).date() - DAY
        last = end.astimezone(zone).date() + DAY if end is not None else None
        idle_days = 0
        while last is None or day <= last:
            found = False
            for lo, hi in _day_intervals(self.timezone, day, self.hours.get(day.weekday(), ()), day in self.holidays):
                found = True
                if hi > start and (end is None or lo < end):
                    yield lo, hi
            idle_days = 0 if found else idle_days + 1
            if idle_days > 800:  # two years without a working minute: the calendar is unusable
                raise ValueError("no working time within two years")
            day += DAY


def _day_intervals(
    tz: str, day: date, spans: tuple[tuple[time, time], ...], holiday: bool
) -> list[tuple[datetime, datetime]]:
    if holiday or not spans:
        return []
    return _cached_day(tz, day, spans)


@lru_cache(maxsize=4096)
def _cached_day(tz: str, day: date, spans: tuple[tuple[time, time], ...]) -> list[tuple[datetime, datetime]]:
    """The UTC intervals whose local wall time is in `spans` on local date `day`."""
    base = datetime.combine(day, time(0), tzinfo=UTC)  # the local date's wall clock, read as UTC
    out: list[tuple[datetime, datetime]] = []
    for seg_lo, seg_hi, offset in _segments(tz, base - _WINDOW, base + DAY + _WINDOW):
        for s, e in spans:
            wall_lo = base + _since_midnight(s)
            wall_hi = base + (DAY if e == time.max else _since_midnight(e))
            lo, hi = max(wall_lo - offset, seg_lo), min(wall_hi - offset, seg_hi)
            if lo < hi:
                out.append((lo, hi))
    out.sort()
    merged: list[tuple[datetime, datetime]] = []
    for lo, hi in out:  # overlapping spans count once: the definition is a set of instants
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _since_midnight(t: time) -> timedelta:
    return timedelta(hours=t.hour, minutes=t.minute, seconds=t.second)


def _offset(zone: ZoneInfo, instant: datetime) -> timedelta:
    off = instant.astimezone(zone).utcoffset()
    assert off is not None
    return off


def _segments(tz: str, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime, timedelta]]:
    """[lo, hi) cut where the zone's UTC offset changes: (from, to, offset) pieces."""
    zone = ZoneInfo(tz)
    pieces: list[tuple[datetime, datetime, timedelta]] = []
    cur, cur_off = lo, _offset(zone, lo)
    probe = lo
    while probe < hi:
        nxt = min(probe + _PROBE, hi)
        if _offset(zone, nxt) != cur_off:
            # the change lies in (probe, nxt]: find its first second (probes are whole seconds)
            a, b = probe, nxt
            while b - a > timedelta(seconds=1):
                mid = (a + (b - a) / 2).replace(microsecond=0)
                if _offset(zone, mid) == cur_off:
                    a = mid
                else:
                    b = mid
            pieces.append((cur, b, cur_off))
            cur, cur_off = b, _offset(zone, b)
        probe = nxt
    pieces.append((cur, hi, cur_off))
    return pieces


def weekly(
    timezone: str, spans: Mapping[int, list[tuple[str, str]]], holidays: frozenset[date] = frozenset()
) -> Calendar:
    """Build a calendar from "HH:MM" strings ("24:00" allowed as an end)."""

    def parse(hhmm: str) -> time:
        return time.max if hhmm == "24:00" else time.fromisoformat(hhmm)

    hours = {d: tuple((parse(s), parse(e)) for s, e in v) for d, v in spans.items()}
    return Calendar(timezone=timezone, hours=hours, holidays=holidays)


TWENTY_FOUR_SEVEN = Calendar(always=True)
