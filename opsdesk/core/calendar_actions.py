"""Every write on business calendars and their exceptions.

Each action is atomic, checks permission (admins of the organisation), validates with errors
that name the field and is audited (`acting_as`). Every change bumps the calendar's version
(and the version of every calendar that includes it, directly or through another), because
compiled calendars are cached by (id, version), and then recomputes the organisation's open
service-level clocks, recording which due times moved and why
(`opsdesk.sla.recompute.recompute_open`).
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import date
from functools import cache
from typing import Any

from django.db import transaction

from opsdesk.core.actions import require, save_validated
from opsdesk.core.calendars import CalendarError, parse_ranges, parse_week, week_as_json
from opsdesk.core.context import acting_as
from opsdesk.core.countries import COUNTRY_CODES
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import BusinessCalendar, CalendarException, CombineMode, Organization
from opsdesk.core.permissions import Action

#: Fields `create_calendar` and `update_calendar` accept (members go as `members`).
CALENDAR_FIELDS = (
    "name",
    "description",
    "time_zone",
    "always_open",
    "working_hours",
    "holiday_country",
    "holiday_subdivision",
    "combine_mode",
    "country",
    "is_default",
)
#: Exception dates outside these years are refused (nobody plans further; the engine's
#: yearly index stays small).
MIN_YEAR, MAX_YEAR = 1970, 2200


@cache
def holiday_countries() -> dict[str, tuple[str, ...]]:
    """Countries the `holidays` package knows (ISO alpha-2) and their subdivisions."""
    import holidays

    return {
        code: tuple(subdivisions)
        for code, subdivisions in holidays.list_supported_countries().items()
        if len(code) == 2
    }


@cache
def time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_calendar(calendar: BusinessCalendar, members: list[BusinessCalendar]) -> None:
    errors: dict[str, str] = {}
    if not (calendar.name or "").strip():
        errors["name"] = "A name is required."
    if calendar.time_zone not in time_zones():
        errors["time_zone"] = f"{calendar.time_zone!r} is not an IANA time zone (Europe/Berlin)."
    if not isinstance(calendar.working_hours, dict):
        errors["working_hours"] = 'Working hours are {"mon": [["08:00", "17:00"]], ...}.'
    else:
        try:
            calendar.working_hours = week_as_json(parse_week(calendar.working_hours))
        except CalendarError as exc:
            errors["working_hours"] = str(exc)
    country = calendar.holiday_country
    subdivision = calendar.holiday_subdivision
    if country and country not in holiday_countries():
        errors["holiday_country"] = f"{country!r} is not a country with known public holidays."
    elif subdivision and not country:
        errors["holiday_subdivision"] = "A subdivision needs a holiday country."
    elif subdivision and subdivision not in holiday_countries()[country]:
        known = ", ".join(holiday_countries()[country]) or "none"
        errors["holiday_subdivision"] = (
            f"{subdivision!r} is not a subdivision of {country}; known: {known}."
        )
    if calendar.country and calendar.country not in COUNTRY_CODES:
        errors["country"] = f"{calendar.country!r} is not an ISO 3166-1 alpha-2 country code."
    if calendar.combine_mode not in CombineMode.values:
        errors["combine_mode"] = "One of: '' (not combined), 'union', 'intersection'."
    elif calendar.combine_mode and not members:
        errors["member_ids"] = "A combined calendar needs at least one member calendar."
    elif members and not calendar.combine_mode:
        errors["member_ids"] = "Only a combined calendar (union or intersection) has members."
    elif members:
        foreign = [m.name for m in members if m.organization_id != calendar.organization_id]
        if foreign:
            errors["member_ids"] = f"Of another organisation: {', '.join(foreign)}."
        elif calendar.pk and _reaches(members, calendar.pk):
            errors["member_ids"] = f"{calendar.name} would include itself (a cycle)."
    if calendar.combine_mode and calendar.pk and calendar.exceptions.exists():
        errors["combine_mode"] = (
            "A combined calendar takes its time from its members: remove its exceptions first "
            "and put them on the members."
        )
    if errors:
        raise FieldError(errors)


def _reaches(members: Iterable[BusinessCalendar], target: int) -> bool:
    """True if `target` is among `members` or the members of their members."""
    seen: set[int] = set()
    todo = [m.pk for m in members]
    while todo:
        pk = todo.pop()
        if pk == target:
            return True
        if pk in seen:
            continue
        seen.add(pk)
        todo.extend(
            BusinessCalendar.members.through.objects.filter(
                from_businesscalendar_id=pk
            ).values_list("to_businesscalendar_id", flat=True)
        )
    return False


def _including(calendar: BusinessCalendar) -> list[BusinessCalendar]:
    """Calendars that include `calendar`, directly or through another."""
    through = BusinessCalendar.members.through.objects
    found: dict[int, None] = {}
    todo = [calendar.pk]
    while todo:
        pk = todo.pop()
        for parent in through.filter(to_businesscalendar_id=pk).values_list(
            "from_businesscalendar_id", flat=True
        ):
            if parent not in found and parent != calendar.pk:
                found[parent] = None
                todo.append(parent)
    return list(BusinessCalendar.objects.filter(pk__in=list(found)).order_by("pk"))


def _clear_other_defaults(calendar: BusinessCalendar) -> list[str]:
    cleared = []
    others = BusinessCalendar.objects.filter(
        organization_id=calendar.organization_id, is_default=True
    ).exclude(pk=calendar.pk)
    for other in others:
        other.is_default = False
        other.version += 1
        other.save()
        cleared.append(other.name)
    return cleared


def changed(calendar: BusinessCalendar, *, acting_user: Any, what: str, bump: bool = True) -> Any:
    """After a change: bump the versions (the calendar unless already done, and every
    calendar that includes it), then recompute the organisation's open clocks."""
    from opsdesk.sla.recompute import recompute_open

    with acting_as(acting_user):
        if bump:
            fresh = _locked(calendar)
            fresh.version += 1
            fresh.save()
            calendar.version = fresh.version
        for parent in _including(calendar):
            parent.version += 1
            parent.save()
    return recompute_open(
        organization_id=calendar.organization_id,
        reason=f"Calendar '{calendar.name}' changed: {what}"[:300],
        actor=acting_user,
        obj=calendar,
    )


def _locked(calendar: BusinessCalendar) -> BusinessCalendar:
    """The calendar as stored, locked for this transaction (callers may hold a stale copy)."""
    return BusinessCalendar.objects.select_for_update().get(pk=calendar.pk)


def _members(organization_id: int, members: Iterable[BusinessCalendar] | None) -> list[Any]:
    return list(dict.fromkeys(members or []))


@transaction.atomic
def create_calendar(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    members: Iterable[BusinessCalendar] = (),
    **fields: Any,
) -> BusinessCalendar:
    """A new calendar; defaults to Monday-Friday 08:00-17:00 in UTC."""
    require(acting_user, BusinessCalendar, Action.ADD, organization.pk)
    unknown = set(fields) - set(CALENDAR_FIELDS)
    if unknown:
        raise FieldError({n: "This field cannot be set." for n in sorted(unknown)})
    member_list = _members(organization.pk, members)
    calendar = BusinessCalendar(organization=organization, name=(name or "").strip(), **fields)
    _normalise(calendar)
    _check_calendar(calendar, member_list)
    with acting_as(acting_user):
        save_validated(calendar)
        if member_list:
            calendar.members.set(member_list)
        cleared = _clear_other_defaults(calendar) if calendar.is_default else []
    what = "created" + (f" as the default (instead of {', '.join(cleared)})" if cleared else "")
    changed(calendar, acting_user=acting_user, what=what, bump=False)
    return calendar


def _normalise(calendar: BusinessCalendar) -> None:
    calendar.holiday_country = (calendar.holiday_country or "").strip().upper()
    calendar.holiday_subdivision = (calendar.holiday_subdivision or "").strip().upper()
    if calendar.holiday_country and calendar.holiday_subdivision:
        # Some subdivisions are not upper-case codes (DE "Augsburg"): match case-insensitively.
        known = holiday_countries().get(calendar.holiday_country, ())
        by_upper = {s.upper(): s for s in known}
        calendar.holiday_subdivision = by_upper.get(
            calendar.holiday_subdivision, calendar.holiday_subdivision
        )
    calendar.country = (calendar.country or "").strip().upper()
    calendar.time_zone = (calendar.time_zone or "").strip()
    calendar.combine_mode = calendar.combine_mode or ""
    if calendar.working_hours is None:
        calendar.working_hours = {}


def _describe(before: dict[str, Any], after: dict[str, Any]) -> str:
    labels = {
        "time_zone": "time zone",
        "always_open": "24x7",
        "working_hours": "working hours",
        "holiday_country": "holiday country",
        "holiday_subdivision": "holiday subdivision",
        "combine_mode": "combination",
        "is_default": "default",
        "members": "members",
    }
    parts = []
    for key, label in labels.items():
        if before.get(key) != after.get(key):
            if key in ("working_hours", "members"):
                parts.append(f"{label} changed")
            else:
                parts.append(f"{label} {before.get(key)!r} -> {after.get(key)!r}")
    return "; ".join(parts) or "details edited"


@transaction.atomic
def update_calendar(
    *,
    acting_user: Any,
    calendar: BusinessCalendar,
    members: Iterable[BusinessCalendar] | None = None,
    **changes: Any,
) -> BusinessCalendar:
    """Change a calendar; `members` (if given) replaces the member list."""
    require(acting_user, BusinessCalendar, Action.CHANGE, calendar.organization_id)
    unknown = set(changes) - set(CALENDAR_FIELDS)
    if unknown:
        raise FieldError({n: "This field cannot be changed." for n in sorted(unknown)})
    calendar = _locked(calendar)
    current = list(calendar.members.order_by("pk"))
    member_list = current if members is None else _members(calendar.organization_id, members)
    before = {f: getattr(calendar, f) for f in CALENDAR_FIELDS}
    before["members"] = [m.pk for m in current]
    for name, value in changes.items():
        setattr(calendar, name, value)
    _normalise(calendar)
    if not calendar.combine_mode and members is None:
        member_list = []
    _check_calendar(calendar, member_list)
    after = {f: getattr(calendar, f) for f in CALENDAR_FIELDS}
    after["members"] = sorted(m.pk for m in member_list)
    if after == {**before, "members": sorted(before["members"])}:
        return calendar
    with acting_as(acting_user):
        calendar.version += 1
        save_validated(calendar)
        if after["members"] != sorted(before["members"]):
            calendar.members.set(member_list)
        if calendar.is_default:
            _clear_other_defaults(calendar)
    changed(calendar, acting_user=acting_user, what=_describe(before, after), bump=False)
    return calendar


@transaction.atomic
def delete_calendar(*, acting_user: Any, calendar: BusinessCalendar) -> None:
    """Delete a calendar no service-level definition and no combined calendar uses."""
    from opsdesk.sla.models import Definition

    require(acting_user, BusinessCalendar, Action.DELETE, calendar.organization_id)
    users = list(Definition.objects.filter(calendar=calendar).order_by("name")[:10])
    if users:
        names = ", ".join(d.name for d in users)
        raise Conflict(
            f"{calendar.name} is the calendar of service-level definition(s) {names}: choose "
            "another calendar there first.",
            field="calendar_id",
        )
    parents = list(
        BusinessCalendar.objects.filter(members=calendar)
        .order_by("name")
        .values_list("name", flat=True)
    )
    if parents:
        raise Conflict(
            f"{calendar.name} is a member of {', '.join(parents)}: remove it there first.",
            field="calendar_id",
        )
    organization_id, name = calendar.organization_id, calendar.name
    with acting_as(acting_user):
        for exception in calendar.exceptions.all():
            exception.delete()
        calendar.members.clear()
        calendar.delete()
    from opsdesk.sla.recompute import recompute_open

    recompute_open(
        organization_id=organization_id,
        reason=f"Calendar '{name}' deleted",
        actor=acting_user,
    )


# --- exceptions ----------------------------------------------------------------------------


def check_exception_input(day: Any, name: str, hours: Any) -> list[list[str]]:
    """The normalised hours of an exception; FieldError naming date, name or hours."""
    errors: dict[str, str] = {}
    if not isinstance(day, date):
        errors["date"] = "A date (YYYY-MM-DD) is required."
    elif not MIN_YEAR <= day.year <= MAX_YEAR:
        errors["date"] = f"The year must lie between {MIN_YEAR} and {MAX_YEAR}."
    if not (name or "").strip():
        errors["name"] = "Say why this day differs (e.g. Company day off)."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    normalised: list[list[str]] = []
    if not isinstance(hours, list | tuple):
        errors["hours"] = 'Hours are a list of ["HH:MM", "HH:MM"]; [] means closed.'
    else:
        try:
            normalised = week_as_json((parse_ranges(hours),) + ((),) * 6)["mon"]
        except (CalendarError, TypeError) as exc:
            errors["hours"] = str(exc) if isinstance(exc, CalendarError) else "Bad hours."
    if errors:
        raise FieldError(errors)
    return normalised


def _refuse_combined(calendar: BusinessCalendar) -> None:
    if calendar.combine_mode:
        raise FieldError(
            {
                "date": f"{calendar.name} is combined from other calendars: put exceptions on "
                "its members."
            }
        )


def _store_exception(
    calendar: BusinessCalendar, day: date, name: str, hours: list[list[str]]
) -> tuple[CalendarException, str]:
    """Create or change the exception of `day`: (row, "created" | "updated" | "unchanged")."""
    found = CalendarException.objects.filter(calendar=calendar, date=day).first()
    name = name.strip()
    if found is not None:
        if found.name == name and list(found.hours or []) == hours:
            return found, "unchanged"
        found.name, found.hours = name, hours
        save_validated(found)
        return found, "updated"
    row = CalendarException(
        organization_id=calendar.organization_id,
        calendar=calendar,
        date=day,
        name=name,
        hours=hours,
    )
    save_validated(row)
    return row, "created"


def _hours_text(hours: list[list[str]]) -> str:
    return ", ".join(f"{s}-{e}" for s, e in hours) if hours else "closed"


@transaction.atomic
def set_exception(
    *,
    acting_user: Any,
    calendar: BusinessCalendar,
    date: date,
    name: str,
    hours: list[list[str]] | None = None,
) -> tuple[CalendarException, bool]:
    """Add the exception of a date, or change it if the date has one: (row, created)."""
    require(acting_user, BusinessCalendar, Action.CHANGE, calendar.organization_id)
    normalised = check_exception_input(date, name, hours if hours is not None else [])
    calendar = _locked(calendar)
    _refuse_combined(calendar)
    with acting_as(acting_user):
        row, outcome = _store_exception(calendar, date, name, normalised)
    if outcome != "unchanged":
        changed(
            calendar,
            acting_user=acting_user,
            what=f"exception {outcome} for {date.isoformat()} ({row.name}: "
            f"{_hours_text(normalised)})",
        )
    return row, outcome == "created"


@transaction.atomic
def remove_exception(*, acting_user: Any, exception: CalendarException) -> None:
    require(acting_user, BusinessCalendar, Action.CHANGE, exception.organization_id)
    calendar = _locked(exception.calendar)
    day, name = exception.date, exception.name
    with acting_as(acting_user):
        exception.delete()
    changed(
        calendar, acting_user=acting_user, what=f"exception removed for {day.isoformat()} ({name})"
    )


@transaction.atomic
def import_exceptions(
    *,
    acting_user: Any,
    calendar: BusinessCalendar,
    items: Iterable[tuple[date, str, list[list[str]]]],
    source: str = "iCalendar import",
) -> dict[str, list[dict[str, Any]]]:
    """Store many exceptions at once (one version bump, one recomputation).
    Returns {"created": [...], "updated": [...], "skipped": [...]} with one entry per date."""
    require(acting_user, BusinessCalendar, Action.CHANGE, calendar.organization_id)
    calendar = _locked(calendar)
    _refuse_combined(calendar)
    report: dict[str, list[dict[str, Any]]] = {"created": [], "updated": [], "skipped": []}
    with acting_as(acting_user):
        for day, name, hours in items:
            try:
                normalised = check_exception_input(day, name, hours)
            except FieldError as exc:
                reason = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
                report["skipped"].append(
                    {"date": day.isoformat(), "name": name, "hours": hours, "reason": reason}
                )
                continue
            row, outcome = _store_exception(calendar, day, name, normalised)
            entry = {"date": day.isoformat(), "name": row.name, "hours": normalised, "reason": ""}
            if outcome == "unchanged":
                entry["reason"] = "Already in the calendar with the same hours."
                report["skipped"].append(entry)
            else:
                report[outcome].append(entry)
    if report["created"] or report["updated"]:
        changed(
            calendar,
            acting_user=acting_user,
            what=f"{source}: {len(report['created'])} exception(s) created, "
            f"{len(report['updated'])} updated",
        )
    return report


# --- reads (always restricted to what the user may see) -------------------------------------


def calendars(user: Any, organization_id: int | None = None, q: str | None = None) -> Any:
    qs = BusinessCalendar.objects.restrict(user, Action.VIEW)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if q:
        qs = qs.filter(name__icontains=q)
    return qs.prefetch_related("members").order_by("organization_id", "name")


def access_calendar(user: Any, calendar_id: int, action: str = Action.VIEW) -> BusinessCalendar:
    from opsdesk.core.selectors import access

    return access(BusinessCalendar.objects.restrict(user, action), calendar_id, "calendar")


def access_exception(user: Any, calendar: BusinessCalendar, exception_id: int) -> Any:
    from opsdesk.core.selectors import access

    qs = CalendarException.objects.restrict(user, Action.VIEW).filter(calendar=calendar)
    return access(qs, exception_id, "calendar exception")


#: The most business hours a preview walks.
MAX_PREVIEW_HOURS = 2000


def preview(calendar: BusinessCalendar, start: Any, hours: float) -> dict[str, Any]:
    """When `hours` of work started at `start` are due, and the stretches walked to get there
    (working time, outside hours, holidays with their names, exceptions)."""
    from zoneinfo import ZoneInfo

    from opsdesk.core.calendars import explain_add
    from opsdesk.sla.calendars import compiled

    errors = {}
    if not 0 <= hours <= MAX_PREVIEW_HOURS:
        errors["hours"] = f"Between 0 and {MAX_PREVIEW_HOURS} hours."
    if start.tzinfo is None:
        start = start.replace(tzinfo=ZoneInfo(calendar.time_zone))
    if not MIN_YEAR <= start.year <= MAX_YEAR - 20:
        errors["start"] = f"The year must lie between {MIN_YEAR} and {MAX_YEAR - 20}."
    if errors:
        raise FieldError(errors)
    try:
        explained = explain_add(compiled(calendar), start, hours * 3600)
    except CalendarError as exc:
        raise FieldError({"hours": str(exc)}) from None
    tz = ZoneInfo(calendar.time_zone)
    due_local = explained.due.astimezone(tz)
    return {
        "calendar_id": calendar.pk,
        "time_zone": calendar.time_zone,
        "start": start,
        "hours": hours,
        "due": explained.due,
        "due_local": due_local.isoformat(),
        "closed_seconds": round(explained.closed_seconds),
        "segments": [
            {**s.as_dict(), "start": s.start.astimezone(tz), "end": s.end.astimezone(tz)}
            for s in explained.segments
        ],
    }


def holidays_of(calendar: BusinessCalendar, year: int) -> list[dict[str, Any]]:
    """The public holidays that apply to the calendar in `year` (observed days included); for
    a combined calendar, its members'."""
    from opsdesk.sla.calendars import compiled

    if not MIN_YEAR <= year <= MAX_YEAR:
        raise FieldError({"year": f"The year must lie between {MIN_YEAR} and {MAX_YEAR}."})
    sources = [calendar]
    if calendar.combine_mode:
        sources = _leaves(calendar)
    overrides = dict(calendar.exceptions.filter(date__year=year).values_list("date", "name"))
    out: list[dict[str, Any]] = []
    for source in sources:
        if not source.holiday_country:
            continue
        for day, name in sorted(compiled(source).holidays_in(year).items()):
            out.append(
                {
                    "date": day,
                    "name": name,
                    "weekday": day.strftime("%A"),
                    "observed": "observed" in name.lower(),
                    "overridden_by": overrides.get(day, "") if source.pk == calendar.pk else "",
                    "calendar": source.name,
                }
            )
    out.sort(key=lambda h: (h["date"], h["calendar"]))
    return out


def _leaves(calendar: BusinessCalendar) -> list[BusinessCalendar]:
    seen: dict[int, BusinessCalendar] = {}
    todo = list(calendar.members.all())
    while todo:
        member = todo.pop(0)
        if member.pk in seen or member.pk == calendar.pk:
            continue
        seen[member.pk] = member
        if member.combine_mode:
            todo.extend(member.members.all())
    return [m for m in seen.values() if not m.combine_mode]
