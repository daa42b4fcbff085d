"""Business calendars in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and
the bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_C = "/api/v1/calendars/{calendar_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/calendars"): LIST,
    ("POST", "/api/v1/calendars"): CREATE,
    ("GET", _C): OBJECT,
    ("PATCH", _C): OBJECT,
    ("DELETE", _C): OBJECT,
    ("GET", f"{_C}/exceptions"): OBJECT,
    ("POST", f"{_C}/exceptions"): OBJECT,
    ("DELETE", f"{_C}/exceptions/{{exception_id}}"): OBJECT,
    ("GET", f"{_C}/ical"): OBJECT,
    ("POST", f"{_C}/ical"): OBJECT,
    ("GET", f"{_C}/preview"): OBJECT,
    ("GET", f"{_C}/holidays"): OBJECT,
}


def _calendar(org: Any, user: Any, name: str) -> Any:
    from opsdesk.core.models import BusinessCalendar

    found = BusinessCalendar.objects.filter(organization=org, name=name).first()
    if found is not None:
        return found
    from opsdesk.core.calendar_actions import create_calendar

    return create_calendar(
        acting_user=user,
        organization=org,
        name=name,
        time_zone="Africa/Johannesburg",
        holiday_country="ZA",
    )


def _exception(calendar: Any, user: Any) -> int:
    found = calendar.exceptions.first()
    if found is not None:
        return found.pk
    from opsdesk.core.calendar_actions import set_exception

    row, _ = set_exception(
        acting_user=user, calendar=calendar, date=date(2026, 12, 24), name="Closed", hours=[]
    )
    return row.pk


def _b_calendar(c: Any) -> int:
    return _calendar(c.org_b, c.admin_b, "B's hours").pk


def _b_exception(c: Any) -> int:
    return _exception(_calendar(c.org_b, c.admin_b, "B's hours"), c.admin_b)


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "calendar_id": _b_calendar,
    "exception_id": _b_exception,
}

_ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nEND:VCALENDAR\r\n"

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/calendars"): lambda c: {"organization_id": c.org_b.pk, "name": "Intruder"},
    ("PATCH", _C): lambda c: {"name": "hijacked"},
    ("POST", f"{_C}/exceptions"): lambda c: {"date": "2026-12-31", "name": "hijacked"},
    ("POST", f"{_C}/ical"): lambda c: {"ics": _ICS},
}

CREATE_IN_B: dict[tuple[str, str], int] = {("POST", "/api/v1/calendars"): 404}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/calendars": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    _calendar(c.org_a, c.admin, "A's hours")
    _b_calendar(c)


LIST_DATA: list[Callable[[Any], None]] = [_rows]


REAL_IDS: dict[str, Callable[[Any], int]] = {
    "calendar_id": lambda c: _calendar(c.org_a, c.admin, "Fuzzed hours").pk,
    "exception_id": lambda c: _exception(_calendar(c.org_a, c.admin, "Fuzzed hours"), c.admin),
}
