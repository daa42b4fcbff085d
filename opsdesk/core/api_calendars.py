"""API routes: business calendars, their exceptions, iCalendar export and import, a preview
of the business-time arithmetic and the public holidays that apply.

Everyone in an organisation reads its calendars; its admins change them. Every change bumps
the calendar's version and recomputes the open service-level clocks
(`opsdesk.core.calendar_actions`). The import takes a JSON body ``{"ics": "<file text>"}``.
"""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.core import calendar_actions as actions
from opsdesk.core import ical
from opsdesk.core.api import ERROR_RESPONSES, ApiDateTime, Paginated
from opsdesk.core.calendar_schemas import (
    CalendarFilterIn,
    CalendarIn,
    CalendarOut,
    CalendarPatch,
    ExceptionIn,
    ExceptionOut,
    HolidayOut,
    IcalImportIn,
    ImportReportOut,
    PreviewOut,
)
from opsdesk.core.errors import FieldError
from opsdesk.core.models import BusinessCalendar
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization

router = Router(tags=["Business calendars"])


def _members(user: Any, organization_id: int, ids: list[int] | None) -> list[Any] | None:
    if ids is None:
        return None
    ids = list(dict.fromkeys(ids))
    found = list(
        BusinessCalendar.objects.restrict(user, Action.VIEW).filter(
            pk__in=ids, organization_id=organization_id
        )
    )
    missing = sorted(set(ids) - {c.pk for c in found})
    if missing:
        listed = ", ".join(str(i) for i in missing)
        raise FieldError({"member_ids": f"No calendar of this organisation has id {listed}."})
    return found


def _out(calendar: BusinessCalendar) -> BusinessCalendar:
    return BusinessCalendar.objects.prefetch_related("members").get(pk=calendar.pk)


def _year(user_value: int | None) -> int:
    return user_value if user_value is not None else timezone.localdate().year


@router.get(
    "/calendars",
    response={200: list[CalendarOut], **ERROR_RESPONSES},
    summary="Business calendars of your organisations",
)
@paginate(Paginated)
def list_calendars(request: HttpRequest, filters: Query[CalendarFilterIn]):  # type: ignore[no-untyped-def]
    return actions.calendars(request.auth, filters.organization, filters.q)


@router.post(
    "/calendars",
    response={201: CalendarOut, **ERROR_RESPONSES},
    summary="Create a calendar (admins); is_default clears the organisation's other default",
)
def create_calendar(request: HttpRequest, payload: CalendarIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = payload.dict()
    org = access_organization(user, data.pop("organization_id"))
    members = _members(user, org.pk, data.pop("member_ids"))
    if data.get("working_hours") is None:
        data.pop("working_hours")
    calendar = actions.create_calendar(
        acting_user=user, organization=org, members=members or (), **data
    )
    return Status(201, _out(calendar))


@router.get("/calendars/{calendar_id}", response={200: CalendarOut, **ERROR_RESPONSES})
def get_calendar(request: HttpRequest, calendar_id: int):  # type: ignore[no-untyped-def]
    return _out(actions.access_calendar(request.auth, calendar_id))


@router.patch(
    "/calendars/{calendar_id}",
    response={200: CalendarOut, **ERROR_RESPONSES},
    summary="Change a calendar (admins); open clocks are recomputed",
)
def update_calendar(request: HttpRequest, calendar_id: int, payload: CalendarPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    calendar = actions.access_calendar(user, calendar_id)
    data = payload.dict(exclude_unset=True)
    for name in ("name", "time_zone", "always_open", "working_hours", "is_default"):
        if name in data and data[name] is None:
            raise FieldError({name: "Cannot be null."})
    for name in (
        "description",
        "holiday_country",
        "holiday_subdivision",
        "combine_mode",
        "country",
    ):
        if name in data and data[name] is None:
            data[name] = ""
    members = _members(user, calendar.organization_id, data.pop("member_ids", None))
    calendar = actions.update_calendar(acting_user=user, calendar=calendar, members=members, **data)
    return _out(calendar)


@router.delete(
    "/calendars/{calendar_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Delete a calendar (409 while a definition or combined calendar uses it)",
)
def delete_calendar(request: HttpRequest, calendar_id: int):  # type: ignore[no-untyped-def]
    calendar = actions.access_calendar(request.auth, calendar_id)
    actions.delete_calendar(acting_user=request.auth, calendar=calendar)
    return Status(204, None)


@router.get(
    "/calendars/{calendar_id}/exceptions",
    response={200: list[ExceptionOut], **ERROR_RESPONSES},
    summary="The calendar's exceptions, by date",
)
def list_exceptions(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    calendar_id: int,
    year: int | None = Query(None, ge=1970, le=2200),  # type: ignore[type-arg]
):
    calendar = actions.access_calendar(request.auth, calendar_id)
    qs = calendar.exceptions.order_by("date")
    if year is not None:
        qs = qs.filter(date__year=year)
    return list(qs)


@router.post(
    "/calendars/{calendar_id}/exceptions",
    response={200: ExceptionOut, 201: ExceptionOut, **ERROR_RESPONSES},
    summary="Add the exception of a date (201), or change it if the date has one (200); "
    "hours [] = closed all day",
)
def set_exception(request: HttpRequest, calendar_id: int, payload: ExceptionIn):  # type: ignore[no-untyped-def]
    calendar = actions.access_calendar(request.auth, calendar_id)
    row, created = actions.set_exception(
        acting_user=request.auth,
        calendar=calendar,
        date=payload.date,
        name=payload.name,
        hours=payload.hours,
    )
    return Status(201 if created else 200, row)


@router.delete(
    "/calendars/{calendar_id}/exceptions/{exception_id}",
    response={204: None, **ERROR_RESPONSES},
)
def delete_exception(request: HttpRequest, calendar_id: int, exception_id: int):  # type: ignore[no-untyped-def]
    calendar = actions.access_calendar(request.auth, calendar_id)
    exception = actions.access_exception(request.auth, calendar, exception_id)
    actions.remove_exception(acting_user=request.auth, exception=exception)
    return Status(204, None)


@router.get(
    "/calendars/{calendar_id}/ical",
    response={200: None, **ERROR_RESPONSES},
    summary="The calendar's public holidays and exceptions as iCalendar (text/calendar)",
    openapi_extra={
        "responses": {
            200: {
                "description": "An .ics file",
                "content": {"text/calendar": {"schema": {"type": "string"}}},
            }
        }
    },
)
def export_ical(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    calendar_id: int,
    from_year: int | None = Query(None, ge=1970, le=2200),  # type: ignore[type-arg]
    to_year: int | None = Query(None, ge=1970, le=2200),  # type: ignore[type-arg]
):
    calendar = actions.access_calendar(request.auth, calendar_id)
    first = _year(from_year)
    last = to_year if to_year is not None else first
    body = ical.export_ics(calendar, first, last)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    filename = f"calendar-{calendar.pk}-{first}-{last}.ics"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.post(
    "/calendars/{calendar_id}/ical",
    response={200: ImportReportOut, **ERROR_RESPONSES},
    summary='Import an .ics file sent as JSON {"ics": "<file text>"}: all-day events become '
    "closed days, timed events exceptions with those hours; idempotent",
)
def import_ical(request: HttpRequest, calendar_id: int, payload: IcalImportIn):  # type: ignore[no-untyped-def]
    calendar = actions.access_calendar(request.auth, calendar_id)
    return ical.import_ics(acting_user=request.auth, calendar=calendar, text=payload.ics)


@router.get(
    "/calendars/{calendar_id}/preview",
    response={200: PreviewOut, **ERROR_RESPONSES},
    summary="When N business hours started at a moment are due, with the stretches walked "
    "(working, outside hours, holiday, exception)",
)
def preview(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    calendar_id: int,
    start: ApiDateTime | None = None,
    hours: float = Query(8.0, ge=0, le=actions.MAX_PREVIEW_HOURS, allow_inf_nan=False),  # type: ignore[type-arg]
):
    calendar = actions.access_calendar(request.auth, calendar_id)
    if start is None:
        start = timezone.now()
    return actions.preview(calendar, start, hours)


@router.get(
    "/calendars/{calendar_id}/holidays",
    response={200: list[HolidayOut], **ERROR_RESPONSES},
    summary="The public holidays that apply in a year (observed days included)",
)
def holidays(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    calendar_id: int,
    year: int | None = Query(None, ge=1970, le=2200),  # type: ignore[type-arg]
):
    calendar = actions.access_calendar(request.auth, calendar_id)
    return actions.holidays_of(calendar, _year(year))
