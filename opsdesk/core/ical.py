"""Business calendars as iCalendar (RFC 5545), both ways.

Export: one all-day event per public holiday and per closed exception, one timed event per
working range of an exception with other hours (in the calendar's time zone, with its
VTIMEZONE), `X-WR-TIMEZONE`, and UIDs made of the calendar and the date, so re-exporting
gives the same UIDs and a subscribed client updates events instead of duplicating them.

Import: all-day events become closed exceptions (one per day they cover), timed events
become exceptions with those hours on their local date in the calendar's time zone (several
events on one date make several ranges). Holidays the calendar already closes are skipped,
as are recurring, cancelled, multi-day timed and malformed events, each with its reason;
importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from opsdesk.core.actions import require
from opsdesk.core.calendar_actions import MAX_YEAR, MIN_YEAR, import_exceptions
from opsdesk.core.calendars import format_hhmm, parse_ranges
from opsdesk.core.errors import FieldError
from opsdesk.core.models import BusinessCalendar
from opsdesk.core.permissions import Action

PRODID = "-//OpsDesk//Business calendars//EN"
#: The most years one export covers, and the most events one import reads.
MAX_EXPORT_YEARS = 10
MAX_IMPORT_EVENTS = 5000
#: The longest all-day event imported (days); longer ones are skipped.
MAX_ALL_DAY_SPAN = 62


def _uid(calendar: BusinessCalendar, day: date, kind: str, n: int | None = None) -> str:
    suffix = f"-{n}" if n is not None else ""
    return f"{day:%Y%m%d}-{kind}{suffix}-calendar-{calendar.pk}@opsdesk"


def holidays_between(calendar: BusinessCalendar, first: int, last: int) -> list[tuple[date, str]]:
    """The public holidays (observed days included) of the calendar's own country."""
    compiled = calendar.compiled()
    found: list[tuple[date, str]] = []
    for year in range(first, last + 1):
        found.extend(sorted(compiled.holidays_in(year).items()))
    return found


def export_ics(calendar: BusinessCalendar, from_year: int, to_year: int) -> bytes:
    """The calendar's holidays and exceptions of the years `from_year` to `to_year`."""
    import icalendar

    if to_year < from_year:
        raise FieldError({"to_year": "The last year must not be before the first."})
    if to_year - from_year >= MAX_EXPORT_YEARS:
        raise FieldError({"to_year": f"Export at most {MAX_EXPORT_YEARS} years at once."})
    tz = ZoneInfo(calendar.time_zone)
    stamp = calendar.updated_at or datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", calendar.name)
    cal.add("x-wr-timezone", calendar.time_zone)
    if calendar.description:
        cal.add("x-wr-caldesc", calendar.description)
    exceptions = {
        e.date: e
        for e in calendar.exceptions.filter(
            date__gte=date(from_year, 1, 1), date__lt=date(to_year + 1, 1, 1)
        )
    }

    def all_day(day: date, summary: str, uid: str, category: str) -> None:
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", day)
        event.add("dtend", day + timedelta(days=1))
        event.add("summary", summary)
        event.add("categories", [category])
        event.add("transp", "TRANSPARENT")
        cal.add_component(event)

    for day, name in holidays_between(calendar, from_year, to_year):
        if day not in exceptions:
            all_day(day, name, _uid(calendar, day, "holiday"), "Public holiday")
    timed = False
    for day, exception in sorted(exceptions.items()):
        hours = list(exception.hours or [])
        if not hours:
            all_day(day, exception.name, _uid(calendar, day, "closed"), "Closed")
            continue
        for n, (start_min, end_min) in enumerate(parse_ranges(hours)):
            event = icalendar.Event()
            event.add("uid", _uid(calendar, day, "hours", n))
            event.add("dtstamp", stamp)
            event.add("dtstart", _local(day, start_min, tz))
            event.add("dtend", _local(day, end_min, tz))
            event.add("summary", exception.name)
            event.add("categories", ["Working hours"])
            cal.add_component(event)
            timed = True
    if timed:
        cal.add_missing_timezones(
            first_date=date(from_year, 1, 1), last_date=date(to_year + 1, 12, 31)
        )
    return cal.to_ical()


def _local(day: date, minutes: int, tz: ZoneInfo) -> datetime:
    if minutes >= 1440:
        day, minutes = day + timedelta(days=1), minutes - 1440
    return datetime.combine(day, time(minutes // 60, minutes % 60), tz)


@dataclass
class _Parsed:
    closed: dict[date, str] = field(default_factory=dict)
    ranges: dict[date, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    names: dict[date, str] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def _text(value: Any) -> str:
    return str(value or "").strip()[:100]


def _skip(parsed: _Parsed, day: Any, name: str, reason: str) -> None:
    parsed.skipped.append(
        {
            "date": day.isoformat() if isinstance(day, date) else "",
            "name": name,
            "hours": [],
            "reason": reason,
        }
    )


def _read(calendar: BusinessCalendar, text: str) -> _Parsed:
    import icalendar

    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # icalendar raises ValueError and friends on bad input
        raise FieldError({"ics": f"Not an iCalendar file: {exc}"[:300]}) from None
    if not isinstance(cal, icalendar.Calendar):
        raise FieldError({"ics": "Not an iCalendar file (no VCALENDAR)."})
    events = list(cal.walk("VEVENT"))
    if len(events) > MAX_IMPORT_EVENTS:
        raise FieldError({"ics": f"At most {MAX_IMPORT_EVENTS} events per import."})
    tz = ZoneInfo(calendar.time_zone)
    parsed = _Parsed()
    for event in events:
        name = _text(event.get("summary")) or "Imported"
        try:
            start = event.decoded("dtstart")
        except Exception:
            _skip(parsed, None, name, "No readable start (DTSTART).")
            continue
        try:
            end = event.decoded("dtend") if event.get("dtend") is not None else None
            if end is None and event.get("duration") is not None:
                end = start + event.decoded("duration")
        except Exception:
            _skip(parsed, start, name, "No readable end (DTEND or DURATION).")
            continue
        if _text(event.get("status")).upper() == "CANCELLED":
            _skip(parsed, start, name, "The event is cancelled.")
            continue
        if event.get("rrule") is not None or event.get("rdate") is not None:
            _skip(parsed, start, name, "Recurring events are not imported; list each date.")
            continue
        if isinstance(start, datetime):
            _read_timed(parsed, tz, name, start, end)
        elif isinstance(start, date):
            _read_all_day(parsed, name, start, end)
        else:
            _skip(parsed, None, name, "No readable start (DTSTART).")
    return parsed


def _in_range(day: date) -> bool:
    return MIN_YEAR <= day.year <= MAX_YEAR


def _read_all_day(parsed: _Parsed, name: str, start: date, end: Any) -> None:
    if not isinstance(end, date) or isinstance(end, datetime) or end <= start:
        end = start + timedelta(days=1)
    if (end - start).days > MAX_ALL_DAY_SPAN:
        _skip(parsed, start, name, f"Longer than {MAX_ALL_DAY_SPAN} days.")
        return
    if not _in_range(start):
        _skip(parsed, start, name, f"Outside the years {MIN_YEAR}-{MAX_YEAR}.")
        return
    day = start
    while day < end:
        parsed.closed[day] = name
        day += timedelta(days=1)


def _read_timed(parsed: _Parsed, tz: ZoneInfo, name: str, start: datetime, end: Any) -> None:
    if not isinstance(end, datetime):
        _skip(parsed, start.date(), name, "A timed event needs an end time.")
        return
    # Floating times (no zone) are the calendar's local times.
    start = start.replace(tzinfo=tz) if start.tzinfo is None else start.astimezone(tz)
    end = end.replace(tzinfo=tz) if end.tzinfo is None else end.astimezone(tz)
    day = start.date()
    if not _in_range(day):
        _skip(parsed, day, name, f"Outside the years {MIN_YEAR}-{MAX_YEAR}.")
        return
    if end <= start:
        _skip(parsed, day, name, "The event ends before it starts.")
        return
    if end.date() == day:
        end_min = end.hour * 60 + end.minute
    elif end.date() == day + timedelta(days=1) and end.time() == time(0):
        end_min = 1440
    else:
        _skip(parsed, day, name, "A timed event over several days is not working hours.")
        return
    if start.second or end.second:
        _skip(parsed, day, name, "Working hours are whole minutes.")
        return
    parsed.ranges[day].append((start.hour * 60 + start.minute, end_min))
    parsed.names.setdefault(day, name)


def import_ics(*, acting_user: Any, calendar: BusinessCalendar, text: str) -> dict[str, Any]:
    """Read `text` (an .ics file) into the calendar's exceptions; see the module docstring."""
    require(acting_user, BusinessCalendar, Action.CHANGE, calendar.organization_id)
    parsed = _read(calendar, text)
    compiled = calendar.compiled()
    items: list[tuple[date, str, list[list[str]]]] = []
    skipped = list(parsed.skipped)
    existing = set(calendar.exceptions.values_list("date", flat=True))
    for day, name in sorted(parsed.closed.items()):
        if day in parsed.ranges:
            _skip(parsed, day, name, "Both closed all day and open at times: kept the hours.")
            skipped.append(parsed.skipped[-1])
            continue
        holiday = compiled.holidays_in(day.year).get(day)
        if holiday and day not in existing:
            skipped.append(
                {
                    "date": day.isoformat(),
                    "name": name,
                    "hours": [],
                    "reason": f"Already closed: public holiday {holiday}.",
                }
            )
            continue
        items.append((day, name, []))
    for day, ranges in sorted(parsed.ranges.items()):
        hours = [[format_hhmm(s), format_hhmm(e)] for s, e in sorted(ranges)]
        items.append((day, parsed.names[day], hours))
    items.sort(key=lambda item: item[0])
    report = import_exceptions(acting_user=acting_user, calendar=calendar, items=items)
    report["skipped"] = skipped + report["skipped"]
    return report
