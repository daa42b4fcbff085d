"""Stage ``incident``: an alert group opens, updates and resolves one incident through the
service-desk actions.

**Open.** A group that opens (``batch.groups_opened``) with a severity at or above the
organisation's ``incident_min_severity`` (and ``open_incidents`` on) opens one incident:
channel "event", the group's business service and CI (the top root-cause candidate, else the
CI of the group's first alert), impact and urgency from `PRIORITY_GRID` (service tier x
severity), assigned to the CI's support team, else the settings' ``incident_team``, else the
service desk's default team. A group whose key matches a group resolved less than
``reopen_seconds`` ago (`CorrelationSettings`, default an hour) reopens that group's incident
instead.

**Update.** When a group grows (new firing alerts) or worsens, one work note per group per
batch lists the new alerts; a worse severity raises impact / urgency (never lowers them).
A touched group whose incident was resolved less than ``reopen_seconds`` ago reopens it; after
that, or once the incident is closed, it opens a new one.

**Resolve.** When every alert of a group has resolved and the group has been quiet for
``resolve_after_seconds``, the group resolves and so does its incident, unless a person has
taken the incident further (see `person_took_over`): then a work note says the alerts
cleared. With ``resolve_after_seconds = 0`` this happens in the batch; otherwise the
periodic job in `opsdesk.events.tasks` does the waiting.

**Once.** The group row is locked (``select_for_update``) and its ``incident`` checked in the
transaction that opens the incident, so a retried or replayed batch never opens a second
one; a rolled-back batch rolls back the incident with it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.events import pipeline
from opsdesk.events.choices import SEVERITY_RANK, EventStatus, GroupState, Severity
from opsdesk.events.models import Alert, AlertGroup, CorrelationSettings
from opsdesk.events.stages.dedup import bulk_set
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.choices import (
    OPEN_STATES,
    ActivityKind,
    Channel,
    IncidentState,
    SubjectType,
)
from opsdesk.servicedesk.models import Activity, Incident, ServiceDeskSettings

logger = logging.getLogger(__name__)


def reopen_window(conf: CorrelationSettings) -> timedelta:
    """A group that fires again this soon after its incident was resolved reopens it."""
    return timedelta(seconds=conf.reopen_seconds)


#: At most this many alerts are named in one work note (the rest are counted).
NOTE_ALERTS = 10
#: Resolution codes tried in order when the alerts clear (else the desk's first code).
CLEARED_CODES = ("resolved_by_monitoring", "solved_remotely", "solved_permanently")
#: ... and when an operator merges a group whose incident duplicates another.
DUPLICATE_CODES = ("duplicate",)
#: Timeline entries of a person that mean the incident is theirs now.
PERSONAL_KINDS = (ActivityKind.STATE, ActivityKind.FIELD, ActivityKind.MAJOR, ActivityKind.LINK)

# --- priority: service tier x severity ------------------------------------------------------

#: Impact from the tier of the service (1 = mission critical ... 4 = administrative);
#: no service (or one without a tier) counts as tier 3.
IMPACT_BY_TIER: dict[int, int] = {1: 1, 2: 2, 3: 3, 4: 3}
#: Urgency from the group's (worst firing) severity.
URGENCY_BY_SEVERITY: dict[str, int] = {
    Severity.CRITICAL: 1,
    Severity.MAJOR: 2,
    Severity.MINOR: 3,
    Severity.WARNING: 3,
    Severity.INFO: 3,
}
DEFAULT_TIER = 3

#: (tier, severity) -> (impact, urgency), written out. With the default ITIL matrix this
#: gives priorities (tier rows, severity columns critical / major / minor / warning / info):
#: tier 1: P1 P2 P3 P3 P3; tier 2: P2 P3 P4 P4 P4; tiers 3 and 4: P3 P4 P5 P5 P5.
PRIORITY_GRID: dict[tuple[int, str], tuple[int, int]] = {
    (tier, severity): (impact, urgency)
    for tier, impact in IMPACT_BY_TIER.items()
    for severity, urgency in URGENCY_BY_SEVERITY.items()
}


def impact_urgency(tier: int | None, severity: str) -> tuple[int, int]:
    """Impact and urgency of an incident for a service of `tier` and a group of `severity`."""
    tier = tier if tier in IMPACT_BY_TIER else DEFAULT_TIER
    severity = severity if severity in URGENCY_BY_SEVERITY else Severity.INFO
    return PRIORITY_GRID[(tier, severity)]


def at_least(severity: str, threshold: str) -> bool:
    """Is `severity` as bad as `threshold` or worse?"""
    return SEVERITY_RANK.get(severity, 99) <= SEVERITY_RANK.get(threshold, 99)


# --- helpers ---------------------------------------------------------------------------------


def _is_service(ci: ConfigurationItem | None) -> bool:
    return ci is not None and bool(ci.ci_class.is_service)


def group_ci(group: AlertGroup) -> ConfigurationItem | None:
    """The incident's CI: the best root-cause candidate, else the CI of the first alert."""
    ids = [c.get("ci_id") for c in (group.root_causes or []) if c.get("ci_id")]
    if ids:
        found = (
            ConfigurationItem.objects.filter(pk=ids[0], organization_id=group.organization_id)
            .select_related("support_team", "ci_class")
            .first()
        )
        if found is not None:
            return found
    first = (
        Alert.objects.filter(group=group, ci__isnull=False)
        .order_by("starts_at", "id")
        .values_list("ci_id", flat=True)
        .first()
    )
    if first is None:
        return None
    return ConfigurationItem.objects.select_related("support_team", "ci_class").get(pk=first)


def _team(organization_id: int, ci: ConfigurationItem | None, conf: CorrelationSettings) -> Any:
    """The CI's support team, else the event settings' team, else None (the desk default)."""
    support = getattr(ci, "support_team", None)
    if isinstance(support, Team) and support.organization_id == organization_id:
        return support
    if conf.incident_team_id:
        return Team.objects.filter(
            pk=conf.incident_team_id, organization_id=organization_id
        ).first()
    return None


def resolution_code(organization_id: int, preferred: tuple[str, ...]) -> str:
    codes = ServiceDeskSettings.for_org(organization_id).resolution_codes or []
    for code in preferred:
        if code in codes:
            return code
    return codes[0] if codes else preferred[0]


def person_took_over(incident: Incident) -> bool:
    """True when a person opened the incident, moved it out of new / in progress, or changed
    its state, fields, major status or links: then the pipeline only adds notes to it.
    (Assigning it or commenting on it does not count: that is working the alert.)"""
    if incident.opened_by_id is not None:
        return True
    if incident.state not in (IncidentState.NEW, IncidentState.IN_PROGRESS):
        return True
    return Activity.objects.filter(
        subject_type=SubjectType.INCIDENT,
        subject_id=incident.pk,
        actor__isnull=False,
        kind__in=PERSONAL_KINDS,
    ).exists()


class _Notes:
    """The work notes of one run of the stage, written together (`desk.add_comments`: the
    same checks, one INSERT for the notes and one for their audit records) at the end, or
    before another change to an incident that has one waiting, so every incident's
    timeline and audit trail keep their order."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.incidents: set[int] = set()

    def add(self, incident: Incident, body: str, data: dict[str, Any], at: datetime) -> None:
        self.pending.append(
            {
                "subject": incident,
                "body": body,
                "public": False,
                "actor_name": pipeline.SYSTEM_ACTOR,
                "at": at,
                "data": {"alert_group": True, **data},
            }
        )
        self.incidents.add(incident.pk)

    def before_change(self, incident: Incident) -> None:
        if incident.pk in self.incidents:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            desk.add_comments(acting_user=None, comments=self.pending)
        self.pending, self.incidents = [], set()


_notes: ContextVar[_Notes | None] = ContextVar("incident_stage_notes", default=None)


@contextmanager
def _collecting_notes() -> Iterator[_Notes]:
    notes = _Notes()
    token = _notes.set(notes)
    try:
        yield notes
    finally:
        _notes.reset(token)


def _before_change(incident: Incident) -> None:
    """Write the waiting notes of `incident` before another change to it."""
    notes = _notes.get()
    if notes is not None:
        notes.before_change(incident)


def note(incident: Incident, body: str, data: dict[str, Any], at: datetime | None = None) -> None:
    """A work note of the pipeline on the incident (in the stage: written with the batch's
    other notes)."""
    notes = _notes.get()
    if notes is not None:
        notes.add(incident, body, data, at or timezone.now())
        return
    desk.add_comment(
        acting_user=None,
        subject=incident,
        body=body,
        public=False,
        actor_name=pipeline.SYSTEM_ACTOR,
        at=at,
        data={"alert_group": True, **data},
    )


def recorded_severity(incident_ids: list[int]) -> dict[int, str]:
    """The group severity the pipeline last wrote on each incident's timeline (one query)."""
    rows = (
        Activity.objects.filter(
            subject_type=SubjectType.INCIDENT,
            subject_id__in=incident_ids,
            kind=ActivityKind.WORK_NOTE,
            actor__isnull=True,
            actor_name=pipeline.SYSTEM_ACTOR,
        )
        .order_by("at", "id")
        .values_list("subject_id", "data")
    )
    found: dict[int, str] = {}
    for subject_id, data in rows:
        if isinstance(data, dict) and data.get("severity"):
            found[subject_id] = data["severity"]
    return found


def _alert_line(alert: Alert, ci_names: dict[int, str]) -> str:
    where = f" on {ci_names[alert.ci_id]}" if alert.ci_id in ci_names else ""
    return f"- {alert.title} ({alert.severity}{where})"


def ci_names(alert_lists: Iterable[list[Alert]]) -> dict[int, str]:
    """The names of the CIs the notes name, for all of a batch's notes in one query."""
    ci_ids = {a.ci_id for alerts in alert_lists for a in alerts[:NOTE_ALERTS] if a.ci_id}
    if not ci_ids:
        return {}
    return dict(ConfigurationItem.objects.filter(pk__in=ci_ids).values_list("pk", "name"))


def _alert_lines(alerts: list[Alert], names: dict[int, str] | None = None) -> str:
    if names is None:
        names = ci_names([alerts])
    lines = [_alert_line(a, names) for a in alerts[:NOTE_ALERTS]]
    if len(alerts) > NOTE_ALERTS:
        lines.append(f"... and {len(alerts) - NOTE_ALERTS} more.")
    return "\n".join(lines)


# --- open ------------------------------------------------------------------------------------


def open_incident(
    group: AlertGroup,
    conf: CorrelationSettings,
    now: datetime,
    *,
    acting_user: Any = None,
) -> Incident:
    """Open the group's incident and link it (the caller holds the group's row lock and has
    checked that it has none). ``acting_user`` is the operator when a split opens it."""
    ci = group_ci(group)
    service = group.service
    if service is not None and not _is_service(service):
        service = None
    tier = (service.criticality if service else None) or (ci.criticality if ci else None)
    impact, urgency = impact_urgency(tier, group.severity)
    alerts = list(
        Alert.objects.filter(group=group, status=EventStatus.FIRING).order_by("starts_at", "id")
    )
    description = (
        f"Opened from alert group {group.number}: {group.alert_count} alert(s), "
        f"{group.firing_count} firing, worst severity {group.severity}.\n\n"
        f"{_alert_lines(alerts)}"
    )
    system = "" if acting_user is not None else pipeline.SYSTEM_ACTOR
    incident = desk.create_incident(
        acting_user=acting_user,
        system=system,
        organization=group.organization,
        title=group.title[:255] or f"Alert group {group.number}",
        description=description,
        channel=Channel.EVENT,
        service=service,
        ci=ci,
        impact=impact,
        urgency=urgency,
        assignment_group=_team(group.organization_id, ci, conf),
        opened_at=now,
    )
    group.incident = incident
    AlertGroup.objects.filter(pk=group.pk).update(incident=incident)
    note(
        incident,
        f"Alert group {group.number} opened this incident: severity {group.severity}, "
        f"service tier {tier or 'unknown'} -> impact {impact}, urgency {urgency}.",
        {"group_id": group.pk, "severity": group.severity, "event": "opened"},
        at=now,
    )
    return incident


def reopen_incident(incident: Incident, group: AlertGroup, reason: str) -> Incident:
    _before_change(incident)
    incident = desk.transition_incident(
        acting_user=None,
        incident=incident,
        transition="reopen",
        reason=reason,
        system=pipeline.SYSTEM_ACTOR,
    )
    if group.incident_id != incident.pk:
        group.incident = incident
        AlertGroup.objects.filter(pk=group.pk).update(incident=incident)
    note(
        incident,
        reason,
        {"group_id": group.pk, "severity": group.severity, "event": "reopened"},
    )
    return incident


def _reopenable(incident: Incident | None, now: datetime, window: timedelta) -> bool:
    return (
        incident is not None
        and incident.state == IncidentState.RESOLVED
        and incident.resolved_at is not None
        and now - incident.resolved_at <= window
    )


def _twin_candidates(groups: list[AlertGroup], batch: pipeline.Batch) -> list[AlertGroup]:
    """Twins of the batch's newly opened groups: groups with the same key, resolved less
    than the reopen window ago, whose incident can be reopened (the same fault firing again).
    Newest first; one query for the batch instead of one per group."""
    keys = {g.key for g in groups if g.key and g.pk in batch.groups_opened}
    if not keys:
        return []
    since = batch.now - reopen_window(batch.settings)
    return list(
        AlertGroup.objects.filter(
            organization_id=batch.organization_id,
            key__in=keys,
            state=GroupState.RESOLVED,
            resolved_at__gte=since,
            incident__state=IncidentState.RESOLVED,
            incident__resolved_at__gte=since,
        )
        .select_related("incident")
        .order_by("-resolved_at")
    )


def _pick_twin(group: AlertGroup, candidates: list[AlertGroup]) -> AlertGroup | None:
    """The newest twin of `group` among the candidates (same key, same service when the
    group has one), or None."""
    if not group.key:
        return None
    for twin in candidates:
        if twin.key != group.key or twin.pk == group.pk:
            continue
        if group.service_id and twin.service_id != group.service_id:
            continue
        return twin
    return None


def wants_incident(group: AlertGroup, conf: CorrelationSettings) -> bool:
    return (
        conf.open_incidents
        and group.state == GroupState.OPEN
        and group.firing_count > 0
        and at_least(group.severity, conf.incident_min_severity)
    )


# --- resolve ---------------------------------------------------------------------------------


def _still_shared(incident_id: int, group_id: int) -> bool:
    """Another open group still feeds this incident (after a merge or a reopen)."""
    return (
        AlertGroup.objects.filter(incident_id=incident_id, state=GroupState.OPEN)
        .exclude(pk=group_id)
        .exists()
    )


def settle_incident(group: AlertGroup, *, now: datetime, why: str) -> str:
    """The group has resolved: resolve its incident, or note it when a person has it.
    Returns what happened: "resolved", "noted" or "" (no open incident)."""
    incident = (
        Incident.objects.select_for_update().filter(pk=group.incident_id).first()
        if group.incident_id
        else None
    )
    if incident is None or incident.state not in OPEN_STATES:
        return ""
    data = {"group_id": group.pk, "severity": group.severity, "event": "resolved"}
    if _still_shared(incident.pk, group.pk):
        note(incident, f"{why} Other alert groups of this incident are still open.", data, now)
        return "noted"
    if person_took_over(incident):
        note(incident, f"{why} The incident is left to its assignee to resolve.", data, now)
        return "noted"
    _before_change(incident)
    desk.transition_incident(
        acting_user=None,
        incident=incident,
        transition="resolve",
        resolution_code=resolution_code(incident.organization_id, CLEARED_CODES),
        resolution_notes=why,
        at=now,
        system=pipeline.SYSTEM_ACTOR,
    )
    return "resolved"


def resolve_quiet_groups(
    *,
    organization_id: int | None = None,
    now: datetime | None = None,
    group_ids: list[int] | set[int] | None = None,
    conf: CorrelationSettings | None = None,
) -> int:
    """Resolve open groups whose alerts have all resolved and that have been quiet for their
    organisation's ``resolve_after_seconds``; resolve (or note) their incidents. Call in a
    transaction. ``conf`` (the batch's settings) stands for the organisation's stored ones.
    Returns how many groups resolved."""
    now = now or timezone.now()
    qs = AlertGroup.objects.filter(state=GroupState.OPEN).exclude(
        pk__in=Alert.objects.filter(status=EventStatus.FIRING, group__isnull=False).values(
            "group_id"
        )
    )
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if group_ids is not None:
        qs = qs.filter(pk__in=list(group_ids))
    by_org: dict[int, list[AlertGroup]] = defaultdict(list)
    for group in qs.select_for_update(of=("self",)).order_by("pk"):
        by_org[group.organization_id].append(group)
    resolved = 0
    for org_id, groups in by_org.items():
        settings = conf if conf is not None and conf.organization_id == org_id else None
        settings = settings or CorrelationSettings.for_org(org_id)
        quiet = timedelta(seconds=settings.resolve_after_seconds)
        for group in groups:
            if group.last_event_at > now - quiet:
                continue
            group.state = GroupState.RESOLVED
            group.resolved_at = now
            group.firing_count = 0
            group.save(update_fields=["state", "resolved_at", "firing_count", "updated_at"])
            settle_incident(
                group,
                now=now,
                why=(
                    f"Every alert of alert group {group.number} has resolved "
                    f"(quiet since {group.last_event_at:%Y-%m-%d %H:%M:%S} UTC)."
                ),
            )
            resolved += 1
    return resolved


# --- the stage -------------------------------------------------------------------------------


def _new_alerts(batch: pipeline.Batch, group_ids: set[int]) -> dict[int, list[Alert]]:
    """Per group, the alerts that fired (first time or again) in this batch."""
    found: dict[int, dict[int, Alert]] = defaultdict(dict)
    for item in batch.items:
        alert = item.alert
        if alert is None or item.suppressed_by or alert.group_id not in group_ids:
            continue
        if alert.status == EventStatus.FIRING and (item.created or item.status_changed):
            found[alert.group_id][alert.pk] = alert
    return {gid: list(alerts.values()) for gid, alerts in found.items()}


def _raise_priority(incident: Incident, group: AlertGroup) -> bool:
    service = incident.service or group.service
    tier = service.criticality if service is not None else None
    impact, urgency = impact_urgency(tier, group.severity)
    impact, urgency = min(impact, incident.impact), min(urgency, incident.urgency)
    if (impact, urgency) == (incident.impact, incident.urgency):
        return False
    _before_change(incident)
    desk.update_incident(
        acting_user=None,
        incident=incident,
        system=pipeline.SYSTEM_ACTOR,
        impact=impact,
        urgency=urgency,
    )
    return True


def _update(
    group: AlertGroup,
    incident: Incident,
    new: list[Alert],
    last_severity: str | None,
    names: dict[int, str],
) -> None:
    worse = last_severity is not None and SEVERITY_RANK.get(group.severity, 99) < SEVERITY_RANK.get(
        last_severity, 99
    )
    moved = _sync_ci(group, incident) if (new or worse) and incident.state in OPEN_STATES else ""
    if not new and not worse:
        return
    parts = []
    if new:
        parts.append(
            f"{len(new)} alert(s) fired in alert group {group.number} "
            f"({group.alert_count} in all, {group.firing_count} firing):\n{_alert_lines(new, names)}"
        )
    if worse:
        raised = incident.state in OPEN_STATES and _raise_priority(incident, group)
        parts.append(
            f"Severity rose from {last_severity} to {group.severity}"
            + (f"; priority is now P{incident.priority}." if raised else ".")
        )
    if moved:
        parts.append(moved)
    note(
        incident,
        "\n\n".join(parts),
        {
            "group_id": group.pk,
            "severity": group.severity,
            "event": "updated",
            "alert_ids": [a.pk for a in new[:100]],
        },
    )


@pipeline.stage("incident")
def run(batch: pipeline.Batch) -> None:
    with _collecting_notes() as notes:
        _run(batch)
        notes.flush()


def _run(batch: pipeline.Batch) -> None:
    conf = batch.settings
    touched = set(batch.groups_touched) | set(batch.groups_opened)
    if touched:
        groups = list(
            AlertGroup.objects.select_for_update(of=("self",))
            .filter(pk__in=touched, organization_id=batch.organization_id)
            .select_related("organization", "service__ci_class", "incident")
            .order_by("pk")
        )
        _rank_fresh(batch, [g for g in groups if g.incident_id is None and wants_incident(g, conf)])
        new_alerts = _new_alerts(batch, touched)
        names = ci_names(new_alerts.values())
        linked = [g.incident_id for g in groups if g.incident_id]
        severities = recorded_severity(linked) if linked else {}
        twins: list[AlertGroup] | None = None
        for group in groups:
            incident = group.incident
            if incident is not None and incident.state in OPEN_STATES:
                new = new_alerts.get(group.pk, [])
                _update(group, incident, new, severities.get(incident.pk), names)
                continue
            if not wants_incident(group, conf):
                continue
            if incident is not None and incident.state == IncidentState.CANCELLED:
                continue  # a person decided this is not an incident
            if _reopenable(incident, batch.now, reopen_window(conf)):
                reopen_incident(
                    incident,
                    group,
                    f"Alert group {group.number} fired again "
                    f"{_ago(batch.now, incident.resolved_at)} after the incident was resolved.",
                )
                continue
            if incident is None and group.pk in batch.groups_opened:
                if twins is None:
                    twins = _twin_candidates(groups, batch)
                twin = _pick_twin(group, twins)
                if twin is not None:
                    # Its incident is open again: no other group of the batch reopens it.
                    twins[:] = [t for t in twins if t.incident_id != twin.incident_id]
                    reopen_incident(
                        twin.incident,
                        group,
                        f"Alert group {group.number} repeats {twin.number} (same key "
                        f"{group.key!r}), resolved {_ago(batch.now, twin.resolved_at)} ago.",
                    )
                    continue
            open_incident(group, conf, batch.now)
    if batch.groups_resolved:
        resolve_quiet_groups(
            organization_id=batch.organization_id,
            now=batch.now,
            group_ids=batch.groups_resolved,
            conf=conf,
        )


def _rank_fresh(batch: pipeline.Batch, groups: list[AlertGroup]) -> None:
    """Rank the root causes of groups about to open an incident that have no ranking yet
    (the root_cause stage runs after this one), so the incident names the likely cause's CI
    from the start. One set-based pass; root_cause re-ranks only if the group grows."""
    fresh = [g for g in groups if not g.root_causes]
    if not fresh:
        return
    from opsdesk.events import rootcause
    from opsdesk.events.stages.correlate import SCRATCH_HOOD

    hood = batch.scratch.get(SCRATCH_HOOD)
    ranked = rootcause.rank_groups(
        fresh, hood if hood is not None and hood.hops >= rootcause.DOWN_HOPS else None
    )
    changed = []
    for group in fresh:
        candidates = ranked.get(group.pk) or []
        if candidates:
            group.root_causes = candidates
            group.cause_change_id = rootcause.cause_change_of(candidates)
            changed.append(group)
    if changed:
        bulk_set(AlertGroup, changed, ["root_causes", "cause_change"])


def _sync_ci(group: AlertGroup, incident: Incident) -> str:
    """Point the incident at the best root-cause candidate when the ranking has changed,
    unless a person has taken the incident over. Returns a sentence for the note, or ""."""
    top = next((c for c in (group.root_causes or []) if c.get("ci_id")), None)
    if top is None or top["ci_id"] == incident.ci_id or person_took_over(incident):
        return ""
    ci = ConfigurationItem.objects.filter(
        pk=top["ci_id"], organization_id=incident.organization_id
    ).first()
    if ci is None:
        return ""
    _before_change(incident)
    desk.update_incident(acting_user=None, incident=incident, system=pipeline.SYSTEM_ACTOR, ci=ci)
    return f"The likely cause is now {ci.name}; the incident's CI follows it."


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "shortly"
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min"
