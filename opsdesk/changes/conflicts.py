"""Conflict detection: what else happens to the same systems while a change is planned.

`find_conflicts(change)` looks at the change's planned window and answers, each with a
reason a person reads:

* ``same_ci``: another live change (a state of `ACTIVE_STATES`) of the organisation,
  planned to overlap, touches one of the same CIs (the service counts as a CI);
* ``dependent_ci``: such a change touches a CI within two hops of one of ours in the CMDB
  (either direction, over relationships that carry impact), e.g. "bank-app runs on
  app-srv-01, changed by CHG0000012";
* ``freeze``: the planned window overlaps a freeze window that covers the change;
* ``outside_maintenance``: a normal change planned outside every maintenance window of its
  services, when such windows exist.

Computed live (one query per CMDB hop); what was found when the change was last scheduled
is kept on ``change.conflicts`` by `opsdesk.changes.window_actions`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from opsdesk.changes import windows
from opsdesk.changes.choices import ACTIVE_STATES, ChangeType
from opsdesk.changes.models import Change
from opsdesk.cmdb.choices import Propagation
from opsdesk.cmdb.models import ConfigurationItem, Relationship, RelationshipType

#: How far in the CMDB a dependency still counts as a conflict.
DEPENDENCY_HOPS = 2
#: At most this many conflicts of one kind with one other change are listed.
PER_CHANGE = 5

Edge = tuple[int, int, int]  # (source, target, relationship type)


def _touched(change: Change) -> dict[int, str]:
    touched = {ci.pk: ci.name for ci in change.cis.all()} if change.pk else {}
    if change.service_id:
        touched.setdefault(change.service_id, change.service.name)
    return touched


def _neighbourhood(
    organization_id: int, roots: set[int], hops: int
) -> dict[int, tuple[int, list[Edge]]]:
    """Every CI within `hops` of `roots` (both directions, relationships that carry impact):
    ``{ci id: (the root it was reached from, the edges of the path from it)}``."""
    carrying = list(
        RelationshipType.objects.exclude(propagation=Propagation.NONE).values_list("pk", flat=True)
    )
    reached: dict[int, tuple[int, list[Edge]]] = {r: (r, []) for r in roots}
    frontier = set(roots)
    base = Relationship.objects.filter(organization_id=organization_id, type_id__in=carrying)
    for _ in range(hops):
        if not frontier:
            break
        rows = base.filter(Q(source_id__in=frontier) | Q(target_id__in=frontier)).values_list(
            "source_id", "target_id", "type_id"
        )
        nxt: set[int] = set()
        for src, tgt, typ in sorted(rows):
            for near, far in ((src, tgt), (tgt, src)):
                if near in frontier and far not in reached:
                    root, path = reached[near]
                    reached[far] = (root, [*path, (src, tgt, typ)])
                    nxt.add(far)
        frontier = nxt
    return reached


def _phrase(path: list[Edge], names: dict[int, str], labels: dict[int, str]) -> str:
    return "; ".join(f"{names[s]} {labels[t]} {names[g]}" for s, g, t in path)


def change_conflicts(change: Change) -> list[dict[str, Any]]:
    """``same_ci`` and ``dependent_ci`` conflicts with other live changes."""
    if change.planned_start is None or change.planned_end is None:
        return []
    ours = _touched(change)
    if not ours:
        return []
    others = list(
        Change.objects.filter(
            organization_id=change.organization_id,
            state__in=ACTIVE_STATES,
            planned_start__lt=change.planned_end,
            planned_end__gt=change.planned_start,
        )
        .exclude(pk=change.pk)
        .select_related("service")
        .prefetch_related("cis")
        .order_by("planned_start", "id")
    )
    if not others:
        return []
    zone = windows.zone_of(change.organization)
    reached = _neighbourhood(change.organization_id, set(ours), DEPENDENCY_HOPS)
    touched_by = {other.pk: _touched(other) for other in others}
    names_needed = set(ours) | {i for path in reached.values() for e in path[1] for i in e[:2]}
    names = dict(ConfigurationItem.objects.filter(pk__in=names_needed).values_list("pk", "name"))
    labels = dict(RelationshipType.objects.values_list("pk", "label"))
    found: list[dict[str, Any]] = []
    for other in others:
        theirs = touched_by[other.pk]
        span = windows.describe_span(other.planned_start, other.planned_end, zone)
        base = {"change_id": other.pk, "change_number": other.number}
        shared = sorted(set(ours) & set(theirs), key=lambda i: ours[i].lower())
        for ci_id in shared[:PER_CHANGE]:
            found.append(
                {
                    "kind": "same_ci",
                    "reason": f"{ours[ci_id]} is also changed by {other.number} "
                    f"“{other.title}” ({span}).",
                    "ci": ours[ci_id],
                    **base,
                }
            )
        dependent = [i for i in theirs if i in reached and i not in ours and reached[i][1]]
        dependent.sort(key=lambda i: (len(reached[i][1]), theirs[i].lower()))
        for ci_id in dependent[:PER_CHANGE]:
            root, path = reached[ci_id]
            phrase = _phrase(path, names, labels)
            if path[-1][1] == ci_id:
                reason = f"{phrase}, changed by {other.number}"
            else:
                reason = f"{phrase}; {theirs[ci_id]} is changed by {other.number}"
            found.append(
                {
                    "kind": "dependent_ci",
                    "reason": f"{reason} “{other.title}” ({span}).",
                    "ci": ours[root],
                    "other_ci": theirs[ci_id],
                    "hops": len(path),
                    **base,
                }
            )
    return found


def window_conflicts(change: Change) -> list[dict[str, Any]]:
    """``freeze`` and ``outside_maintenance`` conflicts."""
    if change.planned_start is None or change.planned_end is None:
        return []
    zone = windows.zone_of(change.organization)
    found: list[dict[str, Any]] = []
    seen: set[int] = set()
    for freeze in windows.freezes_for_change(change):
        if freeze["window_id"] in seen:
            continue
        seen.add(freeze["window_id"])
        scope = f" for {', '.join(freeze['services'])}" if freeze["services"] else ""
        found.append(
            {
                "kind": "freeze",
                "reason": f"Planned inside the freeze window {freeze['name']}{scope} "
                f"({windows.describe_span(freeze['starts_at'], freeze['ends_at'], zone)}).",
                "window_id": freeze["window_id"],
                "window": freeze["name"],
            }
        )
    if change.change_type == ChangeType.NORMAL and windows.in_maintenance_window(change) is False:
        names = sorted(w.name for w in windows.maintenance_windows_for(change))
        found.append(
            {
                "kind": "outside_maintenance",
                "reason": "Planned outside every maintenance window of its services "
                f"({', '.join(names)}).",
                "windows": names,
            }
        )
    return found


def find_conflicts(change: Change) -> list[dict[str, Any]]:
    """Every conflict of the change's planned window, changes first, then windows; each
    ``{"kind", "reason", "change_id"?, "change_number"?, "window_id"?}``."""
    return change_conflicts(change) + window_conflicts(change)
