"""Pages of business calendars (/calendars/): the list, and one calendar's page, which is its
editor for admins (weekly hours, 24x7, time zone, holidays, combination, default,
exceptions, iCalendar import) and for everyone a view of the year's holidays, the iCalendar
export and a preview of the arithmetic ("8 business hours from Friday 15:00 are due ...").

Views check the shape of input (forms) and call the same actions as the API; every page is
scoped to the current organisation.
"""

from __future__ import annotations

import zoneinfo
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from opsdesk.core import calendar_actions as actions
from opsdesk.core import ical
from opsdesk.core.calendars import WEEKDAYS, CalendarError, parse_ranges
from opsdesk.core.countries import COUNTRY_NAMES, country_name
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.models import BusinessCalendar, CalendarException, CombineMode
from opsdesk.core.pages import page_organization
from opsdesk.core.permissions import Action, has_permission

DAY_NAMES = dict(
    zip(
        WEEKDAYS,
        ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        strict=True,
    )
)
#: The largest .ics file the import form takes.
MAX_ICS_BYTES = 2_000_000


def _org(request: HttpRequest) -> Any:
    return page_organization(request, BusinessCalendar, "Calendars are not part of your role.")


def _can_change(request: HttpRequest) -> bool:
    org = request.organization
    return org is not None and has_permission(request.user, BusinessCalendar, Action.CHANGE, org.pk)


def _calendar_in_org(request: HttpRequest, calendar_id: int) -> BusinessCalendar:
    org = _org(request)
    try:
        calendar = actions.access_calendar(request.user, calendar_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if calendar.organization_id != org.pk:
        raise Http404("No calendar matches the given id.")
    return calendar


def _report(request: HttpRequest, exc: FieldError | Conflict) -> None:
    items = {exc.field or "": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for field, message in items.items():
        label = field.removesuffix("_id").replace("_", " ").removesuffix(" ids")
        label = "" if label in ("__all__", "calendar") else label
        messages.error(request, f"{label}: {message}" if label else message)


def ranges_text(ranges: list[list[str]] | None) -> str:
    """[["08:00", "12:00"], ["13:00", "17:00"]] -> "08:00-12:00, 13:00-17:00"."""
    return ", ".join(f"{s}-{e}" for s, e in ranges or [])


def parse_ranges_text(text: str) -> list[list[str]]:
    """The reverse of `ranges_text`; "" is no hours (closed). ValueError when unreadable."""
    out: list[list[str]] = []
    for part in (text or "").replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        bits = [b.strip() for b in part.replace("\u2013", "-").split("-")]
        if len(bits) != 2 or not all(bits):
            raise ValueError(f"{part!r} is not a range like 08:00-17:00.")
        out.append(bits)
    try:
        parse_ranges(out)
    except CalendarError as exc:
        raise ValueError(str(exc)) from None
    return out


# --- forms ---------------------------------------------------------------------------------


class RangesField(forms.CharField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 200)
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[list[str]]:
        text = super().clean(value)
        try:
            return parse_ranges_text(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


def _zone_choices() -> list[tuple[str, str]]:
    return [(z, z) for z in sorted(zoneinfo.available_timezones()) if "/" in z or z == "UTC"]


def _holiday_country_choices() -> list[tuple[str, str]]:
    codes = sorted(actions.holiday_countries(), key=lambda c: country_name(c))
    return [("", "No public holidays"), *((c, f"{country_name(c)} ({c})") for c in codes)]


def _country_choices() -> list[tuple[str, str]]:
    ordered = sorted(COUNTRY_NAMES.items(), key=lambda kv: kv[1])
    return [("", "No country"), *((c, f"{n} ({c})") for c, n in ordered)]


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    time_zone = forms.ChoiceField(label="Time zone")
    always_open = forms.BooleanField(required=False, label="24x7 (every second counts)")
    holiday_country = forms.ChoiceField(required=False, label="Public holidays of")
    holiday_subdivision = forms.CharField(
        required=False,
        max_length=10,
        label="Subdivision",
        help_text="A state or province with its own holidays, e.g. BY (Bavaria); empty for "
        "national holidays only.",
    )
    combine_mode = forms.ChoiceField(
        required=False, label="Combine other calendars", choices=CombineMode.choices
    )
    members = forms.MultipleChoiceField(
        required=False, label="Member calendars", widget=forms.CheckboxSelectMultiple
    )
    country = forms.ChoiceField(
        required=False,
        label="Country scope",
        help_text="Tickets located in this country use this calendar when a definition names none.",
    )
    is_default = forms.BooleanField(required=False, label="The organisation's default calendar")

    def __init__(self, *args: Any, others: list[BusinessCalendar] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _zone_choices()
        self.fields["holiday_country"].choices = _holiday_country_choices()
        self.fields["country"].choices = _country_choices()
        self.fields["members"].choices = [(str(c.pk), c.name) for c in others or []]
        for day in WEEKDAYS:
            self.fields[day] = RangesField(
                label=DAY_NAMES[day],
                help_text="e.g. 08:00-12:00, 13:00-17:00; empty = closed",
            )

    def day_fields(self) -> list[Any]:
        return [self[day] for day in WEEKDAYS]

    def values(self, organization_id: int) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        week = {day: data.pop(day) for day in WEEKDAYS}
        data["working_hours"] = {day: ranges for day, ranges in week.items() if ranges}
        member_ids = [int(pk) for pk in data.pop("members")]
        data["members"] = list(
            BusinessCalendar.objects.filter(organization_id=organization_id, pk__in=member_ids)
        )
        return data


def _initial(calendar: BusinessCalendar) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "name": calendar.name,
        "description": calendar.description,
        "time_zone": calendar.time_zone,
        "always_open": calendar.always_open,
        "holiday_country": calendar.holiday_country,
        "holiday_subdivision": calendar.holiday_subdivision,
        "combine_mode": calendar.combine_mode,
        "members": [str(m.pk) for m in calendar.members.all()],
        "country": calendar.country,
        "is_default": calendar.is_default,
    }
    hours = calendar.working_hours or {}
    for day in WEEKDAYS:
        initial[day] = ranges_text(hours.get(day))
    return initial


class NewCalendarForm(forms.Form):
    name = forms.CharField(max_length=100)
    time_zone = forms.ChoiceField(label="Time zone")
    holiday_country = forms.ChoiceField(required=False, label="Public holidays of")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = _zone_choices()
        self.fields["holiday_country"].choices = _holiday_country_choices()


class ExceptionForm(forms.Form):
    date = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    name = forms.CharField(max_length=100, label="Reason")
    hours = RangesField(label="Hours", help_text="Empty = closed all day; or e.g. 08:00-12:00")


class PreviewForm(forms.Form):
    start = forms.DateTimeField(
        label="Starting at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    hours = forms.FloatField(
        label="Business hours of work", min_value=0, max_value=actions.MAX_PREVIEW_HOURS
    )


class ImportForm(forms.Form):
    file = forms.FileField(label=".ics file")


# --- list ----------------------------------------------------------------------------------


def _summary(calendar: BusinessCalendar) -> str:
    if calendar.always_open:
        return "24x7"
    if calendar.combine_mode:
        names = ", ".join(m.name for m in calendar.members.all())
        word = "Any of" if calendar.combine_mode == "union" else "All of"
        return f"{word}: {names}"
    hours = calendar.working_hours or {}
    days = [f"{d.capitalize()} {ranges_text(hours[d])}" for d in WEEKDAYS if hours.get(d)]
    if not days:
        return "No working hours"
    texts = {ranges_text(hours[d]) for d in WEEKDAYS if hours.get(d)}
    weekdays = [d for d in WEEKDAYS if hours.get(d)]
    if len(texts) == 1 and weekdays == list(WEEKDAYS[: len(weekdays)]):
        first, last = weekdays[0].capitalize(), weekdays[-1].capitalize()
        return f"{first}-{last} {texts.pop()}"
    return "; ".join(days)


@login_required
def calendar_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    rows = [
        {"calendar": c, "summary": _summary(c)} for c in actions.calendars(request.user, org.pk)
    ]
    can_add = has_permission(request.user, BusinessCalendar, Action.ADD, org.pk)
    form = NewCalendarForm(initial={"time_zone": org.time_zone or "UTC"})
    if request.method == "POST":
        if not can_add:
            raise DjangoPermissionDenied("You may not create calendars here.")
        form = NewCalendarForm(request.POST)
        if form.is_valid():
            try:
                calendar = actions.create_calendar(
                    acting_user=request.user, organization=org, **form.cleaned_data
                )
            except (FieldError, Conflict) as exc:
                _report(request, exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            else:
                messages.success(request, f"Calendar {calendar.name} created.")
                return HttpResponseRedirect(reverse("calendars-detail", args=[calendar.pk]))
    context = {"rows": rows, "can_add": can_add, "form": form}
    status = 422 if request.method == "POST" else 200
    return render(request, "calendars/calendar_list.html", context, status=status)


# --- one calendar --------------------------------------------------------------------------


def _preview(request: HttpRequest, calendar: BusinessCalendar) -> tuple[PreviewForm, Any]:
    tz = ZoneInfo(calendar.time_zone)
    if "start" in request.GET or "hours" in request.GET:
        form = PreviewForm(request.GET)
    else:
        now = timezone.now().astimezone(tz).replace(second=0, microsecond=0)
        form = PreviewForm(initial={"start": now.replace(tzinfo=None), "hours": 8})
    if not form.is_bound or not form.is_valid():
        return form, None
    start = form.cleaned_data["start"]
    start = (timezone.make_naive(start) if timezone.is_aware(start) else start).replace(tzinfo=tz)
    try:
        result = actions.preview(calendar, start, form.cleaned_data["hours"])
    except FieldError as exc:
        for field, message in exc.errors.items():
            form.add_error(field if field in form.fields else None, message)
        return form, None
    result["bars"] = _bars(result)
    result["start_local"] = start
    result["due_at_local"] = result["due"].astimezone(tz)
    return form, result


def _bars(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The segments as rectangles of a 1000-unit wide SVG timeline."""
    segments = result["segments"]
    if not segments:
        return []
    first, last = segments[0]["start"], segments[-1]["end"]
    total = max((last - first).total_seconds(), 1)
    out = []
    for s in segments:
        x = (s["start"] - first).total_seconds() / total * 1000
        width = max(s["seconds"] / total * 1000, 0.5)
        out.append(
            {**s, "x": round(x, 2), "width": round(width, 2), "duration": _duration(s["seconds"])}
        )
    return out


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if mins or not parts:
        parts.append(f"{mins} min")
    return " ".join(parts)


@login_required
def calendar_detail(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    org = request.organization
    today = timezone.now().astimezone(ZoneInfo(calendar.time_zone)).date()
    try:
        year = int(request.GET.get("year") or today.year)
    except ValueError:
        year = today.year
    year = min(max(year, actions.MIN_YEAR), actions.MAX_YEAR)
    others = list(BusinessCalendar.objects.filter(organization_id=org.pk).exclude(pk=calendar.pk))
    preview_form, preview = _preview(request, calendar)
    context = {
        "calendar": calendar,
        "summary": _summary(calendar),
        "can_change": _can_change(request),
        "form": CalendarForm(initial=_initial(calendar), others=others),
        "exception_form": ExceptionForm(),
        "import_form": ImportForm(),
        "preview_form": preview_form,
        "preview": preview,
        "exceptions": [
            {"row": e, "hours": ranges_text(e.hours) or "Closed"}
            for e in calendar.exceptions.order_by("date")
        ],
        "holidays": actions.holidays_of(calendar, year),
        "year": year,
        "prev_year": year - 1,
        "next_year": year + 1,
        "members": list(calendar.members.all()),
        "subdivisions": actions.holiday_countries().get(calendar.holiday_country, ()),
        "holiday_country_name": country_name(calendar.holiday_country)
        if calendar.holiday_country
        else "",
        "country_name": country_name(calendar.country) if calendar.country else "",
        "week": [
            {"day": DAY_NAMES[d], "hours": ranges_text((calendar.working_hours or {}).get(d))}
            for d in WEEKDAYS
        ],
    }
    return render(request, "calendars/calendar_detail.html", context)


def _back(calendar: BusinessCalendar, anchor: str = "") -> HttpResponseRedirect:
    url = reverse("calendars-detail", args=[calendar.pk])
    return HttpResponseRedirect(f"{url}#{anchor}" if anchor else url)


def _form_errors(request: HttpRequest, form: forms.Form) -> None:
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        text = " ".join(errors)
        messages.error(request, f"{label}: {text}" if label else text)


@require_POST
@login_required
def calendar_edit(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    others = list(
        BusinessCalendar.objects.filter(organization_id=calendar.organization_id).exclude(
            pk=calendar.pk
        )
    )
    form = CalendarForm(request.POST, others=others)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(calendar, "edit-heading")
    try:
        values = form.values(calendar.organization_id)
        members = values.pop("members")
        calendar = actions.update_calendar(
            acting_user=request.user, calendar=calendar, members=members, **values
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        messages.success(request, f"{calendar.name} saved (version {calendar.version}).")
    return _back(calendar)


@require_POST
@login_required
def calendar_delete(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    name = calendar.name
    try:
        actions.delete_calendar(acting_user=request.user, calendar=calendar)
    except (FieldError, Conflict) as exc:
        _report(request, exc)
        return _back(calendar)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"Calendar {name} deleted.")
    return HttpResponseRedirect(reverse("calendars-list"))


@require_POST
@login_required
def exception_add(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    form = ExceptionForm(request.POST)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(calendar, "exceptions-heading")
    data = form.cleaned_data
    try:
        row, created = actions.set_exception(
            acting_user=request.user,
            calendar=calendar,
            date=data["date"],
            name=data["name"],
            hours=data["hours"],
        )
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        verb = "added" if created else "changed"
        hours = ranges_text(row.hours) or "closed"
        messages.success(request, f"Exception {verb}: {row.date:%a %d %b %Y} {row.name} ({hours}).")
    return _back(calendar, "exceptions-heading")


@require_POST
@login_required
def exception_remove(request: HttpRequest, calendar_id: int, exception_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    row = CalendarException.objects.filter(calendar=calendar, pk=exception_id).first()
    if row is None:
        raise Http404("No exception matches the given id.")
    try:
        actions.remove_exception(acting_user=request.user, exception=row)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"Exception of {row.date:%a %d %b %Y} removed.")
    return _back(calendar, "exceptions-heading")


@login_required
def calendar_export(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    this_year = date.today().year
    try:
        first = int(request.GET.get("from_year") or this_year)
        last = int(request.GET.get("to_year") or first)
        if not (actions.MIN_YEAR <= first <= actions.MAX_YEAR):
            raise FieldError({"from_year": "Out of range."})
        body = ical.export_ics(calendar, first, min(last, actions.MAX_YEAR))
    except (ValueError, FieldError) as exc:
        messages.error(request, f"Export: {exc.errors if isinstance(exc, FieldError) else exc}")
        return _back(calendar)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="calendar-{calendar.pk}-{first}-{last}.ics"'
    )
    return response


@require_POST
@login_required
def calendar_import(request: HttpRequest, calendar_id: int) -> HttpResponse:
    calendar = _calendar_in_org(request, calendar_id)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        _form_errors(request, form)
        return _back(calendar, "ical-heading")
    upload = form.cleaned_data["file"]
    if upload.size > MAX_ICS_BYTES:
        messages.error(request, f".ics file: at most {MAX_ICS_BYTES // 1_000_000} MB.")
        return _back(calendar, "ical-heading")
    try:
        text = upload.read().decode("utf-8-sig")
        if "\x00" in text:
            raise UnicodeDecodeError("utf-8", b"", 0, 1, "NUL character")
        report = ical.import_ics(acting_user=request.user, calendar=calendar, text=text)
    except UnicodeDecodeError:
        messages.error(request, ".ics file: not UTF-8 text.")
    except (FieldError, Conflict) as exc:
        _report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        created, updated, skipped = (len(report[k]) for k in ("created", "updated", "skipped"))
        messages.success(
            request,
            f"Imported {upload.name}: {created} created, {updated} updated, {skipped} skipped.",
        )
        for item in report["skipped"][:10]:
            messages.info(request, f"Skipped {item['date']} {item['name']}: {item['reason']}")
    return _back(calendar, "exceptions-heading")


urlpatterns = [
    path("", calendar_list, name="calendars-list"),
    path("<int:calendar_id>/", calendar_detail, name="calendars-detail"),
    path("<int:calendar_id>/edit/", calendar_edit, name="calendars-edit"),
    path("<int:calendar_id>/delete/", calendar_delete, name="calendars-delete"),
    path("<int:calendar_id>/exceptions/", exception_add, name="calendars-exception-add"),
    path(
        "<int:calendar_id>/exceptions/<int:exception_id>/remove/",
        exception_remove,
        name="calendars-exception-remove",
    ),
    path("<int:calendar_id>/export.ics", calendar_export, name="calendars-export"),
    path("<int:calendar_id>/import/", calendar_import, name="calendars-import"),
]

__all__ = ["urlpatterns"]
