"""Service-level reporting: compliance, MTTA and MTTR, computed in the database.

Compliance is ``met / (met + breached)`` over *stopped* clocks (cancelled clocks, whose
ticket was cancelled, count for nothing). A clock counts in the period in which it
stopped, in the organisation's time zone. Every figure is one ``values().annotate()``
over the ``clock_report`` index (organization, kind, stopped_at); nothing loops over
clocks in Python except the bounded lists (breaches shown, and on SQLite the sorted
durations a percentile needs).

Callers check access first: these functions take organisation ids that the user may
read clocks of (``opsdesk.sla.api.reports`` and ``opsdesk.sla.views_reports`` do).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import TruncMonth

from opsdesk.core.errors import FieldError
from opsdesk.sla.choices import ClockStatus, Kind, Metric
from opsdesk.sla.models import Clock, Definition

GROUP_BY = ("service", "priority", "team", "supplier", "month", "definition")
KINDS = tuple(Kind.values)
METRICS = tuple(Metric.values)
KIND_LABELS = {Kind.SLA: "SLA", Kind.OLA: "OLA", Kind.UC: "UC"}
PRIORITY_LABELS = {1: "P1 Critical", 2: "P2 High", 3: "P3 Moderate", 4: "P4 Low", 5: "P5 Planning"}
#: Months of the compliance trend in a report (the report's month and the five before).
TREND_MONTHS = 6
#: Breaches listed in a report (all are counted).
BREACH_LIMIT = 200
#: Earliest and latest dates a report may cover (bounds the time-zone arithmetic).
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)

HOUR = 3600
DAY = 24 * HOUR
#: Histogram buckets of a duration: (label, lower bound inclusive, upper bound exclusive).
BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 h", 0, HOUR),
    ("1-4 h", HOUR, 4 * HOUR),
    ("4-8 h", 4 * HOUR, 8 * HOUR),
    ("8-24 h", 8 * HOUR, DAY),
    ("1-3 d", DAY, 3 * DAY),
    ("3-7 d", 3 * DAY, 7 * DAY),
    ("> 7 d", 7 * DAY, None),
)


def human_duration(seconds: float | None) -> str:
    """3 600 -> "1 h 00 m"; 200 000 -> "2 d 7 h"; None -> "—"."""
    if seconds is None:
        return "—"
    whole = round(float(seconds))
    days, rest = divmod(whole, DAY)
    hours, rest = divmod(rest, HOUR)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {rest // 60:02d} m"
    return f"{rest // 60} m"


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Days ``first``..``last`` (inclusive) in ``time_zone``, as aware datetimes
    ``start`` (inclusive) .. ``end`` (exclusive)."""

    first: date
    last: date
    time_zone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(), tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.last + timedelta(days=1), time(), tzinfo=self.zone)

    @property
    def is_month(self) -> bool:
        return self.first.day == 1 and self.last == month_end(self.first)

    @property
    def label(self) -> str:
        if self.is_month:
            return f"{self.first:%B %Y}"
        return f"{self.first:%d %b %Y} to {self.last:%d %b %Y}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "last": self.last,
            "start": self.start,
            "end": self.end,
            "time_zone": self.time_zone,
            "label": self.label,
        }


def month_end(first: date) -> date:
    return add_months(first, 1) - timedelta(days=1)


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_period(time_zone: str, month: date) -> Period:
    first = month.replace(day=1)
    check_dates(first, first, "month")
    return Period(first, month_end(first), time_zone)


def date_period(time_zone: str, first: date, last: date) -> Period:
    check_dates(first, last)
    return Period(first, last, time_zone)


def check_dates(first: date, last: date, field: str = "") -> None:
    """A 422 naming the field for dates out of range or in the wrong order."""
    for name, value in ((field or "start", first), (field or "end", last)):
        if not MIN_DATE <= value <= MAX_DATE:
            raise FieldError({name: f"Choose a date between {MIN_DATE} and {MAX_DATE}."})
    if last < first:
        raise FieldError({field or "end": "The end comes before the start."})


def parse_month(value: str, field: str = "month") -> date:
    """``2026-10`` -> date(2026, 10, 1), or a 422 naming the field."""
    try:
        year, month = (int(part) for part in value.strip().split("-"))
        found = date(year, month, 1)
    except (TypeError, ValueError):
        raise FieldError({field: "Give a month as YYYY-MM, e.g. 2026-10."}) from None
    check_dates(found, found, field)
    return found


def this_month(time_zone: str, now: datetime | None = None) -> date:
    from django.utils import timezone

    return (now or timezone.now()).astimezone(ZoneInfo(time_zone)).date().replace(day=1)


# --- SQL helpers ------------------------------------------------------------------------------


class Seconds(Func):
    """Wall seconds between two timestamps (later, earlier), on PostgreSQL and SQLite."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> Any:  # pragma: no cover
        raise NotImplementedError(f"Seconds is not written for {connection.vendor}")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::double precision",
            arg_joiner=" - ",
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Whole seconds: julianday() arithmetic is off by microseconds at bucket boundaries.
        (later, later_params), (earlier, earlier_params) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        sql = (
            f"(CAST(strftime('%%s', {later}) AS INTEGER)"
            f" - CAST(strftime('%%s', {earlier}) AS INTEGER))"
        )
        return sql, (*later_params, *earlier_params)


def _one_if(**lookups: Any) -> Sum:
    return Sum(Case(When(then=Value(1), **lookups), default=Value(0), output_field=IntegerField()))


# --- compliance -------------------------------------------------------------------------------


@dataclass
class ComplianceRow:
    key: Any
    label: str
    met: int = 0
    breached: int = 0

    @property
    def total(self) -> int:
        return self.met + self.breached

    @property
    def compliance(self) -> float | None:
        """Percent met, one decimal; None when nothing stopped."""
        return round(100.0 * self.met / self.total, 1) if self.total else None

    def add(self, met: int, breached: int) -> None:
        self.met += met
        self.breached += breached

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "met": self.met,
            "breached": self.breached,
            "total": self.total,
            "compliance": self.compliance,
        }


#: group_by -> the Clock column grouped on.
GROUP_COLUMNS = {
    "service": "service_id",
    "priority": "priority",
    "team": "team_id",
    "supplier": "vendor_id",
    "definition": "definition_id",
}
NONE_LABELS = {
    "service": "No service",
    "team": "No team",
    "supplier": "No supplier",
    "definition": "(deleted definition)",
}


def stopped_clocks(
    organization_ids: Iterable[int],
    start: datetime,
    end: datetime,
    *,
    kind: str | None = None,
    metric: str | None = Metric.RESOLUTION,
) -> QuerySet[Clock]:
    """Clocks that stopped in [start, end). ``kind__in`` keeps the query on the
    ``clock_report`` index (organization, kind, stopped_at) when no kind is chosen."""
    qs = Clock.objects.filter(
        organization_id__in=list(organization_ids),
        kind__in=[kind] if kind else list(KINDS),
        stopped_at__gte=start,
        stopped_at__lt=end,
        status=ClockStatus.STOPPED,
    )
    if metric:
        qs = qs.filter(metric=metric)
    return qs


def _counts() -> dict[str, Any]:
    # COUNT(*), not COUNT(id): the id is not in the report index, so counting it would read
    # the table instead of the index alone.
    return {"n": Count("*"), "n_breached": _one_if(breached=True)}


def _check_choices(group_by: str, kind: str | None, metric: str | None) -> None:
    if group_by not in GROUP_BY:
        raise FieldError({"group_by": f"Choose one of {', '.join(GROUP_BY)}."})
    if kind is not None and kind not in KINDS:
        raise FieldError({"kind": f"Choose one of {', '.join(KINDS)}."})
    if metric is not None and metric not in METRICS:
        raise FieldError({"metric": f"Choose one of {', '.join(METRICS)}."})


def _bounds(
    start: date | datetime, end: date | datetime, time_zone: str
) -> tuple[datetime, datetime]:
    """Dates are days in ``time_zone`` (``end`` inclusive); datetimes are instants (``end``
    exclusive)."""
    if not isinstance(start, datetime):
        start = datetime.combine(start, time(), tzinfo=ZoneInfo(time_zone))
    if not isinstance(end, datetime):
        end = datetime.combine(end + timedelta(days=1), time(), tzinfo=ZoneInfo(time_zone))
    return start, end


def _zones(organization_ids: Iterable[int]) -> dict[str, list[int]]:
    from opsdesk.core.models import Organization

    zones: dict[str, list[int]] = defaultdict(list)
    for pk, tz in Organization.objects.filter(pk__in=list(organization_ids)).values_list(
        "pk", "time_zone"
    ):
        zones[tz or "UTC"].append(pk)
    return zones


def compliance(
    organization_ids: Iterable[int],
    start: date | datetime,
    end: date | datetime,
    group_by: str,
    kind: str | None = None,
    metric: str | None = "resolution",
) -> list[ComplianceRow]:
    """Met and breached stopped clocks per group, over one or more organisations.

    ``team`` is the clock's team: an OLA clock's own team, and for SLA and UC clocks the
    ticket's assignment group when the clock stopped (the group that resolved it).
    ``supplier`` groups UC clocks (the only ones with a supplier) unless ``kind`` says
    otherwise. ``month`` is the month in each organisation's time zone, as ``YYYY-MM``.
    ``metric=None`` counts response and resolution clocks together.
    """
    _check_choices(group_by, kind, metric)
    if group_by == "supplier" and kind is None:
        kind = Kind.UC
    rows: dict[Any, ComplianceRow] = {}
    for time_zone, ids in _zones(organization_ids).items():
        lo, hi = _bounds(start, end, time_zone)
        qs = stopped_clocks(ids, lo, hi, kind=kind, metric=metric)
        if group_by == "month":
            grouped = (
                qs.annotate(key=TruncMonth("stopped_at", tzinfo=ZoneInfo(time_zone)))
                .values("key")
                .annotate(**_counts())
                .order_by()
            )
        else:
            grouped = qs.values(key=F(GROUP_COLUMNS[group_by])).annotate(**_counts()).order_by()
        for item in grouped:
            key = item["key"]
            if group_by == "month":
                key = f"{key:%Y-%m}"
            row = rows.setdefault(key, ComplianceRow(key, ""))
            row.add(item["n"] - item["n_breached"], item["n_breached"])
    _label(group_by, rows)
    return _ordered(group_by, rows)


def _label(group_by: str, rows: dict[Any, ComplianceRow]) -> None:
    from opsdesk.accounts.models import Team
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.vendors.models import Vendor

    models = {
        "service": ConfigurationItem,
        "team": Team,
        "supplier": Vendor,
        "definition": Definition,
    }
    names: dict[Any, str] = {}
    if group_by in models:
        ids = [k for k in rows if k is not None]
        names = dict(models[group_by].objects.filter(pk__in=ids).values_list("pk", "name"))
    for key, row in rows.items():
        if group_by == "priority":
            row.label = PRIORITY_LABELS.get(key, f"P{key}")
        elif group_by == "month":
            row.label = f"{date.fromisoformat(key + '-01'):%b %Y}"
        elif key is None:
            row.label = NONE_LABELS[group_by]
        else:
            row.label = names.get(key, NONE_LABELS.get(group_by, str(key)))


def _ordered(group_by: str, rows: dict[Any, ComplianceRow]) -> list[ComplianceRow]:
    if group_by in ("priority", "month"):
        return [rows[k] for k in sorted(rows)]
    return sorted(rows.values(), key=lambda r: (r.key is None, r.label.lower(), str(r.key)))


def totals(
    organization_ids: Iterable[int],
    start: date | datetime,
    end: date | datetime,
    *,
    metric: str | None = Metric.RESOLUTION,
) -> dict[str, ComplianceRow]:
    """Compliance per kind (sla, ola, uc) over the period: one query per time zone."""
    out = {k: ComplianceRow(k, KIND_LABELS[k]) for k in KINDS}
    for time_zone, ids in _zones(organization_ids).items():
        lo, hi = _bounds(start, end, time_zone)
        for item in (
            stopped_clocks(ids, lo, hi, metric=metric)
            .values("kind")
            .annotate(**_counts())
            .order_by()
        ):
            out[item["kind"]].add(item["n"] - item["n_breached"], item["n_breached"])
    return out


@dataclass
class TrendPoint:
    month: date
    by_kind: dict[str, ComplianceRow]

    @property
    def label(self) -> str:
        return f"{self.month:%b %Y}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": f"{self.month:%Y-%m}",
            "label": self.label,
            **{k: row.as_dict() for k, row in self.by_kind.items()},
        }


def trend(
    organization_id: int, time_zone: str, last_month: date, months: int = TREND_MONTHS
) -> list[TrendPoint]:
    """Resolution compliance per kind for ``months`` months ending with ``last_month``: one
    query grouped by (kind, month)."""
    first = add_months(last_month, -(months - 1))
    period = Period(first, month_end(last_month), time_zone)
    points = {
        add_months(first, i): TrendPoint(
            add_months(first, i), {k: ComplianceRow(k, KIND_LABELS[k]) for k in KINDS}
        )
        for i in range(months)
    }
    # One pass over the six months: a pair of filtered counts per month and kind (month
    # bounds computed here in the organisation's zone), not a time-zone conversion per row.
    aggregates: dict[str, Any] = {}
    bounds = {}
    for i in range(months):
        month = add_months(first, i)
        edge = month_period(time_zone, month)
        bounds[i] = month
        within = Q(stopped_at__gte=edge.start, stopped_at__lt=edge.end)
        # stopped_at (set within the month) rather than id: it is in the report index.
        aggregates[f"n{i}"] = Count("stopped_at", filter=within)
        aggregates[f"b{i}"] = Count("stopped_at", filter=within & Q(breached=True))
    grouped = (
        stopped_clocks([organization_id], period.start, period.end)
        .values("kind")
        .annotate(**aggregates)
        .order_by()
    )
    for item in grouped:
        for i, month in bounds.items():
            n, b = item[f"n{i}"], item[f"b{i}"]
            points[month].by_kind[item["kind"]].add(n - b, b)
    return [points[k] for k in sorted(points)]


# --- MTTA / MTTR ------------------------------------------------------------------------------


@dataclass
class Distribution:
    """Durations in seconds: count, mean, median, 90th percentile and a histogram over
    ``BUCKETS``."""

    count: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    histogram: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))

    @property
    def mean_text(self) -> str:
        return human_duration(self.mean)

    @property
    def median_text(self) -> str:
        return human_duration(self.median)

    @property
    def p90_text(self) -> str:
        return human_duration(self.p90)

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean_seconds": _round(self.mean),
            "median_seconds": _round(self.median),
            "p90_seconds": _round(self.p90),
            "histogram": [
                {"bucket": label, "count": n}
                for (label, _lo, _hi), n in zip(BUCKETS, self.histogram, strict=True)
            ],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class Durations:
    """One measure (e.g. MTTR in wall time): overall and per priority."""

    name: str
    basis: str
    overall: Distribution
    by_priority: dict[int, Distribution]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "basis": self.basis,
            "overall": self.overall.as_dict(),
            "by_priority": [
                {"priority": p, "label": PRIORITY_LABELS.get(p, f"P{p}"), **d.as_dict()}
                for p, d in sorted(self.by_priority.items())
            ],
        }


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Linear interpolation between closest ranks: what ``percentile_cont`` computes."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (position - lower)


def distribution(qs: QuerySet[Any], duration: Any) -> tuple[Distribution, dict[int, Distribution]]:
    """(overall, per priority) of ``duration`` over ``qs`` (rows with a ``priority``).

    On PostgreSQL one query answers everything (``GROUPING SETS ((priority), ())`` with
    ``percentile_cont`` and filtered counts per bucket). On SQLite one query fetches the
    (priority, duration) pairs and the figures are worked out from them; percentiles are
    the same linear interpolation ``percentile_cont`` computes."""
    pairs = qs.annotate(dur=duration).filter(dur__isnull=False, dur__gte=0)
    if connection.vendor == "postgresql":
        return _distribution_sql(pairs.values_list("priority", "dur"))
    per: dict[int, list[float]] = defaultdict(list)
    everything: list[float] = []
    for prio, value in pairs.values_list("priority", "dur"):
        seconds = float(value.total_seconds() if hasattr(value, "total_seconds") else value)
        per[prio].append(seconds)
        everything.append(seconds)
    everything.sort()
    return _summarise(everything), {p: _summarise(sorted(v)) for p, v in sorted(per.items())}


_DISTRIBUTION_HEAD = (
    "SELECT d.priority, GROUPING(d.priority), COUNT(*), AVG(d.dur), "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY d.dur), "
    "percentile_cont(0.9) WITHIN GROUP (ORDER BY d.dur),"
)


def _distribution_sql(pairs: QuerySet[Any]) -> tuple[Distribution, dict[int, Distribution]]:
    inner, params = pairs.query.sql_with_params()
    buckets = ", ".join(
        f"COUNT(*) FILTER (WHERE d.dur >= {lo}" + (f" AND d.dur < {hi})" if hi else ")")
        for _label, lo, hi in BUCKETS
    )
    # Built from constants and the ORM's own parametrised SQL.
    sql = " ".join(
        (
            _DISTRIBUTION_HEAD,
            buckets,
            "FROM (",
            inner,
            ") AS d (priority, dur) GROUP BY GROUPING SETS ((d.priority), ())",
        )
    )
    overall = Distribution()
    by_priority: dict[int, Distribution] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for prio, grouping, n, mean, p50, p90, *hist in cursor.fetchall():
            found = Distribution(
                count=n,
                mean=float(mean) if n else None,
                median=float(p50) if p50 is not None else None,
                p90=float(p90) if p90 is not None else None,
                histogram=[int(h) for h in hist],
            )
            if grouping:
                overall = found
            else:
                by_priority[prio] = found
    return overall, dict(sorted(by_priority.items()))


def _summarise(ordered: list[float]) -> Distribution:
    """The distribution of durations already sorted ascending."""
    found = Distribution(count=len(ordered))
    if not ordered:
        return found
    found.mean = sum(ordered) / len(ordered)
    found.median, found.p90 = percentile(ordered, 0.5), percentile(ordered, 0.9)
    for value in ordered:
        for i, (_label, lo, hi) in enumerate(BUCKETS):
            if value >= lo and (hi is None or value < hi):
                found.histogram[i] += 1
                break
    return found


def mttr(
    organization_ids: Iterable[int], start: datetime, end: datetime, priority: int | None = None
) -> list[Durations]:
    """Mean time to resolve, two ways: wall time from opened to resolved over incidents
    resolved in the period, and business time (the elapsed time of SLA resolution clocks
    that stopped in the period; a ticket under two SLAs counts under each)."""
    from opsdesk.servicedesk.models import Incident

    ids = list(organization_ids)
    resolved = Incident.objects.filter(
        organization_id__in=ids, resolved_at__gte=start, resolved_at__lt=end
    )
    clocks = stopped_clocks(ids, start, end, kind=Kind.SLA, metric=Metric.RESOLUTION)
    if priority is not None:
        resolved, clocks = resolved.filter(priority=priority), clocks.filter(priority=priority)
    wall = distribution(resolved, Seconds(F("resolved_at"), F("opened_at")))
    business = distribution(clocks, F("elapsed_seconds"))
    return [
        Durations("MTTR", "wall time, opened to resolved", *wall),
        Durations("MTTR", "business time on the SLA calendar", *business),
    ]


def mtta(
    organization_ids: Iterable[int], start: datetime, end: datetime, priority: int | None = None
) -> list[Durations]:
    """Mean time to acknowledge: SLA response clocks that stopped in the period (stopped by
    the first response: leaving "new", an assignee, or a public reply), in wall time from
    the clock's start and in business time. Without response clocks, the first assignment
    of incidents first assigned in the period."""
    from opsdesk.servicedesk.models import Incident

    ids = list(organization_ids)
    clocks = stopped_clocks(ids, start, end, kind=Kind.SLA, metric=Metric.RESPONSE)
    if priority is not None:
        clocks = clocks.filter(priority=priority)
    if clocks.exists():
        return [
            Durations(
                "MTTA",
                "wall time, to the first response",
                *distribution(clocks, Seconds(F("stopped_at"), F("started_at"))),
            ),
            Durations(
                "MTTA",
                "business time on the SLA calendar",
                *distribution(clocks, F("elapsed_seconds")),
            ),
        ]
    assigned = Incident.objects.filter(
        organization_id__in=ids, first_assigned_at__gte=start, first_assigned_at__lt=end
    )
    if priority is not None:
        assigned = assigned.filter(priority=priority)
    return [
        Durations(
            "MTTA",
            "wall time, opened to first assignment",
            *distribution(assigned, Seconds(F("first_assigned_at"), F("opened_at"))),
        )
    ]


# --- breaches ---------------------------------------------------------------------------------


@dataclass
class Breach:
    clock_id: int
    subject_id: int
    number: str
    definition: str
    kind: str
    metric: str
    service: str
    priority: int
    team: str
    supplier: str
    target_seconds: int
    elapsed_seconds: int
    stopped_at: datetime | None
    breached_at: datetime | None
    held_by: list[str] = field(default_factory=list)
    why: str = ""

    @property
    def over_seconds(self) -> int:
        return max(self.elapsed_seconds - self.target_seconds, 0)

    @property
    def over_text(self) -> str:
        return human_duration(self.over_seconds)

    @property
    def target_text(self) -> str:
        return human_duration(self.target_seconds)

    @property
    def over_percent(self) -> float | None:
        if not self.target_seconds:
            return None
        return round(100.0 * self.over_seconds / self.target_seconds, 1)

    def as_dict(self) -> dict[str, Any]:
        return {
            "clock_id": self.clock_id,
            "incident_id": self.subject_id,
            "number": self.number,
            "definition": self.definition,
            "kind": self.kind,
            "metric": self.metric,
            "service": self.service,
            "priority": self.priority,
            "team": self.team,
            "supplier": self.supplier,
            "target_seconds": self.target_seconds,
            "elapsed_seconds": self.elapsed_seconds,
            "over_seconds": self.over_seconds,
            "over_percent": self.over_percent,
            "stopped_at": self.stopped_at,
            "breached_at": self.breached_at,
            "held_by": self.held_by,
            "why": self.why,
        }


def breaches(
    organization_id: int,
    start: datetime,
    end: datetime,
    *,
    kind: str | None = Kind.SLA,
    limit: int = BREACH_LIMIT,
) -> tuple[int, list[Breach]]:
    """(how many, the worst ``limit`` by overrun) breached clocks stopped in the period.

    Who held the ticket, cheaply: the underpinning agreements of the same ticket that
    breached too (an OLA's team, a UC's supplier), else the assignment group that resolved
    it. ``attribute_breaches`` refines this with the chain's replay."""
    qs = stopped_clocks([organization_id], start, end, kind=kind, metric=None).filter(breached=True)
    count = qs.count()
    rows = list(
        qs.annotate(over=F("elapsed_seconds") - F("target_seconds"))
        .order_by("-over", "number", "pk")
        .values(
            "pk",
            "subject_id",
            "number",
            "definition__name",
            "kind",
            "metric",
            "service__name",
            "priority",
            "team__name",
            "vendor__name",
            "target_seconds",
            "elapsed_seconds",
            "stopped_at",
            "breached_at",
        )[:limit]
    )
    found = [
        Breach(
            clock_id=r["pk"],
            subject_id=r["subject_id"],
            number=r["number"],
            definition=r["definition__name"] or "",
            kind=r["kind"],
            metric=r["metric"],
            service=r["service__name"] or "",
            priority=r["priority"],
            team=r["team__name"] or "",
            supplier=r["vendor__name"] or "",
            target_seconds=r["target_seconds"],
            elapsed_seconds=r["elapsed_seconds"],
            stopped_at=r["stopped_at"],
            breached_at=r["breached_at"],
        )
        for r in rows
    ]
    _attribute(organization_id, found)
    return count, found


def _attribute(organization_id: int, found: list[Breach]) -> None:
    if not found:
        return
    subjects = {b.subject_id for b in found}
    underpinning: dict[int, list[str]] = defaultdict(list)
    for sid, kind, team, vendor in (
        Clock.objects.filter(
            organization_id=organization_id,
            subject_type="incident",
            subject_id__in=subjects,
            kind__in=[Kind.OLA, Kind.UC],
            breached=True,
        )
        .order_by("subject_id", "kind", "pk")
        .values_list("subject_id", "kind", "team__name", "vendor__name")
    ):
        name = f"{vendor} (UC)" if kind == Kind.UC else f"{team} (OLA)"
        if name not in underpinning[sid]:
            underpinning[sid].append(name)
    for b in found:
        if b.kind == Kind.SLA and underpinning.get(b.subject_id):
            b.held_by = underpinning[b.subject_id]
        elif b.kind == Kind.UC and b.supplier:
            b.held_by = [b.supplier]
        else:
            b.held_by = [b.team] if b.team else []


#: Breaches whose attribution replays the ticket through the chain (the worst ones).
CHAIN_LIMIT = 50


def attribute_breaches(report: ComplianceReport, limit: int = CHAIN_LIMIT) -> ComplianceReport:
    """Who held each of the worst ``limit`` SLA breaches when the time ran out, from
    ``opsdesk.sla.chain.attribute`` (a replay of the ticket, so not part of the aggregate
    report): the party whose own OLA/UC ran over, else the ones that used the most time.
    Without the chain module the report keeps the cheaper attribution."""
    try:
        from opsdesk.sla.chain import attribute
    except ImportError:  # pragma: no cover - the chain ships with the SLA app
        return report
    from opsdesk.servicedesk.models import Incident

    listed = [b for b in report.breaches if b.kind == Kind.SLA][:limit]
    incidents = Incident.objects.filter(
        organization_id=report.organization_id, pk__in={b.subject_id for b in listed}
    ).select_related("service", "ci")
    by_incident = {i.pk: attribute(i) for i in incidents}
    for b in listed:
        found = by_incident.get(b.subject_id)
        clock = next(
            (
                c
                for c in (found.clocks if found else [])
                if c.definition_name == b.definition and c.metric == b.metric
            ),
            None,
        )
        if clock is None:
            continue
        if clock.culprit is not None:
            culprit = clock.culprit
            b.held_by = [
                culprit.name
                if culprit.kind == "unassigned"
                else f"{culprit.name} ({culprit.agreement})"
            ]
        elif clock.shares:
            ranked = sorted(clock.shares, key=lambda s: -s.seconds)
            b.held_by = [s.name for s in ranked[:2]]
        b.why = clock.summary
    return report


# --- the report -------------------------------------------------------------------------------


@dataclass
class KindFigures:
    kind: str
    label: str
    resolution: ComplianceRow
    response: ComplianceRow


@dataclass
class ComplianceReport:
    """One organisation's service-level report for a period (usually a month)."""

    organization_id: int
    organization: str
    slug: str
    period: Period
    definitions: list[dict[str, Any]]
    kinds: list[KindFigures]
    by_service: list[ComplianceRow]
    by_priority: list[ComplianceRow]
    by_team: list[ComplianceRow]
    by_supplier: list[ComplianceRow]
    by_definition: list[ComplianceRow]
    trend: list[TrendPoint]
    breach_count: int
    breaches: list[Breach]
    mtta: list[Durations]
    mttr: list[Durations]

    @property
    def overall(self) -> ComplianceRow:
        """SLA resolution compliance: the headline figure."""
        return self.kinds[0].resolution

    def as_dict(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "organization": self.organization,
            "period": self.period.as_dict(),
            "definitions": self.definitions,
            "overall": self.overall.as_dict(),
            "kinds": [
                {
                    "kind": k.kind,
                    "label": k.label,
                    "resolution": k.resolution.as_dict(),
                    "response": k.response.as_dict(),
                }
                for k in self.kinds
            ],
            "by_service": [r.as_dict() for r in self.by_service],
            "by_priority": [r.as_dict() for r in self.by_priority],
            "by_team": [r.as_dict() for r in self.by_team],
            "by_supplier": [r.as_dict() for r in self.by_supplier],
            "by_definition": [r.as_dict() for r in self.by_definition],
            "trend": [p.as_dict() for p in self.trend],
            "breach_count": self.breach_count,
            "breaches": [b.as_dict() for b in self.breaches],
            "mtta": [d.as_dict() for d in self.mtta],
            "mttr": [d.as_dict() for d in self.mttr],
        }


def definitions_in_force(organization_id: int, start: datetime, end: datetime) -> list[dict]:
    """Active definitions, and any other whose clocks stopped in the period."""
    used = set(
        stopped_clocks([organization_id], start, end, metric=None)
        .values_list("definition_id", flat=True)
        .distinct()
        .order_by()
    )
    out = []
    for d in (
        Definition.objects.filter(organization_id=organization_id)
        .select_related("team", "vendor")
        .order_by("kind", "name")
    ):
        if not d.is_active and d.pk not in used:
            continue
        out.append(
            {
                "id": d.pk,
                "name": d.name,
                "kind": d.kind,
                "kind_label": KIND_LABELS.get(d.kind, d.kind),
                "party": d.customer
                if d.kind == Kind.SLA
                else (d.team.name if d.team_id else d.vendor.name if d.vendor_id else ""),
                "is_active": d.is_active,
                "response_minutes": {str(k): v for k, v in (d.response_minutes or {}).items()},
                "resolution_minutes": {str(k): v for k, v in (d.resolution_minutes or {}).items()},
            }
        )
    return out


#: The columns one grouped query returns for every breakdown of a report.
_GROUP_FIELDS = (
    "kind",
    "metric",
    "service_id",
    "priority",
    "team_id",
    "vendor_id",
    "definition_id",
)


def _groups(ids: list[int], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Met/breached counts of the period's stopped clocks per combination of kind, metric,
    service, priority, team, supplier and definition: one scan of the period, from which
    every breakdown of the report is summed in Python (a few thousand groups at most)."""
    return list(
        stopped_clocks(ids, start, end, metric=None)
        .values(*_GROUP_FIELDS)
        .annotate(**_counts())
        .order_by()
    )


def _kind_totals(groups: list[dict[str, Any]], metric: str) -> dict[str, ComplianceRow]:
    out = {k: ComplianceRow(k, KIND_LABELS[k]) for k in KINDS}
    for g in groups:
        if g["metric"] == metric and g["kind"] in out:
            out[g["kind"]].add(g["n"] - g["n_breached"], g["n_breached"])
    return out


def _breakdown(
    groups: list[dict[str, Any]], group_by: str, kind: str | None, metric: str | None
) -> list[ComplianceRow]:
    """What `compliance` answers for one organisation, summed from `_groups`."""
    column = GROUP_COLUMNS[group_by]
    rows: dict[Any, ComplianceRow] = {}
    for g in groups:
        if (kind and g["kind"] != kind) or (metric and g["metric"] != metric):
            continue
        row = rows.setdefault(g[column], ComplianceRow(g[column], ""))
        row.add(g["n"] - g["n_breached"], g["n_breached"])
    _label(group_by, rows)
    return _ordered(group_by, rows)


@contextmanager
def _reporting() -> Iterator[None]:
    """One transaction for a report's queries; on PostgreSQL without JIT compilation (it
    spent some 50 ms compiling each of these aggregates, more than many take to run) and
    with room to sort and hash a month's clocks in memory."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '32MB'")
        yield


def service_report(*, organization_id: int, first: date, last: date) -> ComplianceReport:
    """The report for days ``first``..``last`` in the organisation's time zone; its trend
    covers the six months ending with the month of ``last``."""
    with _reporting():
        return _service_report(organization_id, first, last)


def _service_report(organization_id: int, first: date, last: date) -> ComplianceReport:
    from opsdesk.core.models import Organization

    org = Organization.objects.get(pk=organization_id)
    period = date_period(org.time_zone or "UTC", first, last)
    start, end, ids = period.start, period.end, [org.pk]
    groups = _groups(ids, start, end)
    resolution = _kind_totals(groups, Metric.RESOLUTION)
    response = _kind_totals(groups, Metric.RESPONSE)
    count, listed = breaches(org.pk, start, end)
    return ComplianceReport(
        organization_id=org.pk,
        organization=org.name,
        slug=org.slug,
        period=period,
        definitions=definitions_in_force(org.pk, start, end),
        kinds=[KindFigures(k, KIND_LABELS[k], resolution[k], response[k]) for k in KINDS],
        by_service=_breakdown(groups, "service", Kind.SLA, Metric.RESOLUTION),
        by_priority=_breakdown(groups, "priority", Kind.SLA, Metric.RESOLUTION),
        by_team=_breakdown(groups, "team", Kind.OLA, Metric.RESOLUTION),
        by_supplier=_breakdown(groups, "supplier", Kind.UC, Metric.RESOLUTION),
        by_definition=_breakdown(groups, "definition", None, None),
        trend=trend(org.pk, period.time_zone, last.replace(day=1)),
        breach_count=count,
        breaches=listed,
        mtta=mtta(ids, start, end),
        mttr=mttr(ids, start, end),
    )


def compliance_report(*, organization_id: int, month: date) -> ComplianceReport:
    """The month's report (``month`` = its first day): clocks that stopped in that month in
    the organisation's time zone."""
    first = month.replace(day=1)
    check_dates(first, first, "month")
    return service_report(organization_id=organization_id, first=first, last=month_end(first))


def customer_report(*, organization_id: int, first: date, last: date) -> ComplianceReport:
    """What the page, the downloads and the API show: the report, with the worst breaches
    attributed through the chain."""
    return attribute_breaches(
        service_report(organization_id=organization_id, first=first, last=last)
    )
