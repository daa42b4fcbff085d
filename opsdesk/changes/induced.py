"""Change-induced incidents: incidents that follow a change or a deployment on the same (or a
neighbouring) configuration item are suggested as caused by it; an agent confirms or dismisses.

**When.** An incident is looked at when it is opened (the timeline's ``created`` entry) and
when its CI or service is set later (a ``field`` entry naming ``ci`` or ``service``): a
receiver of `opsdesk.servicedesk.timeline.activity_recorded`, which runs after commit. A
periodic job (every 5 minutes) catches up incidents written without the signal (imports,
demo data, a receiver that failed).

**What.** A change counts if it was being implemented when the incident opened, or finished
(``actual_end``) within the organisation's window (`RiskSettings.induced_window_hours`,
24 h by default) before it; a deployment counts if it finished in that window. It must touch
the incident's CI or service: directly (one of the change's CIs or its service), or within
two hops in the CMDB (the incident's CI depends on the changed CI, or the changed CI depends
on the incident's CI), scored lower.

**Score** (0-1) = closeness in the graph x closeness in time. Graph: the same CI 1.0, the
same service 0.8, the incident's CI depends on it 0.6 (1 hop) / 0.45 (2 hops), it depends on
the incident's CI 0.5 / 0.35. Time: 1.0 during or right after the implementation, falling
linearly to 0.5 at the end of the window.

Suggestions are written by a system actor, once per (change or deployment, incident): a
suggestion that exists, in any state, is never rewritten, so a dismissed one stays dismissed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_tasks import task

from opsdesk.changes.choices import ChangeState, DeploymentOutcome, InducedState
from opsdesk.changes.models import Change, Deployment, InducedLink, RiskSettings
from opsdesk.changes.sections import Section, register_section
from opsdesk.cmdb.impact import DOWNSTREAM, UPSTREAM, path_to, walk
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core import periodic
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.panels import Panel, register_panel

logger = logging.getLogger(__name__)

SYSTEM_NAME = "Change-induced incident detection"
DEFAULT_WINDOW_HOURS = 24
MAX_HOPS = 2
#: Closeness in the graph: (relation, hops) -> weight.
GRAPH_WEIGHT = {
    ("same_ci", 0): 1.0,
    ("same_service", 0): 0.8,
    ("depends_on", 1): 0.6,
    ("depends_on", 2): 0.45,
    ("depended_on", 1): 0.5,
    ("depended_on", 2): 0.35,
}
#: The time factor at the far end of the window (1.0 at the start).
TIME_FLOOR = 0.5
CATCH_UP_EVERY = timedelta(minutes=5)
#: How far back the catch-up job looks when it has never run (or not for a long time).
CATCH_UP_LOOKBACK = timedelta(hours=24)
#: Overlap with the previous run, so an incident written while it ran is not missed.
CATCH_UP_MARGIN = timedelta(minutes=10)
REASON_LIMIT = 1000


def window_hours(organization_id: int) -> int:
    found = (
        RiskSettings.objects.filter(organization_id=organization_id)
        .values_list("induced_window_hours", flat=True)
        .first()
    )
    return found or DEFAULT_WINDOW_HOURS


def human_span(seconds: float) -> str:
    """2400 -> "40 min"; 11 000 -> "3 h 3 min"; 200 000 -> "2 d 7 h"."""
    minutes = max(int(seconds // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    days, hours = divmod(hours, 24)
    return f"{days} d" + (f" {hours} h" if hours else "")


# --- where the incident sits in the CMDB -----------------------------------------------------


@dataclass(frozen=True)
class Near:
    """How a CI relates to the incident: ``same_ci``/``same_service`` (hops 0),
    ``depends_on`` (the incident's CI depends on it) or ``depended_on`` (it depends on the
    incident's CI); ``root`` is the incident's CI (or service) and ``path`` the CI ids from
    the root to it."""

    relation: str
    hops: int
    root: int
    path: tuple[int, ...]
    noun: str = "CI"

    @property
    def weight(self) -> float:
        return GRAPH_WEIGHT[(self.relation, self.hops)]


def neighbourhood(incident: Incident) -> dict[int, Near]:
    """Every CI within two hops of the incident's CI and service, with its best relation."""
    found: dict[int, Near] = {}

    def offer(ci_id: int, near: Near) -> None:
        if ci_id not in found or near.weight > found[ci_id].weight:
            found[ci_id] = near

    roots = [
        (root, relation)
        for root, relation in ((incident.ci, "same_ci"), (incident.service, "same_service"))
        if root is not None
    ]
    for root, relation in roots:
        offer(root.pk, Near(relation, 0, root.pk, (root.pk,)))
    for root, kind in roots:
        noun = "CI" if kind == "same_ci" else "service"
        for direction, relation in ((DOWNSTREAM, "depends_on"), (UPSTREAM, "depended_on")):
            reached = walk(root, direction, MAX_HOPS).reached
            for ci_id, node in reached.items():
                if node.depth == 0:
                    continue
                path = tuple(path_to(reached, ci_id))
                offer(ci_id, Near(relation, node.depth, root.pk, path, noun))
    return found


# --- finding the causes ----------------------------------------------------------------------


@dataclass
class Candidate:
    cause: Change | Deployment
    ci_id: int
    near: Near
    #: Seconds from the end of the implementation (or deployment) to the incident; 0 while
    #: it was still going on.
    gap: float
    ongoing: bool
    score: float = 0.0
    reason: str = ""


def _time_factor(gap: float, window: timedelta) -> float:
    span = window.total_seconds() or 1.0
    return 1.0 - (1.0 - TIME_FLOOR) * min(max(gap, 0.0), span) / span


def _best(ids: set[int], nearby: dict[int, Near]) -> tuple[int, Near] | None:
    matches = [(nearby[i].weight, -nearby[i].hops, i) for i in ids if i in nearby]
    if not matches:
        return None
    _, _, ci_id = max(matches)
    return ci_id, nearby[ci_id]


def _changes_in_time(
    organization_id: int, first: datetime, last: datetime, window: timedelta
) -> QuerySet[Change]:
    """Changes (not cancelled) implemented, or still implementing, from ``window`` before
    `first` up to `last`: the time rule of a change that can have caused an incident opened
    between `first` and `last`."""
    return (
        Change.objects.filter(
            organization_id=organization_id,
            actual_start__isnull=False,
            actual_start__lte=last,
        )
        .exclude(state=ChangeState.CANCELLED)
        .filter(
            Q(actual_end__gte=first - window)
            | Q(actual_end__isnull=True, state=ChangeState.IMPLEMENT)
        )
    )


def candidate_changes(incident: Incident, window: timedelta, ids: list[int]) -> QuerySet[Change]:
    opened = incident.opened_at
    return (
        _changes_in_time(incident.organization_id, opened, opened, window)
        .filter(Q(cis__in=ids) | Q(service_id__in=ids))
        .distinct()
        .prefetch_related("cis")
    )


def candidate_deployments(
    incident: Incident, window: timedelta, ids: list[int]
) -> QuerySet[Deployment]:
    opened = incident.opened_at
    return (
        Deployment.objects.filter(
            organization_id=incident.organization_id,
            finished_at__gte=opened - window,
            finished_at__lte=opened,
        )
        .exclude(outcome__in=[DeploymentOutcome.CANCELLED, DeploymentOutcome.IN_PROGRESS])
        .filter(Q(ci_id__in=ids) | Q(service_id__in=ids))
        .select_related("ci", "service")
    )


def _describe(candidate: Candidate, names: dict[int, str], opened: datetime) -> str:
    cause = candidate.cause
    target = names.get(candidate.ci_id, "?")
    near = candidate.near
    if isinstance(cause, Change):
        if candidate.ongoing:
            start = cause.actual_start or opened
            head = (
                f"{cause.number} was being implemented on {target} when the incident opened "
                f"(started {human_span((opened - start).total_seconds())} before)"
            )
        else:
            head = (
                f"{cause.number} was implemented on {target} "
                f"{human_span(candidate.gap)} before the incident opened"
            )
    else:
        what = " ".join(
            p for p in (cause.version, cause.environment and f"to {cause.environment}") if p
        )
        head = (
            f"A deployment{' of ' + what if what else ''} ({cause.get_source_display()}) "
            f"finished on {target} {human_span(candidate.gap)} before the incident opened"
        )
    root = names.get(near.root, "?")
    if near.relation == "same_ci":
        tail = "it is the incident's CI"
    elif near.relation == "same_service":
        tail = "it is the incident's service"
    else:
        via = [names.get(i, "?") for i in near.path[1:-1]]
        through = f" through {', '.join(via)}" if via else ""
        if near.relation == "depends_on":
            tail = f"the incident's {near.noun} {root} depends on it{through}"
        else:
            tail = f"it depends on the incident's {near.noun} {root}{through}"
    return f"{head}; {tail}."[:REASON_LIMIT]


def find_causes(incident: Incident) -> list[Candidate]:
    """The changes and deployments that may have caused `incident`, best first (read only)."""
    if incident.ci_id is None and incident.service_id is None:
        return []
    window = timedelta(hours=window_hours(incident.organization_id))
    nearby = neighbourhood(incident)
    ids = list(nearby)
    opened = incident.opened_at
    found: list[Candidate] = []
    changes = list(candidate_changes(incident, window, ids))
    for change in changes:
        touched = {ci.pk for ci in change.cis.all()}
        if change.service_id:
            touched.add(change.service_id)
        best = _best(touched, nearby)
        if best is None:
            continue
        ongoing = change.actual_end is None or change.actual_end >= opened
        gap = 0.0 if ongoing else (opened - change.actual_end).total_seconds()
        found.append(Candidate(change, best[0], best[1], gap, ongoing))
    covered = {c.pk for c in changes}
    for deployment in candidate_deployments(incident, window, ids):
        if deployment.change_id in covered:
            continue  # the change made from the deployment speaks for it
        touched = {i for i in (deployment.ci_id, deployment.service_id) if i}
        best = _best(touched, nearby)
        if best is None:
            continue
        gap = (opened - deployment.finished_at).total_seconds()
        found.append(Candidate(deployment, best[0], best[1], gap, False))
    if not found:
        return []
    name_ids = {c.ci_id for c in found} | {i for c in found for i in c.near.path}
    names = dict(ConfigurationItem.objects.filter(pk__in=name_ids).values_list("pk", "name"))
    for c in found:
        c.score = round(c.near.weight * _time_factor(c.gap, window), 3)
        c.reason = _describe(c, names, opened)
    found.sort(key=lambda c: -c.score)
    return found


@transaction.atomic
def suggest_for_incident(incident: Incident) -> list[InducedLink]:
    """Create the suggestions for `incident` that do not exist yet (a system actor); returns
    the new ones. Safe to call again and again."""
    created: list[InducedLink] = []
    for candidate in find_causes(incident):
        cause = candidate.cause
        key = {"change": cause} if isinstance(cause, Change) else {"deployment": cause}
        if InducedLink.objects.filter(incident=incident, **key).exists():
            continue
        link = InducedLink(
            organization_id=incident.organization_id,
            incident=incident,
            state=InducedState.SUGGESTED,
            score=candidate.score,
            reason=candidate.reason,
            **key,
        )
        try:
            with acting_as(None):
                save_validated(link)
        except Conflict:  # written at the same moment by the other path (signal / catch-up)
            continue
        created.append(link)
    return created


def _looks_at(activity: Any) -> bool:
    """An incident opened, or its CI or service changed."""
    if activity.subject_type != "incident":
        return False
    if activity.kind == ActivityKind.FIELD:
        changes = (activity.data or {}).get("changes") or {}
        return bool({"ci", "service"} & set(changes))
    return activity.kind == ActivityKind.CREATED


def _may_have_causes(organization_id: int, incidents: list[Incident]) -> bool:
    """Could any change or deployment of the organisation count for any of these incidents
    (in time, wherever it is in the CMDB)? Two queries; when not, no neighbourhood is
    walked. The same time rules as `candidate_changes` / `candidate_deployments`, over the
    span of the incidents' opening times."""
    window = timedelta(hours=window_hours(organization_id))
    first = min(i.opened_at for i in incidents)
    last = max(i.opened_at for i in incidents)
    if _changes_in_time(organization_id, first, last, window).exists():
        return True
    return (
        Deployment.objects.filter(
            organization_id=organization_id,
            finished_at__gte=first - window,
            finished_at__lte=last,
        )
        .exclude(outcome__in=[DeploymentOutcome.CANCELLED, DeploymentOutcome.IN_PROGRESS])
        .exists()
    )


def suggest_for_incidents(incident_ids: list[int]) -> None:
    """`suggest_for_incident` for each of these incidents (after commit; a failure is
    logged, never raised). Loaded in one query; an organisation with no change or
    deployment in the window of any of them is done without walking the CMDB."""
    if not incident_ids:
        return
    try:
        incidents = list(
            Incident.objects.select_related("ci", "service")
            .filter(pk__in=incident_ids)
            .filter(Q(ci__isnull=False) | Q(service__isnull=False))
        )
        by_org: dict[int, list[Incident]] = {}
        for incident in incidents:
            by_org.setdefault(incident.organization_id, []).append(incident)
        order = {pk: n for n, pk in enumerate(incident_ids)}
        todo = sorted(
            (
                incident
                for org_id, found in by_org.items()
                if _may_have_causes(org_id, found)
                for incident in found
            ),
            key=lambda i: order[i.pk],
        )
    except Exception:
        logger.exception("change-induced suggestions for incidents %s failed", incident_ids)
        return
    for incident in todo:
        try:
            suggest_for_incident(incident)
        except Exception:  # a suggestion must never break the change that triggered it
            logger.exception("change-induced suggestions for incident %s failed", incident.pk)


def _on_activities(sender: Any, activities: list[Any], **kwargs: Any) -> None:
    """After commit: the incidents one transaction opened or moved, each once."""
    ids = list(dict.fromkeys(a.subject_id for a in activities if _looks_at(a)))
    suggest_for_incidents(ids)


def _on_activity(sender: Any, activity: Any, batched: bool = False, **kwargs: Any) -> None:
    """After commit: an incident opened, or its CI or service changed (``batched``:
    `_on_activities` had it with the others of its transaction)."""
    if not batched and _looks_at(activity):
        suggest_for_incidents([activity.subject_id])


timeline.activities_recorded.connect(_on_activities, dispatch_uid="changes_induced_on_activities")
timeline.activity_recorded.connect(_on_activity, dispatch_uid="changes_induced_on_activity")


def catch_up(since: datetime | None = None, now: datetime | None = None) -> int:
    """Suggest for incidents written since `since` (by default since the previous run of the
    periodic job, at most a day back): imports and demo data that sent no signal. Returns
    how many suggestions were created."""
    now = now or timezone.now()
    if since is None:
        since = _previous_run(now) or now - CATCH_UP_LOOKBACK
        since = max(since - CATCH_UP_MARGIN, now - CATCH_UP_LOOKBACK)
    incidents = (
        Incident.objects.filter(updated_at__gte=since)
        .filter(Q(ci__isnull=False) | Q(service__isnull=False))
        .select_related("ci", "service")
        .order_by("pk")
    )
    made = 0
    for incident in incidents.iterator(chunk_size=500):
        try:
            made += len(suggest_for_incident(incident))
        except Exception:
            logger.exception("change-induced catch-up for incident %s failed", incident.pk)
    return made


def _previous_run(now: datetime) -> datetime | None:
    from opsdesk.core.models import PeriodicJobRun

    current = periodic.tick_of(now, CATCH_UP_EVERY)
    return (
        PeriodicJobRun.objects.filter(job=induced_catch_up_task.name, tick__lt=current)
        .values_list("tick", flat=True)
        .first()
    )


@task(queue_name="periodic")
def induced_catch_up_task() -> dict[str, int]:
    """Suggest change-induced incidents for incidents the signal did not see."""
    return {"suggested": catch_up()}


periodic.register(induced_catch_up_task, every=CATCH_UP_EVERY)


# --- actions ---------------------------------------------------------------------------------


def _cause_data(link: InducedLink) -> dict[str, Any]:
    if link.change_id:
        c = link.change
        return {"type": "change", "id": c.pk, "number": c.number, "title": c.title}
    d = link.deployment
    return {
        "type": "deployment",
        "id": d.pk,
        "number": f"{d.source}:{d.external_id}",
        "title": " ".join(p for p in (d.version, d.environment) if p),
    }


def _incident_data(incident: Incident) -> dict[str, Any]:
    return {
        "type": "incident",
        "id": incident.pk,
        "number": incident.number,
        "title": incident.title,
    }


def _cause_change(link: InducedLink) -> Change | None:
    if link.change_id:
        return link.change
    return link.deployment.change if link.deployment and link.deployment.change_id else None


def _record_link(
    link: InducedLink, acting_user: Any, kind: str, extra: dict[str, Any], body: str
) -> None:
    """The link (or its undoing) on the incident's timeline and on the change's."""
    timeline.record(
        link.incident,
        kind,
        actor=acting_user,
        body=body,
        data={**_cause_data(link), "induced": True, "link": link.pk, **extra},
    )
    change = _cause_change(link)
    if change is not None:
        timeline.record(
            change,
            kind,
            actor=acting_user,
            body=body,
            data={**_incident_data(link.incident), "induced": True, "link": link.pk, **extra},
        )


@transaction.atomic
def confirm_induced(*, acting_user: Any, link: InducedLink) -> InducedLink:
    """An agent confirms that the change (or deployment) caused the incident."""
    require(acting_user, InducedLink, Action.CHANGE, link.organization_id)
    if link.state == InducedState.CONFIRMED:
        raise Conflict("This link is already confirmed.", field="state")
    before = link.state
    with acting_as(acting_user):
        link.state = InducedState.CONFIRMED
        link.decided_by = acting_user
        link.decided_at = timezone.now()
        save_validated(link)
        _record_link(
            link,
            acting_user,
            ActivityKind.LINK,
            {"relation": "caused_by", "from": before, "to": link.state},
            "Confirmed as change-induced.",
        )
    return link


@transaction.atomic
def dismiss_induced(*, acting_user: Any, link: InducedLink, reason: str) -> InducedLink:
    """An agent says the change did not cause the incident (a confirmed link is undone)."""
    require(acting_user, InducedLink, Action.CHANGE, link.organization_id)
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise FieldError({"reason": "Say why the change did not cause this incident."})
    if len(reason) > REASON_LIMIT:
        raise FieldError({"reason": f"At most {REASON_LIMIT} characters."})
    if link.state == InducedState.DISMISSED:
        raise Conflict("This suggestion is already dismissed.", field="state")
    before = link.state
    with acting_as(acting_user):
        link.state = InducedState.DISMISSED
        link.decided_by = acting_user
        link.decided_at = timezone.now()
        save_validated(link)
        extra = {"relation": "caused_by", "from": before, "to": link.state, "reason": reason}
        if before == InducedState.CONFIRMED:
            _record_link(link, acting_user, ActivityKind.UNLINK, extra, reason)
        else:
            timeline.record(
                link.incident,
                ActivityKind.UNLINK,
                actor=acting_user,
                body=reason,
                data={**_cause_data(link), "induced": True, "link": link.pk, **extra},
            )
    return link


@transaction.atomic
def link_induced(*, acting_user: Any, incident: Incident, change: Change) -> InducedLink:
    """An agent links an incident to the change that caused it by hand (confirmed at once).
    A suggestion of the same pair is confirmed instead of duplicated."""
    require(acting_user, InducedLink, Action.ADD, incident.organization_id)
    if change.organization_id != incident.organization_id:
        raise FieldError({"change_id": "The change belongs to another organisation."})
    if change.actual_start is None:
        raise FieldError(
            {
                "change_id": f"{change.number} has not been implemented: it cannot have caused "
                "an incident."
            }
        )
    existing = InducedLink.objects.filter(incident=incident, change=change).first()
    if existing is not None:
        return confirm_induced(acting_user=acting_user, link=existing)
    who = getattr(acting_user, "full_name", "") or getattr(acting_user, "email", "") or "an agent"
    with acting_as(acting_user):
        link = InducedLink(
            organization_id=incident.organization_id,
            incident=incident,
            change=change,
            state=InducedState.CONFIRMED,
            score=1.0,
            reason=f"Linked by hand by {who}.",
            decided_by=acting_user,
            decided_at=timezone.now(),
        )
        save_validated(link)
        _record_link(
            link,
            acting_user,
            ActivityKind.LINK,
            {"relation": "caused_by", "from": None, "to": link.state, "by_hand": True},
            "Linked by hand as change-induced.",
        )
    return link


# --- reads -----------------------------------------------------------------------------------


def links(user: Any, action: str = Action.VIEW) -> QuerySet[InducedLink]:
    return InducedLink.objects.restrict(user, action).select_related(
        "incident", "change", "deployment", "decided_by"
    )


def links_for_incident(user: Any, incident: Incident) -> QuerySet[InducedLink]:
    return links(user).filter(incident_id=incident.pk)


def links_for_change(user: Any, change: Change) -> QuerySet[InducedLink]:
    return links(user).filter(Q(change_id=change.pk) | Q(deployment__change_id=change.pk))


# --- the incident page's panel and the change page's section -------------------------------


def change_url(change: Change) -> str:
    """The change page (owned by the changes part; its plain path if the name is unknown)."""
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("changes-detail", args=[change.pk])
    except NoReverseMatch:
        return f"/changes/{change.pk}/"


def panel_context(user: Any, incident: Incident) -> dict[str, Any]:
    org = incident.organization_id
    rows = list(links_for_incident(user, incident).exclude(state=InducedState.DISMISSED))
    context: dict[str, Any] = {
        "incident": incident,
        "links": rows,
        "can_decide": has_permission(user, InducedLink, Action.CHANGE, org),
    }
    context["induced_panel"] = context
    return context


def induced_panel(user: Any, incident: Incident) -> Panel | None:
    if not has_permission(user, InducedLink, Action.VIEW, incident.organization_id):
        return None  # requesters: which change caused an outage is IT's business
    return Panel(
        title="Possibly caused by a change",
        template="changes/induced/panel.html",
        context=panel_context(user, incident),
        order=35,
    )


def induced_section(user: Any, change: Change) -> Section | None:
    org = change.organization_id
    if not has_permission(user, InducedLink, Action.VIEW, org):
        return None
    rows = list(links_for_change(user, change).exclude(state=InducedState.DISMISSED))
    if not rows and change.actual_start is None:
        return None
    context: dict[str, Any] = {
        "change": change,
        "links": rows,
        "window_hours": window_hours(org),
        "change_url": change_url(change),
        "can_decide": has_permission(user, InducedLink, Action.CHANGE, org),
        "can_link": change.actual_start is not None
        and has_permission(user, InducedLink, Action.ADD, org),
    }
    context["induced_section"] = context
    return Section(
        title="Incidents after this change",
        template="changes/induced/section.html",
        context=context,
        order=60,
    )


register_panel(induced_panel)
register_section(induced_section)
