"""Root-cause ranking of an alert group, with the evidence in sentences.

**Candidates**: the CIs of the group's alerts and what they depend on, down to
``DOWN_HOPS`` hops along impact-carrying relationships (a database server without an alert
of its own can be the cause of its databases' alerts).

**Score** (0-1, higher is likelier), for a candidate *c* among the group's alerting CIs *A*:

    coverage  = |{a in A : a is c, or a depends on c}| / |A|
    alerted   = 1 if c has an alert in the group
    lead      = 1 for the first CI to alert, falling linearly to 0 for the last
    change    = 1.0 for a change implemented on c (or a deployment finished on it) right at
                the onset, falling to 0.5 at CHANGE_WINDOW before it; 0 without one
    distance  = mean hops from its alerting dependents to c

    score = 0.5 x coverage + coverage x (0.15 x alerted + 0.15 x alerted x lead)
            + 0.2 x change - 0.02 x min(distance, 5)

Position in the graph dominates: what everything else depends on explains every alert. An
alerting CI that all the others depend on and that alerted first scores 0.8; a silent
common dependency scores about 0.5 and wins only when no alerting CI explains all the
alerts (the alerting bonus is weighted by coverage). Time lead separates CIs of equal
coverage; a recent change adds up to 0.2 and is named. The nearest common dependency wins
among silent ones (the distance term). ``group.cause_change`` is the change named on the
best of the top three candidates that has one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Min, Q

from opsdesk.changes.choices import ChangeState
from opsdesk.changes.induced import human_span
from opsdesk.changes.models import Change, Deployment
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.events.correlation.topology import Neighbourhood
from opsdesk.events.models import Alert, AlertGroup

DOWN_HOPS = 3
CHANGE_WINDOW = timedelta(hours=2)
#: A change that starts this long after the onset is still counted (clocks disagree).
CLOCK_SLACK = timedelta(minutes=2)
KEEP = 5
IMPLEMENTED = (ChangeState.IMPLEMENT, ChangeState.REVIEW, ChangeState.CLOSED)
W_COVERAGE, W_ALERTED, W_LEAD, W_CHANGE, W_DISTANCE = 0.5, 0.15, 0.15, 0.2, 0.02


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{round(seconds)} s"
    return human_span(seconds)


def _change_score(at: datetime, onset: datetime) -> float:
    before = (onset - at).total_seconds()
    if before < -CLOCK_SLACK.total_seconds() or before > CHANGE_WINDOW.total_seconds():
        return 0.0
    return 1.0 - 0.5 * max(before, 0.0) / CHANGE_WINDOW.total_seconds()


def _suspects(
    organization_id: int, ci_ids: set[int], onsets: Iterable[datetime]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """Changes implemented and deployments finished on these CIs around the onsets: per CI."""
    times = list(onsets)
    if not ci_ids or not times:
        return {}, {}
    start, end = min(times) - CHANGE_WINDOW, max(times) + CLOCK_SLACK
    # Few changes and deployments fall in the window: they are read for the organisation
    # and matched to the CIs here, not with thousands of CI ids in the query.
    changes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = Change.objects.filter(
        organization_id=organization_id,
        state__in=IMPLEMENTED,
        actual_start__gte=start,
        actual_start__lte=end,
        cis__isnull=False,
    ).values_list("pk", "number", "title", "actual_start", "cis")
    for pk, number, title, at, ci in rows:
        if ci in ci_ids:
            changes[ci].append({"id": pk, "number": number, "title": title, "at": at})
    deployments: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = Deployment.objects.filter(
        Q(finished_at__gte=start, finished_at__lte=end)
        | Q(finished_at__isnull=True, started_at__gte=start, started_at__lte=end),
        organization_id=organization_id,
    ).values_list("pk", "version", "ci_id", "service_id", "started_at", "finished_at", "change_id")
    for pk, version, ci, service, started, finished, change in rows:
        info = {"id": pk, "version": version, "at": finished or started, "change_id": change}
        for target in {ci, service} & ci_ids:
            deployments[target].append(info)
    return changes, deployments


def rank_groups(
    groups: list[AlertGroup], hood: Neighbourhood | None = None
) -> dict[int, list[dict[str, Any]]]:
    """Ranked candidates of each group (set-based: a handful of queries for all of them)."""
    if not groups:
        return {}
    org = groups[0].organization_id
    per: dict[int, dict[int, datetime]] = defaultdict(dict)  # group -> CI -> first start
    rows = (
        Alert.objects.filter(group_id__in=[g.pk for g in groups], ci__isnull=False)
        .order_by()
        .values_list("group_id", "ci_id")
        .annotate(first=Min("starts_at"))
    )
    for group_id, ci, first in rows:
        per[group_id][ci] = first
    alerting = {ci for cis in per.values() for ci in cis}
    if hood is None or hood.hops < DOWN_HOPS:
        hood = Neighbourhood(org, DOWN_HOPS)
    hood.extend(alerting)
    down = {ci: hood.downstream(ci, DOWN_HOPS) for ci in alerting}
    everything = set(alerting) | {c for reach in down.values() for c in reach}
    info = {
        pk: (name, ci_class)
        for pk, name, ci_class in ConfigurationItem.objects.filter(
            pk__in=list(everything)
        ).values_list("pk", "name", "ci_class__key")
    }
    hood.names.update({pk: name for pk, (name, _) in info.items()})
    onsets = {g.pk: min(per[g.pk].values()) for g in groups if per.get(g.pk)}
    changes, deployments = _suspects(org, everything, onsets.values())
    return {g.pk: _rank_one(per.get(g.pk, {}), down, info, changes, deployments) for g in groups}


def _rank_one(
    starts: dict[int, datetime],
    down: dict[int, dict],
    info: dict[int, tuple[str, str]],
    changes: dict[int, list[dict[str, Any]]],
    deployments: dict[int, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    if not starts:
        return []
    onset = min(starts.values())
    last = max(starts.values())
    span = (last - onset).total_seconds()
    total = len(starts)
    # candidate -> {alerting CI depending on it: hops}
    dependents: dict[int, dict[int, int]] = defaultdict(dict)
    for a in starts:
        for c, hit in down[a].items():
            dependents[c][a] = hit.hops
    ranked = []
    for c, deps in dependents.items():
        name, ci_class = info.get(c, (f"CI {c}", ""))
        others = {a: h for a, h in deps.items() if a != c}
        alerted = c in starts
        coverage = len(deps) / total
        lead = 0.0
        if alerted:
            lead = 1.0 if span <= 0 else 1.0 - (starts[c] - onset).total_seconds() / span
        distance = sum(others.values()) / len(others) if others else 0.0
        evidence: list[str] = []
        if alerted and others:
            first_other = min(starts[a] for a in others)
            gap = (first_other - starts[c]).total_seconds()
            noun = "dependent" if len(others) == 1 else "dependents"
            when = "before" if gap >= 0 else "after the first of"
            evidence.append(f"{name} alerted {_span(gap)} {when} its {len(others)} alerting {noun}")
        elif alerted:
            evidence.append(
                f"{name} alerted first"
                if starts[c] == onset
                else f"{name} alerted {_span((starts[c] - onset).total_seconds())} after the onset"
            )
        if others and (not alerted or len(deps) < total):
            evidence.append(
                f"{len(deps)} of {total} alerting CIs depend on {name}"
                + ("" if alerted else " (it has no alert of its own)")
            )
        best_change: dict[str, Any] | None = None
        change_score = 0.0
        for change in changes.get(c, []):
            s = _change_score(change["at"], onset)
            if s > change_score:
                change_score, best_change = s, change
        if best_change is not None:
            ago = (onset - best_change["at"]).total_seconds()
            evidence.append(
                f"{best_change['number']} was implemented on it {_span(ago)} "
                + ("earlier" if ago >= 0 else "later")
            )
        best_deploy: dict[str, Any] | None = None
        deploy_score = 0.0
        for deploy in deployments.get(c, []):
            s = _change_score(deploy["at"], onset)
            if s > deploy_score:
                deploy_score, best_deploy = s, deploy
        if best_deploy is not None:
            ago = (onset - best_deploy["at"]).total_seconds()
            version = f" of {best_deploy['version']}" if best_deploy["version"] else ""
            evidence.append(
                f"a deployment{version} finished on it {_span(ago)} "
                + ("earlier" if ago >= 0 else "later")
            )
        suspicion = max(change_score, deploy_score)
        score = (
            W_COVERAGE * coverage
            + coverage * (W_ALERTED * alerted + W_LEAD * lead * alerted)
            + W_CHANGE * suspicion
            - W_DISTANCE * min(distance, 5.0)
        )
        ranked.append(
            {
                "ci_id": c,
                "ci": name,
                "ci_class": ci_class,
                "score": round(max(score, 0.0), 3),
                "evidence": evidence,
                "change_id": best_change["id"] if best_change else None,
                "change": best_change["number"] if best_change else None,
                "deployment_id": best_deploy["id"] if best_deploy else None,
                "alerted": alerted,
                "coverage": round(coverage, 3),
            }
        )
    ranked.sort(key=lambda r: (-r["score"], r["ci"]))
    return ranked[:KEEP]


def rank(group: AlertGroup) -> list[dict[str, Any]]:
    """The group's root-cause candidates, best first: ``[{ci_id, ci, ci_class, score,
    evidence: [sentence], change_id, change, ...}]``."""
    return rank_groups([group]).get(group.pk, [])


def cause_change_of(ranked: list[dict[str, Any]]) -> int | None:
    """The change named on the best of the top three candidates that has one."""
    for candidate in ranked[:3]:
        if candidate.get("change_id"):
            return candidate["change_id"]
    return None
