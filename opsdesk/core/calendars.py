"""Business-time arithmetic: how much working time lies between two instants, and when a
given amount of working time, started at an instant, runs out.

A calendar is an IANA time zone, working ranges per weekday (several per day), public
holidays from the `holidays` package by country and subdivision (its "observed" days
included, so a South African holiday on a Sunday closes the Monday), manual exceptions per
date (closed, or other hours) and, for follow-the-sun or shared services, a combination of
other calendars (working when any member works, or only when all do). A 24x7 calendar
counts every second.

The arithmetic runs on an index: for each year touched, the working intervals in UTC epoch
seconds and the working time accumulated before each one. Measuring is two binary
searches; adding is one more. Local ranges are turned into UTC day by day with `zoneinfo`,
so a range that crosses a daylight-saving change is as long as the wall clock says.

Everything here is pure (no database); `opsdesk.core.models.BusinessCalendar.spec()` builds
a `CalendarSpec` from stored rows and `compiled()` caches the index.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400
#: How far ahead `add` looks for working time before deciding the calendar has none.
MAX_YEARS_AHEAD = 10

Range = tuple[int, int]  # minutes since local midnight, end exclusive, end <= 1440


class CalendarError(ValueError):
    """A calendar that cannot answer: no working time at all, or bad hours."""


def parse_hhmm(value: str) -> int:
    """``"08:30"`` -> 510 minutes; ``"24:00"`` is the end of the day."""
    try:
        hours, minutes = value.split(":")
        h, m = int(hours), int(minutes)
    except (ValueError, AttributeError):
        raise CalendarError(f"{value!r} is not a time of day (HH:MM).") from None
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise CalendarError(f"{value!r} is not a time of day (HH:MM).")
    return h * 60 + m


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_ranges(ranges: Iterable[Iterable[str]]) -> tuple[Range, ...]:
    """``[["08:00", "12:00"], ["13:00", "17:00"]]`` -> sorted, validated, non-overlapping."""
    parsed: list[Range] = []
    for item in ranges:
        pair = list(item)
        if len(pair) != 2:
            raise CalendarError("Each working range is [start, end].")
        start, end = parse_hhmm(pair[0]), parse_hhmm(pair[1])
        if end <= start:
            raise CalendarError(f"{pair[0]}-{pair[1]}: the end must be after the start.")
        parsed.append((start, end))
    parsed.sort()
    for (_, end), (start, _) in itertools.pairwise(parsed):
        if start < end:
            raise CalendarError("Working ranges on one day must not overlap.")
    return tuple(parsed)


def parse_week(hours: Mapping[str, Any]) -> tuple[tuple[Range, ...], ...]:
    """``{"mon": [["08:00", "17:00"]], ...}`` -> seven tuples of ranges, Monday first."""
    unknown = sorted(set(hours) - set(WEEKDAYS))
    if unknown:
        raise CalendarError(f"Unknown weekday(s): {', '.join(unknown)}; use {', '.join(WEEKDAYS)}.")
    return tuple(parse_ranges(hours.get(day) or []) for day in WEEKDAYS)


def week_as_json(week: tuple[tuple[Range, ...], ...]) -> dict[str, list[list[str]]]:
    return {
        day: [[format_hhmm(s), format_hhmm(e)] for s, e in ranges]
        for day, ranges in zip(WEEKDAYS, week, strict=True)
    }


#: Monday to Friday, 08:00-17:00.
OFFICE_HOURS = parse_week({day: [["08:00", "17:00"]] for day in WEEKDAYS[:5]})


@dataclass(frozen=True)
class Exception_:
    """One date's override: other hours (possibly none, i.e. closed) and why."""

    ranges: tuple[Range, ...]
    name: str = ""


@dataclass(frozen=True)
class CalendarSpec:
    """Everything that defines a calendar; hashable so compiled indexes can be cached."""

    time_zone: str = "UTC"
    always_open: bool = False
    week: tuple[tuple[Range, ...], ...] = OFFICE_HOURS
    holiday_country: str = ""
    holiday_subdivision: str = ""
    exceptions: tuple[tuple[date, Exception_], ...] = ()
    combine: str = ""  # "", "union" or "intersection"
    members: tuple[CalendarSpec, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        if len(self.week) != 7:
            raise CalendarError("A week has seven days.")
        if self.combine not in ("", "union", "intersection"):
            raise CalendarError("combine is 'union' or 'intersection'.")
        if self.combine and not self.members:
            raise CalendarError("A combined calendar needs at least one member.")


@dataclass(frozen=True)
class Segment:
    """A stretch of time and what it was for the calendar (see `Calendar.segments`)."""

    start: datetime
    end: datetime
    kind: str  # "working", "outside_hours", "holiday", "exception"
    label: str = ""

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "kind": self.kind,
            "label": self.label,
            "seconds": round(self.seconds),
        }


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:
        raise CalendarError("Business-time arithmetic needs aware datetimes.")
    return value.timestamp()


def _from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    intervals.sort()
    merged: list[tuple[float, float]] = []
    for start, end in intervals:
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _intersect(
    a: list[tuple[float, float]], b: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class Calendar:
    """A compiled calendar. Thread-safe; build with `compile_calendar` to share the cache."""

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        self.tz = ZoneInfo(spec.time_zone)
        self._members = tuple(Calendar(m) for m in spec.members)
        self._exceptions = dict(spec.exceptions)
        self._holiday_cache: dict[int, Mapping[date, str]] = {}
        self._years: tuple[int, int] | None = None
        # (starts, ends, cum, cum_end): the working intervals, the working seconds before
        # each and up to the end of each. Replaced whole, never changed in place, so a reader
        # that takes one snapshot sees a consistent index while another thread extends it.
        self._index: tuple[list[float], list[float], list[float], list[float]] = ([], [], [], [])
        self._lock = threading.Lock()

    # --- what a day is ----------------------------------------------------------------------

    def holidays_in(self, year: int) -> Mapping[date, str]:
        if not self.spec.holiday_country:
            return {}
        found = self._holiday_cache.get(year)
        if found is None:
            import holidays

            # A plain dict of that one year: the package's object adds any other year looked
            # up in it, which would make this cache's content depend on earlier calls.
            found = dict(
                holidays.country_holidays(
                    self.spec.holiday_country,
                    subdiv=self.spec.holiday_subdivision or None,
                    years=year,
                )
            )
            self._holiday_cache[year] = found
        return found

    def day(self, day: date) -> tuple[tuple[Range, ...], str, str]:
        """The working ranges of local `day`, the kind of day and its label."""
        override = self._exceptions.get(day)
        if override is not None:
            return override.ranges, "exception", override.name or "Exception"
        holiday = self.holidays_in(day.year).get(day)
        if holiday:
            return (), "holiday", holiday
        return self.spec.week[day.weekday()], "working", ""

    def _local(self, day: date, minutes: int) -> float:
        if minutes >= 1440:
            day, minutes = day + timedelta(days=1), minutes - 1440
        local = datetime.combine(day, time(minutes // 60, minutes % 60), self.tz)
        return local.timestamp()

    def _range_intervals(self, first: int, last: int) -> list[tuple[float, float]]:
        """The merged working intervals of local years `first` to `last`.

        Members are combined over the whole range, not year by year: members in different
        time zones start their years at different instants, so a per-year intersection would
        lose the overlap around New Year."""
        if self._members:
            parts = [m._range_intervals(first, last) for m in self._members]
            if self.spec.combine == "intersection":
                result = parts[0]
                for part in parts[1:]:
                    result = _intersect(result, part)
                return result
            return _merge([iv for part in parts for iv in part])
        intervals: list[tuple[float, float]] = []
        for year in range(first, last + 1):
            intervals.extend(self._year_intervals(year))
        # Ranges near midnight on 31 December belong to two years once converted to UTC.
        return _merge(intervals)

    def _year_intervals(self, year: int) -> list[tuple[float, float]]:
        intervals: list[tuple[float, float]] = []
        current = date(year, 1, 1)
        end = date(year + 1, 1, 1)
        while current < end:
            for start, stop in self.day(current)[0]:
                intervals.append((self._local(current, start), self._local(current, stop)))
            current += timedelta(days=1)
        return _merge(intervals)

    # --- the index ------------------------------------------------------------------------

    def _ensure(self, first: int, last: int) -> None:
        if self._years is not None and self._years[0] <= first and last <= self._years[1]:
            return
        with self._lock:
            lo, hi = (
                (first, last)
                if self._years is None
                else (
                    min(first, self._years[0]),
                    max(last, self._years[1]),
                )
            )
            if self._years is not None and self._years[0] <= lo and hi <= self._years[1]:
                return
            intervals = self._range_intervals(lo, hi)
            starts, ends, cum, cum_end = [], [], [], []
            total = 0.0
            for start, end in intervals:
                starts.append(start)
                ends.append(end)
                cum.append(total)
                total += end - start
                cum_end.append(total)
            self._index = (starts, ends, cum, cum_end)
            self._years = (lo, hi)

    def _cover(self, *moments: float) -> None:
        # One day of slack either side: a UTC instant can fall in the neighbouring local year.
        years = [_from_epoch(m).year for m in moments]
        self._ensure(min(years) - 1, max(years) + 1)

    @staticmethod
    def _cum_at(index: tuple[list[float], ...], t: float) -> float:
        starts, ends, cum, _ = index
        i = bisect.bisect_right(starts, t) - 1
        if i < 0:
            return 0.0
        return cum[i] + min(t, ends[i]) - starts[i]

    # --- the arithmetic -------------------------------------------------------------------

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Working seconds in [start, end); negative when end is before start."""
        a, b = _epoch(start), _epoch(end)
        if self.spec.always_open:
            return b - a
        if b < a:
            return -self.business_seconds(end, start)
        self._cover(a, b)
        index = self._index
        return self._cum_at(index, b) - self._cum_at(index, a)

    def add(self, start: datetime, seconds: float) -> datetime:
        """The instant at which `seconds` of working time, counted from `start`, run out."""
        if seconds <= 0:
            return start
        a = _epoch(start)
        if self.spec.always_open:
            return _from_epoch(a + seconds)
        self._cover(a)
        index = self._index
        target = self._cum_at(index, a) + seconds
        year = _from_epoch(a).year
        while not index[3] or index[3][-1] < target:
            assert self._years is not None
            if self._years[1] > year + MAX_YEARS_AHEAD:
                raise CalendarError(
                    f"The calendar has no working time in the {MAX_YEARS_AHEAD} years after "
                    f"{start.isoformat()}."
                )
            self._ensure(self._years[0], self._years[1] + 1)
            index = self._index
            target = self._cum_at(index, a) + seconds
        starts, _, cum, cum_end = index
        j = bisect.bisect_left(cum_end, target)
        return _from_epoch(starts[j] + (target - cum[j]))

    def is_working(self, moment: datetime) -> bool:
        t = _epoch(moment)
        if self.spec.always_open:
            return True
        self._cover(t)
        starts, ends, _, _ = self._index
        i = bisect.bisect_right(starts, t) - 1
        return i >= 0 and t < ends[i]

    def next_working(self, moment: datetime) -> datetime:
        """`moment` if it is working time, else the start of the next working range."""
        t = _epoch(moment)
        if self.spec.always_open or self.is_working(moment):
            return moment
        starts = self._index[0]
        i = bisect.bisect_right(starts, t)
        while i >= len(starts):
            assert self._years is not None
            if self._years[1] > moment.year + MAX_YEARS_AHEAD:
                raise CalendarError("The calendar has no working time ahead.")
            self._ensure(self._years[0], self._years[1] + 1)
            starts = self._index[0]
            i = bisect.bisect_right(starts, t)
        return _from_epoch(starts[i])

    def working_intervals(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The working ranges inside [start, end), clipped, in UTC."""
        a, b = _epoch(start), _epoch(end)
        if b <= a:
            return []
        if self.spec.always_open:
            return [(_from_epoch(a), _from_epoch(b))]
        self._cover(a, b)
        starts, ends, _, _ = self._index
        i = max(0, bisect.bisect_right(starts, a) - 1)
        out: list[tuple[datetime, datetime]] = []
        while i < len(starts) and starts[i] < b:
            s, e = max(a, starts[i]), min(b, ends[i])
            if s < e:
                out.append((_from_epoch(s), _from_epoch(e)))
            i += 1
        return out

    def _closed_label(self, moment: datetime) -> tuple[str, str]:
        """Why `moment` (not working time) is closed: a holiday, an exception, or the hours."""
        if self._members:
            labels = [m._closed_label(moment) for m in self._members if not m.is_working(moment)]
            for kind, label in labels:
                if kind != "outside_hours":
                    return kind, label
            return "outside_hours", "Outside working hours"
        local_day = moment.astimezone(self.tz).date()
        ranges, kind, label = self.day(local_day)
        if kind == "holiday":
            return "holiday", label
        if kind == "exception" and not ranges:
            return "exception", label
        if not ranges:
            return "outside_hours", "Non-working day"
        return "outside_hours", "Outside working hours"

    def segments(self, start: datetime, end: datetime) -> list[Segment]:
        """[start, end) cut into working time and closed time, each closed stretch saying why
        (split at local midnight where the reason changes, e.g. a weekend then a holiday)."""
        out: list[Segment] = []

        def push(s: datetime, e: datetime, kind: str, label: str) -> None:
            if e <= s:
                return
            if out and out[-1].kind == kind and out[-1].label == label and out[-1].end == s:
                out[-1] = Segment(out[-1].start, e, kind, label)
            else:
                out.append(Segment(s, e, kind, label))

        cursor = start
        for ws, we in [*self.working_intervals(start, end), (end, end)]:
            # The closed gap [cursor, ws), cut at local midnights.
            while cursor < ws:
                local = cursor.astimezone(self.tz)
                midnight = datetime.combine(local.date() + timedelta(days=1), time(0), self.tz)
                stop = min(ws, midnight.astimezone(UTC))
                kind, label = self._closed_label(cursor)
                push(cursor, stop, kind, label)
                cursor = stop
            push(max(cursor, ws), we, "working", "Working time")
            cursor = max(cursor, we)
        return out


_CACHE: dict[CalendarSpec, Calendar] = {}
_CACHE_LOCK = threading.Lock()


def compile_calendar(spec: CalendarSpec) -> Calendar:
    """The compiled calendar for `spec`, shared across callers (specs are values)."""
    found = _CACHE.get(spec)
    if found is None:
        with _CACHE_LOCK:
            found = _CACHE.get(spec)
            if found is None:
                if len(_CACHE) > 256:
                    _CACHE.clear()
                found = _CACHE[spec] = Calendar(spec)
    return found


ALWAYS_OPEN = CalendarSpec(always_open=True, week=((),) * 7, name="24x7")


def always_open() -> Calendar:
    return compile_calendar(ALWAYS_OPEN)


@dataclass
class Explanation:
    """How a due time was reached: the segments walked and the working time they added."""

    start: datetime
    due: datetime
    seconds: float
    segments: list[Segment] = field(default_factory=list)

    @cached_property
    def closed_seconds(self) -> float:
        return sum(s.seconds for s in self.segments if s.kind != "working")


def explain_add(calendar: Calendar, start: datetime, seconds: float) -> Explanation:
    due = calendar.add(start, seconds)
    return Explanation(start, due, seconds, calendar.segments(start, due))
