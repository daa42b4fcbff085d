"""Reads of SLA clocks, always restricted to what the user may see, and how a stored clock
looks to a person right now (status, business time left, percent, tone).

Clocks are read by the roles that work tickets (agents, managers, auditors, admins):
`Clock.role_actions` gives requesters nothing, so a requester gets no panel, a 404 on the
explain page and on ``GET /incidents/{id}/sla``, and an empty clock list.

Business time left is counted on the clock's calendar, which is loaded with the clock
(``select_related("calendar")``) and compiled once per (id, version): a page of clocks
costs one query whatever its length.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from opsdesk.core.calendars import Calendar, always_open
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.selectors import access_incident
from opsdesk.sla.calendars import compiled
from opsdesk.sla.choices import LIVE_STATUSES, ClockStatus, Kind, Metric
from opsdesk.sla.models import Clock

#: Orderings of a clock list: risk = breach probability (highest first, unknown last), then
#: the earliest due time.
ORDERINGS = ("risk", "due", "-due", "probability", "-probability")


@dataclass
class ClockFilter:
    """Every filter of a clock list; all optional, combined with AND."""

    organization: int | None = None
    status: list[str] | None = None  # values of ClockStatus, or "live" (the default)
    breached: bool | None = None
    kind: list[str] | None = None
    metric: str | None = None
    team: int | None = None
    service: int | None = None
    priority: list[int] | None = None
    breaching_within_hours: float | None = None
    min_probability: float | None = None
    ordering: str = "risk"

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


def breached_q(now: datetime) -> Q:
    """Clocks breached as of `now`: recorded so, or running past their due time (the sweep
    may not have recorded the breach yet)."""
    return Q(breached=True) | Q(status=ClockStatus.RUNNING, due_at__lte=now)


def _statuses(values: list[str]) -> list[str]:
    out: list[str] = []
    for value in values:
        if value == "live":
            out.extend(LIVE_STATUSES)
        elif value in ClockStatus.values:
            out.append(value)
        else:
            allowed = ", ".join(["live", *ClockStatus.values])
            raise FieldError({"status": f"Unknown status {value!r}; one of: {allowed}."})
    return out


def order_clocks(qs: QuerySet[Clock], ordering: str) -> QuerySet[Clock]:
    if ordering not in ORDERINGS:
        raise FieldError(
            {"ordering": f"Unknown ordering {ordering!r}; one of: {', '.join(ORDERINGS)}."}
        )
    due = F("due_at").asc(nulls_last=True)
    probability = F("breach_probability").desc(nulls_last=True)
    if ordering == "due":
        return qs.order_by(due, "pk")
    if ordering == "-due":
        return qs.order_by(F("due_at").desc(nulls_last=True), "-pk")
    if ordering == "probability":
        return qs.order_by(F("breach_probability").asc(nulls_last=True), due, "pk")
    return qs.order_by(probability, due, "pk")


def clocks(
    user: Any, filters: ClockFilter | None = None, *, now: datetime | None = None
) -> QuerySet[Clock]:
    """The clocks `user` may see, filtered and ordered (live clocks unless a status is
    given)."""
    f = filters or ClockFilter()
    now = now or timezone.now()
    qs = Clock.objects.restrict(user, Action.VIEW)
    if f.organization is not None:
        qs = qs.filter(organization_id=f.organization)
    qs = qs.filter(status__in=_statuses(f.status or ["live"]))
    if f.breached is not None:
        qs = qs.filter(breached_q(now)) if f.breached else qs.exclude(breached_q(now))
    if f.kind:
        bad = [k for k in f.kind if k not in Kind.values]
        if bad:
            raise FieldError(
                {"kind": f"Unknown kind {bad[0]!r}; one of: {', '.join(Kind.values)}."}
            )
        qs = qs.filter(kind__in=f.kind)
    if f.metric:
        if f.metric not in Metric.values:
            raise FieldError(
                {"metric": f"Unknown metric {f.metric!r}; one of: {', '.join(Metric.values)}."}
            )
        qs = qs.filter(metric=f.metric)
    if f.team is not None:
        qs = qs.filter(team_id=f.team)
    if f.service is not None:
        qs = qs.filter(service_id=f.service)
    if f.priority:
        if any(p not in (1, 2, 3, 4, 5) for p in f.priority):
            raise FieldError({"priority": "Priorities are 1 to 5."})
        qs = qs.filter(priority__in=f.priority)
    if f.breaching_within_hours is not None:
        hours = f.breaching_within_hours
        if not 0 < hours <= 24 * 366:
            raise FieldError({"breaching_within_hours": "Give between 0 and 8784 hours."})
        qs = qs.filter(
            status=ClockStatus.RUNNING,
            breached=False,
            due_at__gt=now,
            due_at__lte=now + timedelta(hours=hours),
        )
    if f.min_probability is not None:
        if not 0 <= f.min_probability <= 1:
            raise FieldError({"min_probability": "A probability lies between 0 and 1."})
        qs = qs.filter(breach_probability__gte=f.min_probability)
    return order_clocks(qs, f.ordering or "risk")


def clock_list_related(qs: QuerySet[Clock]) -> QuerySet[Clock]:
    """What a clock row shows, loaded without a query per row."""
    return qs.select_related("definition", "calendar", "team", "service")


def can_see_clocks(user: Any, organization_id: int) -> bool:
    return has_permission(user, Clock, Action.VIEW, organization_id)


def access_incident_clocks(user: Any, incident_id: Any) -> Incident:
    """The incident whose clocks `user` asks for, or NotFound: not visible, or the user's role
    does not read clocks (requesters) — the same 404 either way."""
    incident = access_incident(user, incident_id)
    if not can_see_clocks(user, incident.organization_id):
        raise NotFound("No incident matches the given id.")
    return incident


def incident_clocks(user: Any, incident: Incident) -> list[Clock]:
    """The stored clocks of one incident that `user` may see (SLA first, then OLA, UC)."""
    order = {Kind.SLA: 0, Kind.OLA: 1, Kind.UC: 2}
    rows = list(
        Clock.objects.restrict(user, Action.VIEW)
        .filter(subject_type="incident", subject_id=incident.pk)
        .select_related("definition", "calendar")
    )
    rows.sort(key=lambda c: (order.get(c.kind, 9), c.definition.name, c.metric != "response"))
    return rows


# --- how a clock looks now ---------------------------------------------------------------------


def duration(seconds: float) -> str:
    """3 h 20 min, 45 min, 27 h: a span of (business) time, at a glance."""
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    if hours < 10 and rest:
        return f"{hours} h {rest} min"
    return f"{hours} h"


def wall_duration(seconds: float) -> str:
    """Like `duration`, in days past two days (for "breached 3 d ago")."""
    if abs(seconds) >= 48 * 3600:
        return f"{int(abs(seconds) // 86400)} d"
    return duration(seconds)


def calendar_of(clock: Clock) -> Calendar:
    """The compiled calendar of a clock loaded with ``select_related("calendar")``."""
    stored = clock.calendar if clock.calendar_id else None
    return compiled(stored) if stored is not None else always_open()


STATUS_LABELS = {
    ClockStatus.NOT_STARTED: "Not started",
    ClockStatus.RUNNING: "Running",
    ClockStatus.PAUSED: "Paused",
    ClockStatus.WAITING: "With another party",
    ClockStatus.STOPPED: "Met",
    ClockStatus.CANCELLED: "Cancelled",
}


@dataclass
class ClockState:
    """A stored clock as it stands at `now`, for badges, panels and the queue."""

    clock: Clock
    now: datetime
    label: str  # Running, Paused, Met, Breached, With another party, ...
    tone: str  # ok, warning, danger, breached, paused, met, muted
    percent: float  # of the target used, as of now
    remaining: float  # business seconds left (negative: overdue)
    text: str  # "due in 3 h 20 min", "breached 1 h ago", "paused, 2 h left", "met"
    business_hours: bool  # counted on a calendar with closed hours (not 24x7)
    live: bool  # running, paused or waiting
    breached: bool

    @property
    def countdown(self) -> bool:
        """The browser may count this clock down in wall time: it runs on a 24x7 calendar,
        where wall time is business time."""
        return self.clock.status == ClockStatus.RUNNING and not self.business_hours

    @property
    def thresholds(self) -> list[int]:
        return sorted(
            {int(t) for t in self.clock.definition.warning_thresholds or [] if 0 < int(t) < 100}
        )

    @property
    def bar_percent(self) -> float:
        return max(0.0, min(self.percent, 100.0))

    @property
    def urgency(self) -> tuple[int, int, float]:
        """Sort key: breached first, then running, then least time left."""
        return (
            0 if self.breached else 1,
            0 if self.clock.status == "running" else 1,
            self.remaining,
        )


def clock_state(clock: Clock, now: datetime | None = None) -> ClockState:
    now = now or timezone.now()
    cal = calendar_of(clock)
    business = not cal.spec.always_open
    target = clock.target_seconds or 1
    status = clock.status
    live = status in LIVE_STATUSES
    if status == ClockStatus.RUNNING and clock.due_at is not None:
        if now <= clock.due_at:
            remaining = cal.business_seconds(now, clock.due_at)
        else:
            remaining = -cal.business_seconds(clock.due_at, now)
    else:
        remaining = float(clock.target_seconds - clock.elapsed_seconds)
    used = clock.target_seconds - remaining
    percent = 100.0 * used / target
    breached = bool(clock.breached) or (
        status == ClockStatus.RUNNING
        and remaining <= 0
        and clock.due_at is not None
        and clock.due_at <= now
    )
    label = STATUS_LABELS.get(status, status)
    when = " (business hours)" if business else ""
    if breached:
        label = (
            "Breached"
            if status in (ClockStatus.RUNNING, ClockStatus.STOPPED)
            else f"Breached, {label.lower()}"
        )
        since = clock.breached_at or clock.due_at or now
        text = f"breached {wall_duration((now - since).total_seconds())} ago"
        if status == ClockStatus.STOPPED:
            text = f"breached by {duration(-remaining)}" if remaining < 0 else "breached"
        tone = "breached"
    elif status == ClockStatus.RUNNING:
        text = f"due in {duration(remaining)}{when}"
        tone = _tone(percent, clock)
    elif status in (ClockStatus.PAUSED, ClockStatus.WAITING):
        text = f"{label.lower()}, {duration(remaining)} left{when}"
        tone = "paused"
    elif status == ClockStatus.STOPPED:
        text = f"{duration(remaining)} to spare"
        tone = "met"
    else:
        text = label.lower()
        tone = "muted"
    return ClockState(
        clock=clock,
        now=now,
        label=label,
        tone=tone,
        percent=percent,
        remaining=remaining,
        text=text,
        business_hours=business,
        live=live,
        breached=breached,
    )


def _tone(percent: float, clock: Clock) -> str:
    marks = sorted({int(t) for t in clock.definition.warning_thresholds or [] if 0 < int(t) < 100})
    if not marks:
        return "ok"
    if percent >= marks[-1]:
        return "danger"
    if percent >= marks[0]:
        return "warning"
    return "ok"


def badges_for(
    incident_ids: list[int], organization_id: int, now: datetime | None = None
) -> dict[int, ClockState]:
    """The most urgent live clock of each incident of a page, in one query (by the
    ``clock_subject`` index). The incidents are already restricted to the viewer."""
    now = now or timezone.now()
    best: dict[int, ClockState] = {}
    if not incident_ids:
        return best
    rows = Clock.objects.filter(
        subject_type="incident",
        subject_id__in=incident_ids,
        organization_id=organization_id,
        status__in=LIVE_STATUSES,
    ).select_related("definition", "calendar")
    for clock in rows:
        state = clock_state(clock, now)
        current = best.get(clock.subject_id)
        if current is None or state.urgency < current.urgency:
            best[clock.subject_id] = state
    return best


# --- explaining an incident's clocks -------------------------------------------------------


@dataclass
class ExplainedSegment:
    start: datetime
    end: datetime
    kind: str  # running, paused, waiting, stopped, not_started, outside_hours, holiday, ...
    label: str
    counted: float  # business seconds counted in it
    elapsed_after: float  # business seconds counted up to its end
    projected: bool = False  # after now: how the due time will be reached
    holder: Any = None


@dataclass
class ExplainedClock:
    definition: Any
    metric: str
    status: str
    label: str
    priority: int
    target_seconds: int
    elapsed_seconds: float
    paused_seconds: float
    started_at: datetime | None
    stopped_at: datetime | None
    due_at: datetime | None
    breached_at: datetime | None
    resets: list[datetime]
    crossings: list[tuple[int, datetime]]
    calendar: Any  # BusinessCalendar or None (24x7)
    time_zone: str
    calendar_reason: str  # definition, country, default, always_open
    calendar_why: str
    segments: list[ExplainedSegment]
    steps: list[str]
    conclusion: str
    clock: Clock | None = None  # the stored clock (breach probability), if any

    @property
    def summary(self) -> str:
        head = f"{duration(self.target_seconds)} target (P{self.priority})"
        body = ", ".join(self.steps)
        return f"{head}: {body} → {self.conclusion}" if body else f"{head} → {self.conclusion}"

    @property
    def percent(self) -> float:
        return 100.0 * self.elapsed_seconds / self.target_seconds if self.target_seconds else 0.0

    @property
    def breach_probability(self) -> float | None:
        return self.clock.breach_probability if self.clock is not None else None


#: Segment kinds in which nothing is counted whatever the ticket does: consecutive ones are
#: shown as one.
QUIET_KINDS = frozenset({"stopped", "not_started"})


def _calendar_reason(definition: Any, calendar: Any, country: str) -> tuple[str, str]:
    if calendar is None:
        return (
            "always_open",
            "24x7: the definition names no calendar and the organisation has no default",
        )
    if definition.calendar_id == calendar.pk:
        return "definition", f"the definition's calendar ({calendar.name})"
    if country and calendar.country == country:
        return (
            "country",
            f"the calendar for {country}, the ticket's country (of its CI or service)",
        )
    return "default", f"the organisation's default calendar ({calendar.name})"


def _day(moment: datetime, tz: Any) -> str:
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b}"


def _when(moment: datetime, tz: Any) -> str:
    return f"{_day(moment, tz)} {moment.astimezone(tz):%H:%M}"


def _steps(segments: list[ExplainedSegment], tz: Any) -> list[str]:
    """The segments since the last reset as "2 h on Thu 2 Apr", "Good Friday and Family Day
    skipped", "paused 2 h (on hold - awaiting requester)"."""
    steps: list[list[Any]] = []  # [kind, key, amount or names]
    for seg in segments:
        if seg.kind == "running":
            if seg.counted <= 0:
                continue
            key = _day(seg.start, tz)
            if steps and steps[-1][0] == "running" and steps[-1][1] == key:
                steps[-1][2] += seg.counted
            else:
                steps.append(["running", key, seg.counted])
        elif seg.kind in ("holiday", "exception"):
            if steps and steps[-1][0] == "closed":
                if seg.label not in steps[-1][2]:
                    steps[-1][2].append(seg.label)
            else:
                steps.append(["closed", "", [seg.label]])
        elif seg.kind in ("paused", "waiting"):
            seconds = (seg.end - seg.start).total_seconds()
            if steps and steps[-1][0] == seg.kind and steps[-1][1] == seg.label:
                steps[-1][2] += seconds
            else:
                steps.append([seg.kind, seg.label, seconds])
    out: list[str] = []
    for kind, key, amount in steps:
        if kind == "running":
            out.append(f"{duration(amount)} on {key}")
        elif kind == "closed":
            names = amount
            joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
            out.append(f"{joined} skipped")
        else:
            head, _, detail = key.partition(" (")
            text = f"{head.lower()} {wall_duration(amount)}"
            out.append(f"{text} ({detail}" if detail else text)
    return out


def explain_clocks(
    user: Any, incident: Incident, *, now: datetime | None = None
) -> list[ExplainedClock]:
    """Every clock of `incident` replayed from its history with its segments, how its
    calendar was chosen, and (for a running clock) the segments still ahead up to the due
    time. The caller has checked access (`access_incident_clocks`)."""
    from opsdesk.sla.clocks import explain_incident, incidents_for_recompute, ticket_country

    now = now or timezone.now()
    incident = incidents_for_recompute(Incident.objects.filter(pk=incident.pk)).get()
    country = ticket_country(incident)
    stored = {(c.definition_id, c.metric): c for c in incident_clocks(user, incident)}
    out: list[ExplainedClock] = []
    for item in explain_incident(incident, now=now):
        definition, metric, result, calendar = (
            item["definition"],
            item["metric"],
            item["result"],
            item["calendar"],
        )
        cal = compiled(calendar) if calendar is not None else always_open()
        tz = cal.tz
        reason, why = _calendar_reason(definition, calendar, country)
        segments: list[ExplainedSegment] = []
        for s in result.segments:
            last = segments[-1] if segments else None
            if (
                last is not None
                and last.kind == s.kind
                and last.end == s.start
                and (s.kind in QUIET_KINDS or last.label == s.label)
            ):
                # One stretch per kind, not one per change of state, group or priority.
                last.end, last.counted = s.end, last.counted + s.counted
                last.elapsed_after = s.elapsed_after
                continue
            segments.append(
                ExplainedSegment(
                    s.start, s.end, s.kind, s.label, s.counted, s.elapsed_after, False, s.holder
                )
            )
        if result.status == "running" and result.due_at is not None and result.due_at > now:
            running = result.elapsed_seconds
            for seg in cal.segments(now, result.due_at):
                working = seg.kind == "working"
                counted = seg.seconds if working else 0.0
                running += counted
                segments.append(
                    ExplainedSegment(
                        seg.start,
                        seg.end,
                        "running" if working else seg.kind,
                        "Running (ahead)" if working else seg.label,
                        counted,
                        running,
                        True,
                    )
                )
        since = result.resets[-1] if result.resets else None
        counted_part = [s for s in segments if since is None or s.start >= since]
        status = result.status
        breached_at = result.breached_at
        if status == "running" and result.due_at is not None:
            conclusion = f"due {_when(result.due_at, tz)}"
            if breached_at is not None:
                conclusion += (
                    f" (breached {wall_duration((now - breached_at).total_seconds())} ago)"
                )
        elif status == "stopped":
            left = result.target_seconds - result.elapsed_seconds
            stopped = _when(result.stopped_at, tz) if result.stopped_at else "—"
            conclusion = (
                f"breached {_when(breached_at, tz)}, stopped {stopped}"
                if breached_at is not None
                else f"met: stopped {stopped} with {duration(left)} to spare"
            )
        elif status in ("paused", "waiting"):
            left = result.target_seconds - result.elapsed_seconds
            what = "paused" if status == "paused" else "with another party"
            conclusion = f"{what} with {duration(left)} left; due again once it runs"
            if breached_at is not None:
                conclusion = f"breached {_when(breached_at, tz)}, now {what}"
        elif status == "cancelled":
            conclusion = "cancelled: the ticket was cancelled"
        else:
            conclusion = "not started yet"
        label = STATUS_LABELS.get(status, status)
        if breached_at is not None:
            label = "Breached"
        out.append(
            ExplainedClock(
                definition=definition,
                metric=metric,
                status=status,
                label=label,
                priority=result.priority,
                target_seconds=result.target_seconds,
                elapsed_seconds=result.elapsed_seconds,
                paused_seconds=result.paused_seconds,
                started_at=result.started_at,
                stopped_at=result.stopped_at,
                due_at=result.due_at,
                breached_at=breached_at,
                resets=list(result.resets),
                crossings=sorted(result.crossings.items()),
                calendar=calendar,
                time_zone=str(tz.key) if hasattr(tz, "key") else str(tz),
                calendar_reason=reason,
                calendar_why=why,
                segments=segments,
                steps=_steps(counted_part, tz),
                conclusion=conclusion,
                clock=stored.get((definition.pk, metric)),
            )
        )
    order = {Kind.SLA: 0, Kind.OLA: 1, Kind.UC: 2}
    out.sort(
        key=lambda c: (order.get(c.definition.kind, 9), c.definition.name, c.metric != "response")
    )
    return out
