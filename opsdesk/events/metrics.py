"""Honest MTTD / MTTA / MTTR of event-driven incidents, compression, noise and the operators'
corrections of the grouping, per service and per month.

**Onset.** A fault starts at its alert group's ``onset_at`` (the start of its earliest
event, as the source reported it, not when OpsDesk received it), or at the ``actual_start``
of the change identified as its cause (``group.cause_change``) when that is earlier: a bad
change that took ten minutes to show is ten minutes of detection time.

**Per incident**, from the earliest onset of the groups that feed it (merged groups count
through their target; groups reopening an incident share it):

- MTTD: onset -> incident opened;
- MTTA: incident opened -> first assigned to a person (``first_assigned_at``);
- MTTR: onset -> incident resolved (the last resolution, after any reopen).

Each is reported as count, mean, median and p90 (nearest rank) in seconds; incidents not yet
acknowledged or resolved are counted (``open``) but do not enter the averages. The scope
is the alert groups whose onset lies in ``[start, end)``; a month is the month of the onset
in the organisation's time zone.

**Compression**: events per group, alerts per group and per incident. **Noise**
(organisation-wide: suppressed events belong to no group): suppressed events, alerts that
flapped, and their share of all events in the period, from the alerts' history.
"""

from __future__ import annotations

import math
import statistics
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, Sum

from opsdesk.core.models import Organization
from opsdesk.events.choices import FeedbackKind, GroupState
from opsdesk.events.models import AlertEvent, AlertGroup, GroupFeedback

NO_SERVICE = "No service"
#: History kinds that are events received (the rest mark states, e.g. "flapping").
EVENT_KINDS = ("fired", "resolved", "repeated", "suppressed")


def stats(values: list[float]) -> dict[str, Any]:
    """count, mean, median and p90 (nearest rank) of durations in seconds."""
    if not values:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    ordered = sorted(values)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return {
        "count": len(ordered),
        "mean": round(statistics.fmean(ordered), 1),
        "median": round(statistics.median(ordered), 1),
        "p90": round(p90, 1),
    }


@dataclass
class _Bucket:
    groups: int = 0
    alerts: int = 0
    events: int = 0
    #: Alerts and events of the groups that have an incident.
    incident_alerts: int = 0
    incident_events: int = 0
    incidents: set[int] = field(default_factory=set)
    mttd: list[float] = field(default_factory=list)
    mtta: list[float] = field(default_factory=list)
    mttr: list[float] = field(default_factory=list)
    unacknowledged: int = 0
    unresolved: int = 0

    def as_dict(self) -> dict[str, Any]:
        incidents = len(self.incidents)
        return {
            "groups": self.groups,
            "alerts": self.alerts,
            "events": self.events,
            "incidents": incidents,
            "mttd": stats(self.mttd),
            "mtta": {**stats(self.mtta), "open": self.unacknowledged},
            "mttr": {**stats(self.mttr), "open": self.unresolved},
            "events_per_group": round(self.events / self.groups, 2) if self.groups else None,
            "alerts_per_group": round(self.alerts / self.groups, 2) if self.groups else None,
            "alerts_per_incident": (
                round(self.incident_alerts / incidents, 2) if incidents else None
            ),
            "events_per_incident": (
                round(self.incident_events / incidents, 2) if incidents else None
            ),
        }


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def onset_of(group: AlertGroup) -> tuple[datetime, str]:
    """The fault onset of a group and where it comes from ("event" or "change")."""
    change = group.cause_change
    started = getattr(change, "actual_start", None) if change is not None else None
    if started is not None and started < group.onset_at:
        return started, "change"
    return group.onset_at, "event"


def event_metrics(
    organization_id: int, start: datetime, end: datetime, service_id: int | None = None
) -> dict[str, Any]:
    """The scorecard of one organisation for groups whose onset lies in [start, end)."""
    org = Organization.objects.get(pk=organization_id)
    zone = zoneinfo.ZoneInfo(org.time_zone or "UTC")
    groups = (
        AlertGroup.objects.filter(
            organization_id=organization_id, onset_at__gte=start, onset_at__lt=end
        )
        .exclude(state=GroupState.MERGED)
        .select_related("service", "incident", "cause_change")
        .order_by("onset_at", "pk")
    )
    if service_id is not None:
        groups = groups.filter(service_id=service_id)
    rows = list(groups)
    # One onset per incident: the earliest of the groups that feed it.
    incident_onset: dict[int, datetime] = {}
    for g in rows:
        if g.incident_id:
            onset, _ = onset_of(g)
            known = incident_onset.get(g.incident_id)
            incident_onset[g.incident_id] = onset if known is None else min(known, onset)
    total = _Bucket()
    by_service: dict[int | None, _Bucket] = defaultdict(_Bucket)
    service_names: dict[int | None, str] = {None: NO_SERVICE}
    by_month: dict[str, _Bucket] = defaultdict(_Bucket)
    from_change = 0
    seen_incidents: set[int] = set()
    for g in rows:
        onset, source = onset_of(g)
        from_change += source == "change"
        month = onset.astimezone(zone).strftime("%Y-%m")
        service_names[g.service_id] = g.service.name if g.service else NO_SERVICE
        buckets = (total, by_service[g.service_id], by_month[month])
        for b in buckets:
            b.groups += 1
            b.alerts += g.alert_count
            b.events += g.event_count
        incident = g.incident
        if incident is None:
            continue
        for b in buckets:
            b.incident_alerts += g.alert_count
            b.incident_events += g.event_count
        if incident.pk in seen_incidents:
            continue
        seen_incidents.add(incident.pk)
        first = incident_onset[incident.pk]
        mttd = _seconds(incident.opened_at, first)
        mtta = _seconds(incident.first_assigned_at, incident.opened_at)
        mttr = _seconds(incident.resolved_at, first)
        for b in buckets:
            b.incidents.add(incident.pk)
            if mttd is not None:
                b.mttd.append(mttd)
            if mtta is None:
                b.unacknowledged += 1
            else:
                b.mtta.append(mtta)
            if mttr is None:
                b.unresolved += 1
            else:
                b.mttr.append(mttr)
    return {
        "organization_id": organization_id,
        "start": start,
        "end": end,
        "service_id": service_id,
        "time_zone": str(zone),
        "onsets_from_changes": from_change,
        "total": total.as_dict(),
        "by_service": [
            {"service_id": pk, "service": service_names[pk], **bucket.as_dict()}
            for pk, bucket in sorted(
                by_service.items(), key=lambda kv: (kv[0] is None, service_names[kv[0]])
            )
        ],
        "by_month": [{"month": m, **bucket.as_dict()} for m, bucket in sorted(by_month.items())],
        "noise": noise(organization_id, start, end),
        "feedback": grouping_feedback(organization_id, start, end),
    }


def noise(organization_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Suppressed events and flapping alerts in [start, end), organisation-wide."""
    history = AlertEvent.objects.filter(
        organization_id=organization_id, at__gte=start, at__lt=end
    ).aggregate(
        events=Sum("count", filter=Q(kind__in=EVENT_KINDS)),
        suppressed=Sum("count", filter=Q(kind="suppressed")),
        suppressed_alerts=Count("alert", filter=Q(kind="suppressed"), distinct=True),
        flapping_alerts=Count("alert", filter=Q(kind="flapping"), distinct=True),
    )
    flapping_ids = AlertEvent.objects.filter(
        organization_id=organization_id, at__gte=start, at__lt=end, kind="flapping"
    ).values("alert_id")
    flapping_events = (
        AlertEvent.objects.filter(
            organization_id=organization_id,
            at__gte=start,
            at__lt=end,
            alert_id__in=flapping_ids,
            kind__in=EVENT_KINDS,
        )
        .exclude(kind="suppressed")
        .aggregate(n=Sum("count"))["n"]
        or 0
    )
    events = history["events"] or 0
    suppressed = history["suppressed"] or 0
    return {
        "events": events,
        "suppressed_events": suppressed,
        "suppressed_alerts": history["suppressed_alerts"] or 0,
        "flapping_alerts": history["flapping_alerts"] or 0,
        "flapping_events": flapping_events,
        "noise_ratio": round((suppressed + flapping_events) / events, 4) if events else None,
    }


def grouping_feedback(organization_id: int, start: datetime, end: datetime) -> dict[str, Any]:
    """Operators' corrections of the grouping in [start, end): each merged-away group is a
    merge (the pipeline split one fault), each split a split (it joined two); the correction
    rate is corrections per group the pipeline opened in the period."""
    counts = GroupFeedback.objects.filter(
        organization_id=organization_id, at__gte=start, at__lt=end
    ).aggregate(
        merges=Count("id", filter=Q(kind=FeedbackKind.MERGE)),
        splits=Count("id", filter=Q(kind=FeedbackKind.SPLIT)),
    )
    opened = (
        AlertGroup.objects.filter(
            organization_id=organization_id, opened_at__gte=start, opened_at__lt=end
        )
        .exclude(method="operator")
        .count()
    )
    corrections = counts["merges"] + counts["splits"]
    return {
        "groups": opened,
        "merges": counts["merges"],
        "splits": counts["splits"],
        "corrections": corrections,
        "correction_rate": round(corrections / opened, 4) if opened else None,
    }
