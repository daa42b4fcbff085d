"""Change success rate and change-induced incident rate, per service, team, month or type.

* **Change success rate** = changes closed as *successful* or *successful with issues* over
  all changes closed (cancelled changes never count), by the day they closed.
* **Change-induced incident rate** = implemented changes with at least one *confirmed*
  induced incident (directly, or through a deployment made into that change) over all
  implemented changes, by the day implementation started (``actual_start``).

Both are counted in the database (one grouped query each) in the organisation's time zone;
the scorecard reads them through ``GET /api/v1/change-metrics``.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone

from opsdesk.changes.choices import ChangeState, ChangeType, CloseCode, InducedState
from opsdesk.changes.models import Change, InducedLink

GROUPS = ("service", "team", "month", "type")
SUCCESS_CODES = (CloseCode.SUCCESSFUL, CloseCode.SUCCESSFUL_WITH_ISSUES)
#: Months shown when no period is given (this one and the eleven before).
DEFAULT_MONTHS = 12
NONE_LABEL = {"service": "No service", "team": "No team", "type": "—", "month": "—"}


@dataclass
class MetricRow:
    key: str
    label: str
    closed: int = 0
    successful: int = 0
    implemented: int = 0
    induced: int = 0

    @property
    def success_rate(self) -> float | None:
        return round(100 * self.successful / self.closed, 1) if self.closed else None

    @property
    def induced_rate(self) -> float | None:
        return round(100 * self.induced / self.implemented, 1) if self.implemented else None

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "success_rate": self.success_rate,
            "induced_rate": self.induced_rate,
        }


@dataclass
class Metrics:
    organization_id: int
    start: date
    end: date
    by: str
    rows: list[MetricRow]
    total: MetricRow

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "start": self.start,
            "end": self.end,
            "by": self.by,
            "rows": [r.as_dict() for r in self.rows],
            "total": self.total.as_dict(),
        }


def default_period(zone: str, today: date | None = None) -> tuple[date, date]:
    today = today or timezone.now().astimezone(zoneinfo.ZoneInfo(zone)).date()
    first = today.replace(day=1)
    for _ in range(DEFAULT_MONTHS - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    return first, today


def _bounds(zone: str, start: date, end: date) -> tuple[datetime, datetime]:
    tz = zoneinfo.ZoneInfo(zone)
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _key_fields(by: str, date_field: str, zone: str) -> tuple[dict[str, Any], list[str]]:
    """Annotations and value names that group a change queryset by `by`."""
    if by == "service":
        return {}, ["service_id", "service__name"]
    if by == "team":
        return {}, ["assignment_group_id", "assignment_group__name"]
    if by == "type":
        return {}, ["change_type"]
    return {"month": TruncMonth(date_field, tzinfo=zoneinfo.ZoneInfo(zone))}, ["month"]


def _key(by: str, row: dict[str, Any]) -> tuple[str, str]:
    if by == "service":
        pk = row["service_id"]
        return (str(pk) if pk else "", row["service__name"] or NONE_LABEL["service"])
    if by == "team":
        pk = row["assignment_group_id"]
        return (str(pk) if pk else "", row["assignment_group__name"] or NONE_LABEL["team"])
    if by == "type":
        value = row["change_type"]
        return value, dict(ChangeType.choices).get(value, value)
    month = row["month"]
    if isinstance(month, datetime):
        month = month.date()
    return month.strftime("%Y-%m"), month.strftime("%b %Y")


def _months(start: date, end: date) -> list[tuple[str, str]]:
    out = []
    cursor = start.replace(day=1)
    while cursor <= end:
        out.append((cursor.strftime("%Y-%m"), cursor.strftime("%b %Y")))
        cursor = (cursor + timedelta(days=32)).replace(day=1)
    return out


def change_metrics(
    organization_id: int, start: date, end: date, by: str = "service", zone: str = "UTC"
) -> Metrics:
    """The two rates of one organisation between `start` and `end` (days, inclusive, in
    `zone`), one row per group; a month without changes is listed with empty rates."""
    if by not in GROUPS:
        raise ValueError(f"by must be one of {GROUPS}")
    low, high = _bounds(zone, start, end)
    base = Change.objects.filter(organization_id=organization_id)
    rows: dict[str, MetricRow] = {}
    if by == "month":
        for key, label in _months(start, end):
            rows[key] = MetricRow(key, label)

    annotations, names = _key_fields(by, "closed_at", zone)
    closed = (
        base.filter(state=ChangeState.CLOSED, closed_at__gte=low, closed_at__lt=high)
        .annotate(**annotations)
        .values(*names)
        .annotate(
            n=Count("pk"),
            ok=Count("pk", filter=Q(close_code__in=SUCCESS_CODES)),
        )
        .order_by()
    )
    for row in closed:
        key, label = _key(by, row)
        target = rows.setdefault(key, MetricRow(key, label))
        target.closed += row["n"]
        target.successful += row["ok"]

    confirmed = InducedLink.objects.filter(
        organization_id=organization_id, state=InducedState.CONFIRMED
    )
    caused = Q(pk__in=confirmed.filter(change__isnull=False).values("change_id")) | Q(
        pk__in=confirmed.filter(deployment__change__isnull=False).values("deployment__change_id")
    )
    annotations, names = _key_fields(by, "actual_start", zone)
    implemented = (
        base.filter(actual_start__gte=low, actual_start__lt=high)
        .exclude(state=ChangeState.CANCELLED)
        .annotate(**annotations)
        .values(*names)
        .annotate(n=Count("pk"), bad=Count("pk", filter=caused))
        .order_by()
    )
    for row in implemented:
        key, label = _key(by, row)
        target = rows.setdefault(key, MetricRow(key, label))
        target.implemented += row["n"]
        target.induced += row["bad"]

    listed = list(rows.values())
    if by != "month":
        listed.sort(key=lambda r: (-(r.closed + r.implemented), r.label))
    total = MetricRow("", "All changes")
    for r in listed:
        total.closed += r.closed
        total.successful += r.successful
        total.implemented += r.implemented
        total.induced += r.induced
    return Metrics(organization_id, start, end, by, listed, total)
