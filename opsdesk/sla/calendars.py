"""Which calendar a clock runs on, and compiled calendars cached by (id, version).

A definition that names a calendar uses it. Otherwise the ticket's country decides (the
country of its CI, else of its service) if the organisation has a calendar for that
country, else the organisation's default calendar, else 24x7.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from opsdesk.core.calendars import Calendar, always_open
from opsdesk.core.models import BusinessCalendar

_COMPILED: dict[tuple[Any, ...], Calendar] = {}
_LOCK = threading.Lock()


def compiled(calendar: BusinessCalendar) -> Calendar:
    """The compiled form of a stored calendar; rebuilt when its version changes."""
    # created_at/updated_at too: an id can be handed out again (SQLite after a rollback).
    key = (calendar.pk, calendar.version, calendar.created_at, calendar.updated_at)
    found = _COMPILED.get(key)
    if found is None:
        found = calendar.compiled()
        with _LOCK:
            if len(_COMPILED) > 512:
                _COMPILED.clear()
            _COMPILED[key] = found
    return found


def compiled_by_id(calendar_id: int | None) -> Calendar:
    """The compiled calendar with this id (one query for its version); None is 24x7."""
    if calendar_id is None:
        return always_open()
    stored = BusinessCalendar.objects.filter(pk=calendar_id).first()
    return compiled(stored) if stored is not None else always_open()


def calendar_for_clock(clock: Any) -> Calendar:
    return compiled_by_id(clock.calendar_id)


@dataclass
class OrgCalendars:
    """An organisation's calendars, loaded once for a batch of clocks."""

    by_id: dict[int, BusinessCalendar] = field(default_factory=dict)
    by_country: dict[str, BusinessCalendar] = field(default_factory=dict)
    default: BusinessCalendar | None = None

    @classmethod
    def load(cls, organization_id: int) -> OrgCalendars:
        found = cls()
        for cal in BusinessCalendar.objects.filter(organization_id=organization_id):
            found.by_id[cal.pk] = cal
            if cal.country and cal.country not in found.by_country:
                found.by_country[cal.country] = cal
            if cal.is_default and found.default is None:
                found.default = cal
        return found

    def choose(self, calendar_id: int | None, country: str = "") -> BusinessCalendar | None:
        """The stored calendar a clock uses (None: 24x7)."""
        if calendar_id is not None and calendar_id in self.by_id:
            return self.by_id[calendar_id]
        if country and country in self.by_country:
            return self.by_country[country]
        return self.default

    def compiled(self, calendar: BusinessCalendar | None) -> Calendar:
        return compiled(calendar) if calendar is not None else always_open()
