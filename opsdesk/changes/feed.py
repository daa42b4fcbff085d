"""The change calendar as an iCalendar feed, for Outlook and Google Calendar to subscribe to.

``GET /changes/calendar/feed/<org slug>.ics?token=<API token>``: calendar clients cannot
send a header or hold a session, so this one URL also accepts a personal API token in the
query (checked by the API's own `TokenAuth`: hashed lookup, expiry, revocation); a browser
with a session may download it without one. The feed holds what that user may view: the
organisation must be one of theirs (404 otherwise) and the changes and windows are read
through ``restrict(user, "view")``.

Changes are events from the planned start to the planned end (state, type, risk and CIs in
the description, STATUS TENTATIVE until scheduled, CANCELLED when cancelled); windows are
events too, recurring ones with their RRULE and a TZID in the organisation's time zone so
the client expands them as we do.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from icalendar import Calendar, Event, vRecur

from opsdesk.changes import windows
from opsdesk.changes.choices import ChangeState, WindowKind
from opsdesk.changes.models import Change, ChangeWindow
from opsdesk.core.api import TokenAuth
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import organizations_for_user

#: Changes planned to end this long ago or start this far ahead are left out of the feed.
PAST = timedelta(days=90)
FUTURE = timedelta(days=400)
MAX_EVENTS = 3000

_STATUS = {
    ChangeState.NEW: "TENTATIVE",
    ChangeState.ASSESS: "TENTATIVE",
    ChangeState.AUTHORISE: "TENTATIVE",
    ChangeState.CANCELLED: "CANCELLED",
}


def feed_user(request: HttpRequest) -> Any:
    """The user the feed is for: the ``token`` query parameter, else the session; None when
    neither authenticates."""
    token = request.GET.get("token")
    if token is not None:
        return TokenAuth().authenticate(request, token.strip())
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active:
        return user
    return None


def _absolute(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(path)


def _change_event(request: HttpRequest, org: Organization, change: Change) -> Event:
    event = Event()
    event.add("uid", f"change-{change.pk}@{org.slug}.opsdesk")
    event.add("summary", f"{change.number} {change.title}")
    event.add("dtstart", change.planned_start)
    event.add("dtend", change.planned_end)
    event.add("dtstamp", change.updated_at)
    event.add("last-modified", change.updated_at)
    event.add("status", _STATUS.get(change.state, "CONFIRMED"))
    cis = sorted(ci.name for ci in change.cis.all())
    lines = [
        f"Type: {change.get_change_type_display()}",
        f"State: {change.get_state_display()}",
        f"Risk: {change.get_risk_class_display() if change.risk_class else 'not assessed'}",
    ]
    if change.service_id:
        lines.append(f"Service: {change.service.name}")
    if cis:
        lines.append(f"CIs: {', '.join(cis)}")
    for conflict in change.conflicts or []:
        lines.append(f"Conflict: {conflict.get('reason', '')}")
    url = _absolute(request, f"/changes/{change.pk}/")
    lines.append(url)
    event.add("description", "\n".join(lines))
    event.add("url", url)
    event.add(
        "categories",
        [
            "Change",
            change.get_change_type_display(),
            change.get_state_display(),
            *([f"Risk {change.get_risk_class_display()}"] if change.risk_class else []),
        ],
    )
    return event


def _window_event(org: Organization, window: ChangeWindow) -> Event:
    event = Event()
    label = "Freeze" if window.kind == WindowKind.FREEZE else "Maintenance window"
    event.add("uid", f"window-{window.pk}@{org.slug}.opsdesk")
    event.add("summary", f"{label}: {window.name}")
    if window.rrule:
        zone = windows.zone_of(org)
        event.add("dtstart", window.starts_at.astimezone(zone))
        event.add("dtend", window.ends_at.astimezone(zone))
        event.add("rrule", vRecur.from_ical(window.rrule))
    else:
        event.add("dtstart", window.starts_at)
        event.add("dtend", window.ends_at)
    event.add("dtstamp", window.updated_at)
    event.add("last-modified", window.updated_at)
    services = sorted(s.name for s in window.services.all())
    lines = [
        window.get_kind_display(),
        f"Covers: {', '.join(services) or 'the whole organisation'}",
    ]
    if window.description:
        lines.append(window.description)
    event.add("description", "\n".join(lines))
    event.add("categories", [label])
    event.add("transp", "OPAQUE" if window.kind == WindowKind.FREEZE else "TRANSPARENT")
    return event


def build_feed(
    request: HttpRequest, user: Any, org: Organization, now: datetime | None = None
) -> bytes:
    now = now or timezone.now()
    cal = Calendar()
    cal.add("prodid", "-//OpsDesk//Change calendar//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Changes - {org.name}")
    cal.add("x-wr-timezone", org.time_zone or "UTC")
    changes = (
        Change.objects.restrict(user, Action.VIEW)
        .filter(
            organization=org,
            planned_start__isnull=False,
            planned_end__gte=now - PAST,
            planned_start__lte=now + FUTURE,
        )
        .select_related("service")
        .prefetch_related("cis")
        .order_by("planned_start", "id")
    )
    for change in changes[:MAX_EVENTS]:
        cal.add_component(_change_event(request, org, change))
    found = (
        ChangeWindow.objects.restrict(user, Action.VIEW)
        .filter(organization=org, is_active=True)
        .prefetch_related("services")
        .order_by("starts_at", "id")
    )
    for window in found:
        if not window.rrule and (window.ends_at < now - PAST or window.starts_at > now + FUTURE):
            continue
        cal.add_component(_window_event(org, window))
    cal.add_missing_timezones()
    return cal.to_ical()


def _unauthorised() -> HttpResponse:
    response = HttpResponse(
        "Authentication required: add ?token=<your API token> to the feed URL, or log in.\n",
        status=401,
        content_type="text/plain; charset=utf-8",
    )
    response["WWW-Authenticate"] = 'Bearer realm="opsdesk"'
    return response


@require_GET
def calendar_feed(request: HttpRequest, slug: str) -> HttpResponse:
    user = feed_user(request)
    if user is None:
        return _unauthorised()
    org = organizations_for_user(user).filter(slug=slug).first()
    if org is None:
        raise Http404("No such organisation.")
    body = build_feed(request, user, org)
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="changes-{org.slug}.ics"'
    response["Cache-Control"] = "private, no-store"
    return response
