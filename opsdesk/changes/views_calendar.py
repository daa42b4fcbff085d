"""The change calendar pages: month and week views in the organisation's time zone, the
maintenance and freeze windows editor, and the iCalendar subscribe link."""

from __future__ import annotations

import calendar as pycal
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsdesk.accounts import actions as account_actions
from opsdesk.changes import selectors_windows as selectors
from opsdesk.changes import window_actions, windows
from opsdesk.changes.choices import ChangeState, WindowKind
from opsdesk.changes.models import Change, ChangeWindow
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.pages import object_in_organization, page_organization
from opsdesk.core.permissions import Action, has_permission

HOUR_PX = 28


def _org(request: HttpRequest) -> Any:
    return page_organization(request, Change, "You may not view changes in this organisation.")


def _window_in_org(request: HttpRequest, org: Any, window_id: int, action: str) -> ChangeWindow:
    """The window of the page's organisation that the user may `action`, else 404."""
    return object_in_organization(
        lambda: selectors.access_window(request.user, window_id, action=action), org, "window"
    )


def _can_edit(request: HttpRequest, org: Any) -> bool:
    return has_permission(request.user, ChangeWindow, Action.ADD, org.pk)


def _state_class(change: Change) -> str:
    if change.state in (ChangeState.CLOSED, ChangeState.REVIEW):
        return "cal-done"
    if change.state == ChangeState.CANCELLED:
        return "cal-cancelled"
    if change.state in (ChangeState.NEW, ChangeState.ASSESS, ChangeState.AUTHORISE):
        return "cal-tentative"
    return "cal-firm"


def _chip(change: Change, zone: ZoneInfo) -> dict[str, Any]:
    start = change.planned_start.astimezone(zone)
    end = change.planned_end.astimezone(zone)
    return {
        "change": change,
        "start": start,
        "end": end,
        "risk": change.risk_class or "none",
        "state_class": _state_class(change),
        "conflicts": len(change.conflicts or []),
        "url": f"/changes/{change.pk}/",
        "title": f"{change.number} {change.title} — {change.get_state_display()}, "
        f"risk {change.get_risk_class_display() or 'not assessed'}, "
        f"{start:%d %b %H:%M} to {end:%d %b %H:%M}",
    }


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def _days(
    days: list[date], cal: selectors.Calendar, zone: ZoneInfo, today: date
) -> list[dict[str, Any]]:
    out = []
    for day in days:
        lo, hi = _day_bounds(day, zone)
        chips = [_chip(c, zone) for c in cal.changes if c.planned_start < hi and c.planned_end > lo]
        freezes, maintenance = [], []
        for occ in cal.occurrences:
            if occ.starts_at < hi and occ.ends_at > lo:
                item = {
                    "occ": occ,
                    "start": occ.starts_at.astimezone(zone),
                    "end": occ.ends_at.astimezone(zone),
                    "name": occ.window.name,
                    "top": _offset(max(occ.starts_at, lo), lo),
                    "height": max(
                        _offset(min(occ.ends_at, hi), lo) - _offset(max(occ.starts_at, lo), lo), 6
                    ),
                }
                (freezes if occ.kind == WindowKind.FREEZE else maintenance).append(item)
        lane_ends: list[datetime] = []
        for chip in chips:
            top = _offset(max(chip["change"].planned_start, lo), lo)
            bottom = _offset(min(chip["change"].planned_end, hi), lo)
            chip["top"], chip["height"] = top, max(bottom - top, 18)
            # Overlapping changes side by side: the first lane free at the change's start.
            start = chip["change"].planned_start
            lane = next((i for i, end in enumerate(lane_ends) if end <= start), len(lane_ends))
            if lane == len(lane_ends):
                lane_ends.append(chip["change"].planned_end)
            else:
                lane_ends[lane] = chip["change"].planned_end
            chip["lane"] = lane
        width = 85 / max(len(lane_ends), 1)
        for chip in chips:
            chip["x"], chip["width"] = round(3 + chip["lane"] * width, 2), round(width - 1, 2)
        out.append(
            {
                "date": day,
                "today": day == today,
                "changes": chips,
                "freezes": freezes,
                "maintenance": maintenance,
            }
        )
    return out


def _offset(moment: datetime, day_start: datetime) -> int:
    return int((moment - day_start).total_seconds() / 3600 * HOUR_PX)


def _parse_date(text: str | None, fallback: date) -> date:
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


def _feed_url(request: HttpRequest, org: Any) -> str:
    return request.build_absolute_uri(reverse("changes-calendar-feed", args=[org.slug]))


def _context(request: HttpRequest, org: Any, view: str, **extra: Any) -> dict[str, Any]:
    return {
        "org": org,
        "view": view,
        "zone": windows.zone_of(org),
        "can_edit": _can_edit(request, org),
        "feed_url": _feed_url(request, org),
        "hours": [f"{h:02d}:00" for h in range(24)],
        "hour_px": HOUR_PX,
        **extra,
    }


@login_required
def calendar_month(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    zone = windows.zone_of(org)
    today = datetime.now(zone).date()
    month_text = request.GET.get("month", "")
    anchor = _parse_date(f"{month_text}-01" if month_text else "", today).replace(day=1)
    weeks = pycal.Calendar(firstweekday=0).monthdatescalendar(anchor.year, anchor.month)
    first, last = weeks[0][0], weeks[-1][-1]
    lo, _ = _day_bounds(first, zone)
    _, hi = _day_bounds(last, zone)
    cal = selectors.calendar(request.user, org, lo, hi)
    days = _days([d for w in weeks for d in w], cal, zone, today)
    grid = [days[i : i + 7] for i in range(0, len(days), 7)]
    prev_month = (anchor - timedelta(days=1)).replace(day=1)
    next_month = (anchor + timedelta(days=32)).replace(day=1)
    return render(
        request,
        "changes/calendar/month.html",
        _context(
            request,
            org,
            "month",
            anchor=anchor,
            grid=grid,
            weekdays=["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            prev=f"{prev_month:%Y-%m}",
            next=f"{next_month:%Y-%m}",
            cal=cal,
            legend_windows=_legend(cal),
        ),
    )


def _legend(cal: selectors.Calendar) -> list[ChangeWindow]:
    seen: dict[int, ChangeWindow] = {}
    for occ in cal.occurrences:
        seen.setdefault(occ.window.pk, occ.window)
    return list(seen.values())


@login_required
def calendar_week(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    zone = windows.zone_of(org)
    today = datetime.now(zone).date()
    day = _parse_date(request.GET.get("week"), today)
    monday = day - timedelta(days=day.weekday())
    week = [monday + timedelta(days=i) for i in range(7)]
    lo, _ = _day_bounds(week[0], zone)
    _, hi = _day_bounds(week[-1], zone)
    cal = selectors.calendar(request.user, org, lo, hi)
    return render(
        request,
        "changes/calendar/week.html",
        _context(
            request,
            org,
            "week",
            monday=monday,
            sunday=week[-1],
            days=_days(week, cal, zone, today),
            prev=(monday - timedelta(days=7)).isoformat(),
            next=(monday + timedelta(days=7)).isoformat(),
            cal=cal,
            legend_windows=_legend(cal),
            day_px=24 * HOUR_PX,
        ),
    )


# --- Windows editor ---------------------------------------------------------------------------


class WindowForm(forms.Form):
    kind = forms.ChoiceField(choices=WindowKind.choices)
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    starts_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    ends_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    rrule = forms.CharField(
        required=False,
        max_length=500,
        label="Repeats (RRULE)",
        help_text="e.g. FREQ=WEEKLY;BYDAY=SU — empty: once",
    )
    services = forms.ModelMultipleChoiceField(
        queryset=ConfigurationItem.objects.none(),
        required=False,
        help_text="None selected: the whole organisation",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )

    def __init__(self, *args: Any, org: Any, **kwargs: Any) -> None:
        self.zone = windows.zone_of(org)
        super().__init__(*args, **kwargs)
        self.fields["services"].queryset = ConfigurationItem.objects.filter(
            organization=org, ci_class__is_service=True
        ).order_by("name")

    def _local(self, name: str) -> datetime | None:
        value = self.cleaned_data.get(name)
        if value is None:
            return None
        return value.replace(tzinfo=None).replace(tzinfo=self.zone)

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "kind": data["kind"],
            "name": data["name"],
            "description": data.get("description") or "",
            "starts_at": self._local("starts_at"),
            "ends_at": self._local("ends_at"),
            "rrule": data.get("rrule") or "",
            "services": list(data.get("services") or []),
        }


def _add_errors(form: forms.Form, exc: FieldError | Conflict) -> None:
    if isinstance(exc, Conflict):
        form.add_error(None, exc.detail)
        return
    for name, message in exc.errors.items():
        field = "services" if name == "service_ids" else name
        form.add_error(field if field in form.fields else None, message)


def _initial(window: ChangeWindow) -> dict[str, Any]:
    zone = windows.zone_of(window)
    return {
        "kind": window.kind,
        "name": window.name,
        "description": window.description,
        "starts_at": window.starts_at.astimezone(zone).replace(tzinfo=None),
        "ends_at": window.ends_at.astimezone(zone).replace(tzinfo=None),
        "rrule": window.rrule,
        "services": list(window.services.all()),
    }


@login_required
def windows_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    can_edit = _can_edit(request, org)
    show_retired = request.GET.get("retired") == "1"
    qs = selectors.change_windows(request.user).filter(organization=org)
    if not show_retired:
        qs = qs.filter(is_active=True)
    form = WindowForm(org=org, initial={"kind": request.GET.get("kind", WindowKind.FREEZE)})
    if request.method == "POST":
        if not can_edit:
            return HttpResponse("Only managers edit change windows.", status=403)
        form = WindowForm(request.POST, org=org)
        if form.is_valid():
            try:
                window = window_actions.create_window(
                    acting_user=request.user, organization=org, **form.values()
                )
            except (FieldError, Conflict) as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Saved the window {window.name}.")
                return redirect("changes-calendar-windows")
    zone = windows.zone_of(org)
    rows = [
        {
            "window": w,
            "start": w.starts_at.astimezone(zone),
            "end": w.ends_at.astimezone(zone),
            "services": [s.name for s in w.services.all()],
        }
        for w in qs
    ]
    return render(
        request,
        "changes/calendar/windows.html",
        {
            "org": org,
            "zone": zone,
            "can_edit": can_edit,
            "form": form,
            "show_retired": show_retired,
            "freezes": [r for r in rows if r["window"].kind == WindowKind.FREEZE],
            "maintenance": [r for r in rows if r["window"].kind == WindowKind.MAINTENANCE],
        },
        status=422 if request.method == "POST" else 200,
    )


@login_required
def window_edit(request: HttpRequest, window_id: int) -> HttpResponse:
    org = _org(request)
    window = _window_in_org(request, org, window_id, Action.CHANGE)
    form = WindowForm(initial=_initial(window), org=org)
    status = 200
    if request.method == "POST":
        form = WindowForm(request.POST, org=org)
        if form.is_valid():
            try:
                window_actions.update_window(
                    acting_user=request.user, window=window, **form.values()
                )
            except (FieldError, Conflict) as exc:
                _add_errors(form, exc)
            else:
                messages.success(request, f"Saved the window {window.name}.")
                return redirect("changes-calendar-windows")
        status = 422
    return render(
        request,
        "changes/calendar/window_edit.html",
        {"org": org, "window": window, "form": form, "zone": windows.zone_of(org)},
        status=status,
    )


@require_POST
@login_required
def window_retire(request: HttpRequest, window_id: int) -> HttpResponse:
    window = _window_in_org(request, _org(request), window_id, Action.DELETE)
    window_actions.retire_window(acting_user=request.user, window=window)
    messages.success(request, f"Retired the window {window.name}.")
    return redirect("changes-calendar-windows")


@require_POST
@login_required
def feed_token(request: HttpRequest) -> HttpResponse:
    """A personal API token for the subscribe link, shown once (only its hash is kept)."""
    org = _org(request)
    token, raw = account_actions.create_api_token(
        acting_user=request.user, name=f"Change calendar feed ({org.slug})"
    )
    return render(
        request,
        "changes/calendar/feed_token.html",
        {
            "org": org,
            "token": token,
            "url": f"{_feed_url(request, org)}?token={raw}",
        },
    )
