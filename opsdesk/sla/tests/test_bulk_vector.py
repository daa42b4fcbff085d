"""The arrays' calendar arithmetic gives what `Calendar` gives, to the microsecond: business
time between instants, the instant a number of working seconds runs out, and epoch seconds
turned into microseconds as `datetime.fromtimestamp` rounds them."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np

from opsdesk.core.calendars import OFFICE_HOURS, CalendarSpec, Exception_, compile_calendar
from opsdesk.sla.bulk_vector import CalendarArrays, binary_copy, binary_rows, epoch, from_epoch

START = datetime(2025, 1, 1, tzinfo=UTC)


def _instants(rng: random.Random, n: int) -> list[datetime]:
    return [
        START + timedelta(seconds=rng.uniform(0, 700 * 86400), microseconds=rng.randint(0, 999_999))
        for _ in range(n)
    ]


def _us(moments: list[datetime]) -> np.ndarray:
    return np.array([(m - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
                     for m in moments], dtype=np.int64)  # fmt: skip


def test_from_epoch_rounds_as_datetime_does():
    rng = random.Random(3)
    values = [rng.uniform(1.6e9, 1.9e9) for _ in range(20000)]
    values += [1.7e9 + k / 1e6 + 0.5e-6 for k in range(100)]  # halves
    expected = [
        (datetime.fromtimestamp(v, UTC) - datetime(1970, 1, 1, tzinfo=UTC))
        // timedelta(microseconds=1)
        for v in values
    ]
    assert from_epoch(np.array(values)).tolist() == expected


def test_calendar_arrays_match_the_calendar():
    rng = random.Random(5)
    specs = [
        CalendarSpec(time_zone="Africa/Johannesburg", week=OFFICE_HOURS, holiday_country="ZA"),
        CalendarSpec(
            time_zone="Europe/London",
            week=OFFICE_HOURS,
            exceptions=((date(2025, 6, 3), Exception_(((600, 720),), "Half day")),),
        ),
        CalendarSpec(always_open=True, week=((),) * 7),
    ]
    for spec in specs:
        calendar = compile_calendar(spec)
        starts = _instants(rng, 3000)
        ends = [s + timedelta(seconds=rng.uniform(0, 40 * 86400)) for s in starts]
        arrays = CalendarArrays(calendar, int(_us(starts).min()), int(_us(ends).max()))
        a, b = epoch(_us(starts)), epoch(_us(ends))
        expected = [calendar.business_seconds(s, e) for s, e in zip(starts, ends, strict=True)]
        assert arrays.business_seconds(a, b).tolist() == expected
        seconds = np.array([rng.uniform(1, 400 * 3600) for _ in starts])
        due = [calendar.add(s, float(x)) for s, x in zip(starts, seconds, strict=True)]
        assert arrays.add(a, seconds).tolist() == _us(due).tolist()


def test_binary_copy_round_trip():
    columns = [np.arange(5, dtype=np.int64) * k - 2 for k in range(3)]
    back = binary_rows(binary_copy(columns), 3)
    assert back.T.tolist() == [c.tolist() for c in columns]
