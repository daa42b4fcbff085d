"""The business-time engine (`opsdesk.core.calendars`): properties that hold for generated
calendars (weekly hours, time zones with daylight-saving changes, public holidays,
exceptions, unions and intersections), and the worked examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opsdesk.core.calendars import (
    CalendarError,
    CalendarSpec,
    Exception_,
    compile_calendar,
    explain_add,
    parse_week,
)

JHB = ZoneInfo("Africa/Johannesburg")
BERLIN = ZoneInfo("Europe/Berlin")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/Sao_Paulo",
    "Africa/Johannesburg",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute daylight-saving shift
    "Asia/Kolkata",
]
#: Instants near the 2026 daylight-saving changes of the zones above.
DST_MOMENTS = [
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # Europe springs forward
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),  # Europe falls back
    datetime(2026, 3, 8, 7, 0, tzinfo=UTC),  # New York springs forward
    datetime(2026, 11, 1, 6, 0, tzinfo=UTC),  # New York falls back
    datetime(2026, 4, 4, 15, 0, tzinfo=UTC),  # Lord Howe
    datetime(2018, 11, 4, 3, 0, tzinfo=UTC),  # Sao Paulo's last daylight-saving start
]

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@st.composite
def day_ranges(draw, allow_empty: bool = True) -> tuple[tuple[int, int], ...]:
    n = draw(st.integers(0 if allow_empty else 1, 3))
    points = sorted(draw(st.sets(st.integers(0, 96), min_size=2 * n, max_size=2 * n)))
    return tuple((points[i] * 15, points[i + 1] * 15) for i in range(0, len(points), 2))


@st.composite
def specs(draw, depth: int = 0) -> CalendarSpec:
    if depth == 0 and draw(st.integers(0, 5)) == 0:
        members = tuple(draw(st.lists(specs(depth=1), min_size=2, max_size=3)))
        return CalendarSpec(
            time_zone=draw(st.sampled_from(ZONES)),
            week=((),) * 7,
            combine=draw(st.sampled_from(["union", "intersection"])),
            members=members,
        )
    week = tuple(draw(day_ranges()) for _ in range(7))
    assume(any(week))
    exceptions = draw(
        st.dictionaries(
            st.dates(date(2025, 12, 1), date(2027, 3, 1)),
            st.builds(Exception_, day_ranges(), st.just("Exception")),
            max_size=6,
        )
    )
    return CalendarSpec(
        time_zone=draw(st.sampled_from(ZONES)),
        week=week,
        holiday_country=draw(st.sampled_from(["", "ZA", "DE", "BR", "US"])),
        exceptions=tuple(sorted(exceptions.items())),
    )


moments = st.one_of(
    st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(DST_MOMENTS),
        st.integers(-48 * 60, 48 * 60),
    ),
)
durations = st.floats(0, 120 * 3600, allow_nan=False).map(lambda s: round(s))


def _compiled(spec: CalendarSpec):
    calendar = compile_calendar(spec)
    # Enough weekly working time after the generated exceptions for the longest duration
    # drawn to run out within months (an intersection may have next to none).
    later = (datetime(2027, 3, 2, tzinfo=UTC), datetime(2027, 12, 31, tzinfo=UTC))
    assume(calendar.business_seconds(*later) > 300 * 3600)
    return calendar


def close(a: float, b: float) -> bool:
    return abs(a - b) < 1e-3


@PROPERTY_SETTINGS
@given(specs(), moments, durations)
def test_adding_then_measuring_gives_back_the_duration(spec, start, seconds):
    calendar = _compiled(spec)
    due = calendar.add(start, seconds)
    assert due >= start
    assert close(calendar.business_seconds(start, due), seconds)


@PROPERTY_SETTINGS
@given(specs(), moments, durations, st.floats(0, 1), st.integers(0, 96 * 3600))
def test_a_pause_never_brings_the_deadline_forward(spec, start, seconds, share, gap):
    calendar = _compiled(spec)
    straight = calendar.add(start, seconds)
    first = round(seconds * share)
    paused_at = calendar.add(start, first)
    resumed = paused_at + timedelta(seconds=gap)
    assert calendar.add(resumed, seconds - first) >= straight - timedelta(milliseconds=1)


@PROPERTY_SETTINGS
@given(specs(), moments, st.integers(0, 30 * 86400), st.integers(0, 30 * 86400))
def test_business_seconds_add_up_over_adjacent_intervals(spec, a, first, second):
    calendar = _compiled(spec)
    b = a + timedelta(seconds=first)
    c = b + timedelta(seconds=second)
    total = calendar.business_seconds(a, c)
    assert close(calendar.business_seconds(a, b) + calendar.business_seconds(b, c), total)
    assert 0 <= total <= (c - a).total_seconds() + 1e-3
    assert close(calendar.business_seconds(c, a), -total)


@PROPERTY_SETTINGS
@given(specs(), moments, st.integers(0, 10 * 86400), durations, durations)
def test_adding_is_monotonic_in_start_and_duration(spec, start, later, s1, s2):
    calendar = _compiled(spec)
    small, big = sorted((s1, s2))
    assert calendar.add(start, small) <= calendar.add(start, big)
    assert calendar.add(start, small) <= calendar.add(start + timedelta(seconds=later), small)


@PROPERTY_SETTINGS
@given(specs(), moments, durations)
def test_a_due_time_ends_working_time(spec, start, seconds):
    calendar = _compiled(spec)
    assume(seconds > 0)
    due = calendar.add(start, seconds)
    # The minute before the due time (or the time since the start) held working time.
    before = max(start, due - timedelta(minutes=1))
    assert calendar.business_seconds(before, due) > 0
    segments = explain_add(calendar, start, seconds).segments
    assert segments[-1].kind == "working" and segments[-1].end == due
    assert close(sum(s.seconds for s in segments if s.kind == "working"), seconds)


@PROPERTY_SETTINGS
@given(specs(), moments)
def test_next_working_is_working_and_nothing_is_skipped(spec, moment):
    calendar = _compiled(spec)
    found = calendar.next_working(moment)
    assert found >= moment
    assert calendar.is_working(found)
    assert calendar.business_seconds(moment, found) == 0


# --- worked examples ----------------------------------------------------------------------

ZA_OFFICE = CalendarSpec(time_zone="Africa/Johannesburg", holiday_country="ZA")
P2_8H = 8 * 3600


def test_friday_afternoon_p2_is_due_monday_14h():
    due = compile_calendar(ZA_OFFICE).add(datetime(2026, 11, 20, 15, 0, tzinfo=JHB), P2_8H)
    assert due.astimezone(JHB) == datetime(2026, 11, 23, 14, 0, tzinfo=JHB)


def test_thursday_before_easter_is_due_tuesday_14h():
    calendar = compile_calendar(ZA_OFFICE)
    start = datetime(2026, 4, 2, 15, 0, tzinfo=JHB)
    explained = explain_add(calendar, start, P2_8H)
    assert explained.due.astimezone(JHB) == datetime(2026, 4, 7, 14, 0, tzinfo=JHB)
    labels = [s.label for s in explained.segments if s.kind == "holiday"]
    assert labels == ["Good Friday", "Family Day"]


def test_a_sunday_holiday_closes_the_monday_in_south_africa():
    calendar = compile_calendar(ZA_OFFICE)
    monday = datetime(2026, 8, 10, 0, 0, tzinfo=JHB)
    assert calendar.business_seconds(monday, monday + timedelta(days=1)) == 0
    assert not calendar.is_working(monday.replace(hour=10))
    segments = calendar.segments(monday, monday + timedelta(days=1))
    assert [(s.kind, s.label) for s in segments] == [("holiday", "National Women's Day (observed)")]
    # Nine hours on the Tuesday.
    tuesday = monday + timedelta(days=1)
    assert calendar.business_seconds(tuesday, tuesday + timedelta(days=1)) == 9 * 3600


def _one_day(zone: str, day: date, start: str, end: str) -> CalendarSpec:
    return CalendarSpec(
        time_zone=zone,
        week=parse_week({}),
        exceptions=((day, Exception_(parse_week({"mon": [[start, end]]})[0], "Night")),),
    )


@pytest.mark.parametrize(
    ("zone", "day", "start", "end", "hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), "01:00", "04:00", 2),  # springs forward
        ("Europe/Berlin", date(2026, 10, 25), "01:00", "04:00", 4),  # falls back
        ("Europe/Berlin", date(2026, 3, 30), "01:00", "04:00", 3),
        ("America/Sao_Paulo", date(2018, 11, 4), "00:00", "08:00", 7),  # 00:00 skipped to 01:00
        ("America/Sao_Paulo", date(2026, 11, 1), "00:00", "08:00", 8),  # no DST since 2019
    ],
)
def test_a_range_is_as_long_as_the_wall_clock_says(zone, day, start, end, hours):
    calendar = compile_calendar(_one_day(zone, day, start, end))
    tz = ZoneInfo(zone)
    midnight = datetime.combine(day, datetime.min.time(), tz)
    assert calendar.business_seconds(
        midnight - timedelta(hours=2), midnight + timedelta(days=1)
    ) == (hours * 3600)


def test_union_and_intersection_of_berlin_and_sao_paulo():
    berlin = CalendarSpec(time_zone="Europe/Berlin", week=parse_week({"mon": [["09:00", "17:00"]]}))
    sao_paulo = CalendarSpec(
        time_zone="America/Sao_Paulo", week=parse_week({"mon": [["09:00", "17:00"]]})
    )
    monday = datetime(2026, 11, 16, tzinfo=UTC)
    day = (monday, monday + timedelta(days=1))
    union = compile_calendar(CalendarSpec(combine="union", members=(berlin, sao_paulo)))
    both = compile_calendar(CalendarSpec(combine="intersection", members=(berlin, sao_paulo)))
    # Berlin 08:00-16:00 UTC, Sao Paulo 12:00-20:00 UTC.
    assert union.business_seconds(*day) == 12 * 3600
    assert both.business_seconds(*day) == 4 * 3600
    assert both.add(monday, 3600) == datetime(2026, 11, 16, 13, 0, tzinfo=UTC)


def test_an_intersection_across_new_year_in_different_zones():
    """Members whose local years start at different instants still overlap around New Year."""
    all_day = parse_week({"mon": [["00:00", "24:00"]]})[0]
    auckland = CalendarSpec(
        time_zone="Pacific/Auckland",
        week=((),) * 7,
        exceptions=((date(2027, 1, 1), Exception_(all_day, "Open")),),
    )
    los_angeles = CalendarSpec(
        time_zone="America/Los_Angeles",
        week=((),) * 7,
        exceptions=((date(2026, 12, 31), Exception_(all_day, "Open")),),
    )
    both = compile_calendar(CalendarSpec(combine="intersection", members=(auckland, los_angeles)))
    # Auckland's 1 January is 31 Dec 11:00 - 1 Jan 11:00 UTC; LA's 31 December is
    # 31 Dec 08:00 - 1 Jan 08:00 UTC: 21 hours in common.
    window = (datetime(2026, 12, 30, tzinfo=UTC), datetime(2027, 1, 3, tzinfo=UTC))
    assert both.business_seconds(*window) == 21 * 3600


def test_exceptions_override_holidays_and_weekly_hours():
    spec = CalendarSpec(
        time_zone="Africa/Johannesburg",
        holiday_country="ZA",
        exceptions=(
            (date(2026, 12, 16), Exception_(parse_week({"mon": [["08:00", "12:00"]]})[0], "Half")),
            (date(2026, 12, 17), Exception_((), "Company day off")),
        ),
    )
    calendar = compile_calendar(spec)
    wed = datetime(2026, 12, 16, tzinfo=JHB)  # Day of Reconciliation, but open 08-12
    assert calendar.business_seconds(wed, wed + timedelta(days=2)) == 4 * 3600
    kinds = {(s.kind, s.label) for s in calendar.segments(wed, wed + timedelta(days=2))}
    assert ("exception", "Company day off") in kinds


def test_always_open_counts_every_second_and_no_hours_is_an_error():
    always = compile_calendar(CalendarSpec(always_open=True))
    start = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert always.add(start, 3600) == start + timedelta(hours=1)
    never = compile_calendar(CalendarSpec(week=((),) * 7))
    with pytest.raises(CalendarError):
        never.add(start, 60)
    with pytest.raises(CalendarError):
        never.add(start.replace(tzinfo=None), 60)
    assert SAO_PAULO  # the zone is installed
