"""Service-desk dashboard metrics of one organisation, each computed by aggregate queries
(GROUP BY / filtered COUNT in the database, never a Python loop over incident rows) so the
page stays fast with a million incidents.

- open incidents by priority;
- ageing of open incidents (<1d, 1-3d, 3-7d, 7-30d, >30d since opened);
- reopen rate and first-contact resolution rate of incidents resolved in the last 30 days;
- CSAT: average rating and number of answered surveys in the last 30 days;
- backlog trend: opened and resolved per day (in the organisation's time zone) over the last
  30 days, and the open backlog at the end of each day.

The backlog rests on one invariant the actions keep: an incident is open exactly while
``resolved_at`` is empty and it is not cancelled (reopening clears ``resolved_at``). So the
backlog at the end of a day is today's open count minus what opened since plus what was
resolved or cancelled since: one indexed count plus three grouped counts over the window,
never a scan of the whole history.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from opsdesk.servicedesk.choices import OPEN_STATES, IncidentState, Priority
from opsdesk.servicedesk.models import Incident

DAYS = 30
#: (key, label, lower bound in days, upper bound in days or None)
AGE_BUCKETS: tuple[tuple[str, str, int, int | None], ...] = (
    ("d0", "< 1 day", 0, 1),
    ("d1", "1-3 days", 1, 3),
    ("d3", "3-7 days", 3, 7),
    ("d7", "7-30 days", 7, 30),
    ("d30", "> 30 days", 30, None),
)


def _incidents(org_id: int) -> Any:
    return Incident.objects.filter(organization_id=org_id)


def open_summary(org_id: int, now: datetime) -> dict[str, int]:
    """One pass over the open incidents: the count per priority and per age bucket."""
    counts: dict[str, Any] = {f"p{p}": Count("id", filter=Q(priority=p)) for p in Priority.values}
    for key, _label, low, high in AGE_BUCKETS:
        condition = Q(opened_at__lte=now - timedelta(days=low))
        if high is not None:
            condition &= Q(opened_at__gt=now - timedelta(days=high))
        counts[key] = Count("id", filter=condition)
    row = _incidents(org_id).filter(state__in=OPEN_STATES).aggregate(**counts)
    return {key: value or 0 for key, value in row.items()}


def open_by_priority(org_id: int, summary: dict[str, int] | None = None) -> list[dict[str, Any]]:
    summary = summary or open_summary(org_id, timezone.now())
    return [
        {"priority": p, "label": label, "count": summary[f"p{p}"]} for p, label in Priority.choices
    ]


def ageing(
    org_id: int, now: datetime, summary: dict[str, int] | None = None
) -> list[dict[str, Any]]:
    summary = summary or open_summary(org_id, now)
    return [
        {"key": key, "label": label, "count": summary[key]}
        for key, label, _low, _high in AGE_BUCKETS
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def resolution_rates(org_id: int, now: datetime) -> dict[str, Any]:
    """Of the incidents resolved in the last 30 days (and still resolved or closed): how many
    had been reopened, and how many were resolved at first contact."""
    row = (
        _incidents(org_id)
        .filter(resolved_at__gte=now - timedelta(days=DAYS), resolved_at__lte=now)
        .aggregate(
            total=Count("id"),
            reopened=Count("id", filter=Q(reopen_count__gt=0)),
            fcr=Count("id", filter=Q(first_contact_resolution=True)),
        )
    )
    total = row["total"] or 0
    return {
        "resolved": total,
        "reopened": row["reopened"] or 0,
        "first_contact": row["fcr"] or 0,
        "reopen_rate": _rate(row["reopened"] or 0, total),
        "fcr_rate": _rate(row["fcr"] or 0, total),
    }


def csat(org_id: int, now: datetime) -> dict[str, Any]:
    """Average rating (1-5) and count of surveys answered in the last 30 days; ``available``
    is False while the portal's surveys do not exist."""
    try:
        from opsdesk.portal.models import Survey  # the portal owns surveys
    except ImportError:
        return {"available": False, "average": None, "responses": 0}
    row = Survey.objects.filter(
        organization_id=org_id,
        rating__isnull=False,
        answered_at__gte=now - timedelta(days=DAYS),
        answered_at__lte=now,
    ).aggregate(average=Avg("rating"), responses=Count("id"))
    average = row["average"]
    return {
        "available": True,
        "average": round(float(average), 2) if average is not None else None,
        "responses": row["responses"] or 0,
    }


def _per_day(qs: Any, field: str, tz: ZoneInfo) -> dict[date, int]:
    rows = (
        qs.annotate(day=TruncDate(field, tzinfo=tz))
        .order_by()
        .values("day")
        .annotate(n=Count("id"))
    )
    out: dict[date, int] = {}
    for row in rows:
        day = row["day"]
        if isinstance(day, str):  # some SQLite builds hand back text
            day = date.fromisoformat(day[:10])
        out[day] = out.get(day, 0) + row["n"]
    return out


def trend(
    org_id: int,
    tz: ZoneInfo,
    now: datetime,
    days: int = DAYS,
    open_now: int | None = None,
) -> list[dict[str, Any]]:
    """One point per day (oldest first): opened, resolved, cancelled that day, and the open
    backlog at the end of the day (or now, for today)."""
    today = timezone.localtime(now, tz).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time.min, tzinfo=tz)
    incidents = _incidents(org_id)
    cancelled = Q(state=IncidentState.CANCELLED)
    window = Q(opened_at__gte=start, opened_at__lte=now)
    opened = _per_day(incidents.filter(window), "opened_at", tz)
    resolved = _per_day(
        incidents.filter(resolved_at__gte=start, resolved_at__lte=now), "resolved_at", tz
    )
    gone = _per_day(
        incidents.filter(
            cancelled, resolved_at__isnull=True, closed_at__gte=start, closed_at__lte=now
        ),
        "closed_at",
        tz,
    )
    # Walk back from today's open count (served by the queue index) instead of counting the
    # whole table before the window: open at the start = open now - opened since + closed
    # since.
    if open_now is None:
        open_now = incidents.filter(state__in=OPEN_STATES).count()
    backlog = open_now - sum(opened.values()) + sum(resolved.values()) + sum(gone.values())
    points = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        o, r, c = opened.get(day, 0), resolved.get(day, 0), gone.get(day, 0)
        backlog += o - r - c
        points.append({"day": day, "opened": o, "resolved": r, "cancelled": c, "backlog": backlog})
    return points


def dashboard(organization: Any, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    tz = ZoneInfo(getattr(organization, "time_zone", "") or "UTC")
    summary = open_summary(organization.pk, now)
    by_priority = open_by_priority(organization.pk, summary)
    open_total = sum(row["count"] for row in by_priority)
    return {
        "now": now,
        "days": DAYS,
        "open_total": open_total,
        "by_priority": by_priority,
        "ageing": ageing(organization.pk, now, summary),
        "rates": resolution_rates(organization.pk, now),
        "csat": csat(organization.pk, now),
        "trend": trend(organization.pk, tz, now, open_now=open_total),
    }
