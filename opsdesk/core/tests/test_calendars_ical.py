"""iCalendar export and import of business calendars: a round trip gives the same exceptions,
importing twice changes nothing, timed events are read in the calendar's zone and what
cannot be read is skipped with a reason."""

from __future__ import annotations

from datetime import date

import icalendar
import pytest

from opsdesk.core import calendar_actions as actions
from opsdesk.core import ical
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.sla.models import Recompute

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_compiled_calendars():
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


def _calendar(cast, name, zone="Africa/Johannesburg", country="ZA"):
    return actions.create_calendar(
        acting_user=cast.admin,
        organization=cast.org_a,
        name=name,
        time_zone=zone,
        holiday_country=country,
    )


def _exceptions(calendar):
    return [(e.date, e.name, e.hours) for e in calendar.exceptions.order_by("date")]


def test_round_trip_gives_the_same_exceptions_and_is_idempotent(cast):
    source = _calendar(cast, "Source")
    for day, name, hours in [
        (date(2026, 12, 24), "Christmas Eve", [["08:00", "12:00"]]),
        (date(2026, 12, 31), "Year end", []),
        (date(2027, 1, 4), "Stock take", [["06:00", "09:00"], ["13:00", "24:00"]]),
    ]:
        actions.set_exception(
            acting_user=cast.admin, calendar=source, date=day, name=name, hours=hours
        )
    text = ical.export_ics(source, 2026, 2027).decode()
    parsed = icalendar.Calendar.from_ical(text)
    events = list(parsed.walk("VEVENT"))
    uids = [str(e["uid"]) for e in events]
    assert len(uids) == len(set(uids))
    assert parsed["X-WR-TIMEZONE"] == "Africa/Johannesburg"
    assert list(parsed.walk("VTIMEZONE"))  # timed events carry their zone
    # Stable: a second export has the same UIDs.
    again = icalendar.Calendar.from_ical(ical.export_ics(source, 2026, 2027))
    assert [str(e["uid"]) for e in again.walk("VEVENT")] == uids
    # One all-day event per holiday (observed days included) and closed day.
    summaries = {str(e["summary"]) for e in events}
    assert {"National Women's Day (observed)", "Year end", "Christmas Eve"} <= summaries

    target = _calendar(cast, "Target")
    report = ical.import_ics(acting_user=cast.admin, calendar=target, text=text)
    assert [i["date"] for i in report["created"]] == ["2026-12-24", "2026-12-31", "2027-01-04"]
    assert report["updated"] == []
    # The public holidays in the file are the target's own: skipped, saying so.
    assert {i["reason"].split(":")[0] for i in report["skipped"]} == {"Already closed"}
    assert _exceptions(target) == _exceptions(source)
    version = target.__class__.objects.get(pk=target.pk).version
    recomputes = Recompute.objects.count()

    second = ical.import_ics(acting_user=cast.admin, calendar=target, text=text)
    assert second["created"] == [] and second["updated"] == []
    assert target.__class__.objects.get(pk=target.pk).version == version
    assert Recompute.objects.count() == recomputes


def test_holidays_of_another_country_become_closed_days(cast):
    berlin = _calendar(cast, "Berlin", "Europe/Berlin", "DE")
    text = ical.export_ics(berlin, 2026, 2026).decode()
    plain = _calendar(cast, "No holidays", "Africa/Johannesburg", "")
    report = ical.import_ics(acting_user=cast.admin, calendar=plain, text=text)
    created = {i["date"]: i for i in report["created"]}
    assert created["2026-10-03"]["name"] == "German Unity Day"
    assert created["2026-10-03"]["hours"] == []


ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Test//EN
BEGIN:VEVENT
UID:a
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20261124T090000
DTEND;TZID=Europe/Berlin:20261124T130000
SUMMARY:Short day
END:VEVENT
BEGIN:VEVENT
UID:b
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20261228
DTEND;VALUE=DATE:20261231
SUMMARY:Shutdown
END:VEVENT
BEGIN:VEVENT
UID:c
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260105
RRULE:FREQ=WEEKLY
SUMMARY:Every Monday
END:VEVENT
BEGIN:VEVENT
UID:d
DTSTAMP:20260101T000000Z
DTSTART:20261201T220000Z
DTEND:20261203T020000Z
SUMMARY:Two days long
END:VEVENT
BEGIN:VEVENT
UID:e
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20261124
SUMMARY:Cancelled
STATUS:CANCELLED
END:VEVENT
BEGIN:VEVENT
UID:f
DTSTAMP:20260101T000000Z
DTSTART:20261125T080000
DTEND:20261125T100000
SUMMARY:Floating
END:VEVENT
END:VCALENDAR
"""


def test_import_reads_zones_days_and_skips_with_reasons(cast):
    calendar = _calendar(cast, "Office")
    report = ical.import_ics(acting_user=cast.admin, calendar=calendar, text=ICS)
    got = {(e.date.isoformat(), e.name): e.hours for e in calendar.exceptions.all()}
    assert got == {
        # 09:00-13:00 in Berlin (UTC+1) is 10:00-14:00 in Johannesburg (UTC+2).
        ("2026-11-24", "Short day"): [["10:00", "14:00"]],
        ("2026-11-25", "Floating"): [["08:00", "10:00"]],  # no zone: the calendar's
        ("2026-12-28", "Shutdown"): [],
        ("2026-12-29", "Shutdown"): [],
        ("2026-12-30", "Shutdown"): [],
    }
    reasons = {i["name"]: i["reason"] for i in report["skipped"]}
    assert reasons["Every Monday"].startswith("Recurring events")
    assert reasons["Two days long"].startswith("A timed event over several days")
    assert reasons["Cancelled"] == "The event is cancelled."
    assert len(report["created"]) == 5


def test_bad_files_and_permissions(cast):
    calendar = _calendar(cast, "Office")
    with pytest.raises(FieldError) as excinfo:
        ical.import_ics(acting_user=cast.admin, calendar=calendar, text="BEGIN:VCALENDAR\nX")
    assert set(excinfo.value.errors) == {"ics"}
    with pytest.raises(PermissionDenied):
        ical.import_ics(acting_user=cast.agent, calendar=calendar, text=ICS)
    with pytest.raises(FieldError) as excinfo:
        ical.export_ics(calendar, 2026, 2040)
    assert set(excinfo.value.errors) == {"to_year"}
