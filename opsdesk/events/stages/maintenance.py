"""Stage ``maintenance`` (after ``bind``): an event is suppressed when, at its state time,

* its alert's CI is in a change that is being implemented now (state Implement), or is that
  change's service: ``"change CHG0000412 is being implemented on db-07"``; or
* an occurrence of a maintenance window (`opsdesk.changes.windows`) covers it: a window
  without services covers the whole organisation (bound or not); a window naming services
  covers the CIs those services rest on, i.e. CIs from which a failure travels up the CMDB
  to one of them (the same propagation as impact analysis), and the services themselves:
  ``"maintenance window 'Sunday patching' (Sun 1 Mar 02:00 - 06:00 UTC)"``.

Silenced events are left as they are (the silence's reason stands). The alert carries the
reason of its latest event (``alert.suppressed_by``); once an alert leaves maintenance its
next firing event is shown to correlation (``status_changed``) with a ``fired`` history row
"no longer suppressed". Suppressed events get one ``suppressed`` history row per alert and
reason, with their count.

Set-based: one query for the organisation's maintenance windows (with their services), one
for the changes being implemented (with their CIs), and, only when a window covering the
batch's time names services, one query per CMDB level walking up from all the batch's CIs
at once.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from opsdesk.changes.choices import ChangeState, WindowKind
from opsdesk.changes.models import Change, ChangeWindow
from opsdesk.changes.windows import SERVICE_DEPTH, describe_span, occurrences, windows_of, zone_of
from opsdesk.cmdb.choices import Propagation
from opsdesk.cmdb.models import ConfigurationItem, Relationship, RelationshipType
from opsdesk.events import pipeline
from opsdesk.events.choices import EventStatus
from opsdesk.events.models import Alert
from opsdesk.events.stages.dedup import NO_LONGER_SUPPRESSED, state_time
from opsdesk.events.stages.silence import SILENCE_PREFIX

CHUNK = 2000
NODE_BUDGET = 20000

Span = tuple[ChangeWindow, datetime, datetime]


def services_above(organization_id: int, ci_ids: set[int]) -> dict[int, set[int]]:
    """For each CI, the business services a failure of it reaches up the CMDB (itself
    included when it is one): a breadth-first walk from every CI at once, one query per
    level and direction."""
    if not ci_ids:
        return {}
    directed, both = set(), set()
    for pk, propagation in RelationshipType.objects.values_list("pk", "propagation"):
        if propagation == Propagation.TO_SOURCE:
            directed.add(pk)
        elif propagation == Propagation.BOTH:
            both.add(pk)
    roots_of: dict[int, set[int]] = {ci: {ci} for ci in ci_ids}
    frontier = dict(roots_of)
    base = Relationship.objects.filter(organization_id=organization_id)
    for _ in range(SERVICE_DEPTH):
        if not frontier or len(roots_of) >= NODE_BUDGET:
            break
        ids = list(frontier)
        steps: list[tuple[int, int]] = []
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            # Failures travel from a relationship's target to its source ("app runs on
            # server": the server's failure reaches the app); "both" carries either way.
            steps += base.filter(target_id__in=chunk, type_id__in=directed | both).values_list(
                "target_id", "source_id"
            )
            if both:
                steps += base.filter(source_id__in=chunk, type_id__in=both).values_list(
                    "source_id", "target_id"
                )
        grown: dict[int, set[int]] = defaultdict(set)
        for near, far in steps:
            new = frontier[near] - roots_of.get(far, set())
            if new:
                roots_of.setdefault(far, set()).update(new)
                grown[far] |= new
        frontier = dict(grown)
    service_ids: set[int] = set()
    reached = list(roots_of)
    for i in range(0, len(reached), CHUNK):
        service_ids.update(
            ConfigurationItem.objects.filter(
                pk__in=reached[i : i + CHUNK], ci_class__is_service=True
            ).values_list("pk", flat=True)
        )
    out: dict[int, set[int]] = defaultdict(set)
    for service in service_ids:
        for root in roots_of[service]:
            out[root].add(service)
    return out


def _window_reason(window: ChangeWindow, start: datetime, end: datetime) -> str:
    return f"maintenance window {window.name!r} ({describe_span(start, end, zone_of(window))})"


@pipeline.stage("maintenance")
def run(batch: pipeline.Batch) -> None:
    items = [i for i in batch.items if i.alert is not None and not i.suppressed_by]
    if not items:
        return
    org = batch.organization_id
    times = {id(i): state_time(i.event, batch.now) for i in items}
    lo, hi = min(times.values()), max(times.values()) + timedelta(microseconds=1)

    spans: list[Span] = [
        (window, start, end)
        for window in windows_of(org, WindowKind.MAINTENANCE)
        for start, end in occurrences(window, lo, hi)
    ]
    implementing: dict[int, tuple[str, str]] = {}
    for change in (
        Change.objects.filter(organization_id=org, state=ChangeState.IMPLEMENT)
        .prefetch_related("cis")
        .select_related("service")
        .order_by("id")
    ):
        for ci in change.cis.all():
            implementing.setdefault(ci.pk, (change.number, ci.name))
        if change.service_id:
            implementing.setdefault(change.service_id, (change.number, change.service.name))

    if not spans and not implementing:
        # Nothing mutes this batch: only alerts an earlier window or change muted (their
        # mark is lifted below) need looking at; the others would be left as they are.
        items = [
            i
            for i in items
            if i.alert.suppressed_by and not i.alert.suppressed_by.startswith(SILENCE_PREFIX)
        ]
        if not items:
            return
    ci_ids = {i.alert.ci_id for i in items if i.alert.ci_id}
    named = [s for s in spans if s[0].services.all()]
    services = services_above(org, ci_ids) if named and ci_ids else {}

    def reason_for(item: pipeline.Item) -> str:
        ci_id = item.alert.ci_id
        if ci_id in implementing:
            number, name = implementing[ci_id]
            return f"change {number} is being implemented on {name}"
        at = times[id(item)]
        for window, start, end in spans:
            if not start <= at < end:
                continue
            covered = {s.pk for s in window.services.all()}
            if not covered or (ci_id is not None and covered & services.get(ci_id, set())):
                return _window_reason(window, start, end)
        return ""

    latest: dict[int, tuple[pipeline.Item, str]] = {}
    folded: dict[tuple[int, str], pipeline.HistoryRow] = {}
    for item in items:
        reason = reason_for(item)
        alert = item.alert
        latest[alert.pk] = (item, reason)
        if not reason:
            continue
        item.suppressed_by = reason[:300]
        row = folded.get((alert.pk, reason))
        if row is None:
            row = folded[(alert.pk, reason)] = pipeline.HistoryRow(
                alert,
                "suppressed",
                times[id(item)],
                alert.status,
                alert.severity,
                count=0,
                note=reason[:500],
                inbox_id=item.inbox_id,
                group_id=alert.group_id,
            )
        row.count += 1
        row.at = max(row.at, times[id(item)])

    changed: list[Alert] = []
    lifted: list[pipeline.HistoryRow] = []
    for item, reason in latest.values():
        alert = item.alert
        if alert.suppressed_by.startswith(SILENCE_PREFIX) or alert.suppressed_by == reason[:300]:
            continue
        if alert.suppressed_by and not reason and alert.status == EventStatus.FIRING:
            item.status_changed = True
            lifted.append(
                pipeline.HistoryRow(
                    alert,
                    "fired",
                    times[id(item)],
                    alert.status,
                    alert.severity,
                    note=NO_LONGER_SUPPRESSED,
                    inbox_id=item.inbox_id,
                    group_id=alert.group_id,
                )
            )
        alert.suppressed_by = reason[:300]
        changed.append(alert)
    if changed:
        batch.changed(changed, ["suppressed_by"])
    if folded or lifted:
        batch.add_history([*folded.values(), *lifted])
