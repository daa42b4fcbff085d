"""Impact analysis: what a failing CI can take down (upstream) and what it rests on (downstream).

A breadth-first walk over the relationship table, one query per level and direction, with a
visited set (so cycles end) and a node budget (so a hub cannot make a request unbounded).
Each relationship type says how a failure travels (`Propagation`): for ``app runs_on server``
a failing server impacts the app; ``connects_to`` carries impact both ways; ``backs_up``
carries none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from opsdesk.cmdb.choices import Propagation
from opsdesk.cmdb.models import ConfigurationItem, Relationship, RelationshipType

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
MAX_DEPTH = 10
DEFAULT_NODE_BUDGET = 5000
CHUNK = 2000


@dataclass
class Reached:
    ci_id: int
    depth: int
    via: int | None  # the CI it was reached from (None for the root)
    relationship: str | None  # relationship type key of that step


@dataclass
class Walk:
    reached: dict[int, Reached] = field(default_factory=dict)
    edges: list[tuple[int, int, str]] = field(default_factory=list)  # (source, target, type key)
    truncated: bool = False


def _types() -> tuple[dict[int, str], set[int], set[int]]:
    keys: dict[int, str] = {}
    directed: set[int] = set()
    both: set[int] = set()
    for pk, key, propagation in RelationshipType.objects.values_list("pk", "key", "propagation"):
        keys[pk] = key
        if propagation == Propagation.TO_SOURCE:
            directed.add(pk)
        elif propagation == Propagation.BOTH:
            both.add(pk)
    return keys, directed, both


def walk(
    root: ConfigurationItem, direction: str, depth: int, node_budget: int = DEFAULT_NODE_BUDGET
) -> Walk:
    """Every CI reachable from `root` in `direction` within `depth` steps."""
    keys, directed, both = _types()
    carrying = directed | both
    result = Walk()
    result.reached[root.pk] = Reached(root.pk, 0, None, None)
    frontier = [root.pk]
    base = Relationship.objects.filter(organization_id=root.organization_id)
    for level in range(1, depth + 1):
        if not frontier:
            break
        steps: list[
            tuple[int, int, int, int, int]
        ] = []  # (from, to, type, edge source, edge target)
        for i in range(0, len(frontier), CHUNK):
            chunk = frontier[i : i + CHUNK]
            # Upstream: failures travel from target to source; downstream is the reverse walk.
            near, far = (
                ("target_id", "source_id") if direction == UPSTREAM else ("source_id", "target_id")
            )
            rows = base.filter(**{f"{near}__in": chunk}, type_id__in=carrying).values_list(
                near, far, "type_id"
            )
            for a, b, t in rows:
                src, tgt = (b, a) if direction == UPSTREAM else (a, b)
                steps.append((a, b, t, src, tgt))
            if both:
                rows = base.filter(**{f"{far}__in": chunk}, type_id__in=both).values_list(
                    far, near, "type_id"
                )
                for a, b, t in rows:
                    src, tgt = (a, b) if direction == UPSTREAM else (b, a)
                    steps.append((a, b, t, src, tgt))
        next_frontier: list[int] = []
        for a, b, t, src, tgt in steps:
            result.edges.append((src, tgt, keys[t]))
            if b in result.reached:
                continue
            if len(result.reached) >= node_budget:
                result.truncated = True
                break
            result.reached[b] = Reached(b, level, a, keys[t])
            next_frontier.append(b)
        frontier = next_frontier
    return result


def path_to(reached: dict[int, Reached], ci_id: int) -> list[int]:
    """Root first, `ci_id` last."""
    path = [ci_id]
    node = reached[ci_id]
    while node.via is not None:
        path.append(node.via)
        node = reached[node.via]
    return list(reversed(path))


def _ci_rows(ids: set[int]) -> dict[int, dict[str, Any]]:
    rows: dict[int, dict[str, Any]] = {}
    id_list = list(ids)
    for i in range(0, len(id_list), CHUNK):
        for row in ConfigurationItem.objects.filter(pk__in=id_list[i : i + CHUNK]).values(
            "id",
            "name",
            "status",
            "environment",
            "criticality",
            "ci_class__key",
            "ci_class__label",
            "ci_class__is_service",
        ):
            rows[row["id"]] = {
                "id": row["id"],
                "name": row["name"],
                "status": row["status"],
                "environment": row["environment"],
                "criticality": row["criticality"],
                "ci_class": row["ci_class__key"],
                "class_label": row["ci_class__label"],
                "is_service": row["ci_class__is_service"],
            }
    return rows


def _service_rows(ids: list[int]) -> dict[int, dict[str, Any]]:
    """The rows of those of `ids` that are business services (one query per chunk)."""
    rows: dict[int, dict[str, Any]] = {}
    for i in range(0, len(ids), CHUNK):
        for row in ConfigurationItem.objects.filter(
            pk__in=ids[i : i + CHUNK], ci_class__is_service=True
        ).values("id", "name", "criticality"):
            rows[row["id"]] = row
    return rows


def upstream_services(
    ci: ConfigurationItem, depth: int = 6, node_budget: int = DEFAULT_NODE_BUDGET
) -> dict[str, Any]:
    """Only the business services a failing `ci` can take down, each with one shortest path
    (CI ids, `ci` first): the part of `impact_analysis` that incidents and changes need."""
    depth = max(1, min(depth, MAX_DEPTH))
    up = walk(ci, UPSTREAM, depth, node_budget)
    rows = _service_rows([i for i in up.reached if i != ci.pk])
    services = [
        {**row, "depth": up.reached[pk].depth, "path": path_to(up.reached, pk)}
        for pk, row in rows.items()
    ]
    services.sort(key=lambda s: (s["criticality"] or 9, s["name"]))
    return {"services": services, "reached": len(up.reached) - 1, "truncated": up.truncated}


def impact_analysis(
    ci: ConfigurationItem, depth: int = 6, node_budget: int = DEFAULT_NODE_BUDGET
) -> dict[str, Any]:
    """The blast radius of `ci`: affected business services with paths, and its dependencies."""
    depth = max(1, min(depth, MAX_DEPTH))
    up = walk(ci, UPSTREAM, depth, node_budget)
    down = walk(ci, DOWNSTREAM, depth, node_budget)
    info = _ci_rows(set(up.reached) | set(down.reached))

    def listing(w: Walk) -> list[dict[str, Any]]:
        out = []
        for node in sorted(w.reached.values(), key=lambda n: (n.depth, info[n.ci_id]["name"])):
            if node.ci_id == ci.pk:
                continue
            out.append(
                {
                    **info[node.ci_id],
                    "depth": node.depth,
                    "via": node.via,
                    "relationship": node.relationship,
                }
            )
        return out

    services = []
    for node in up.reached.values():
        row = info[node.ci_id]
        if row["is_service"] and node.ci_id != ci.pk:
            path = path_to(up.reached, node.ci_id)
            services.append(
                {
                    **row,
                    "depth": node.depth,
                    "path": path,
                    "path_names": [info[i]["name"] for i in path],
                }
            )
    services.sort(key=lambda s: (s["criticality"] or 9, s["name"]))
    by_criticality: dict[str, int] = {}
    for s in services:
        label = f"tier_{s['criticality']}" if s["criticality"] else "unrated"
        by_criticality[label] = by_criticality.get(label, 0) + 1
    upstream = listing(up)
    return {
        "ci": info[ci.pk],
        "depth": depth,
        "upstream": upstream,
        "downstream": listing(down),
        "services": services,
        "blast_radius": {
            "cis": len(upstream),
            "services": len(services),
            "by_criticality": by_criticality,
            "highest_criticality": min(
                (s["criticality"] for s in services if s["criticality"]), default=None
            ),
        },
        "edges": [
            {"source": s, "target": t, "type": k}
            for s, t, k in dict.fromkeys(up.edges + down.edges)
        ],
        "truncated": up.truncated or down.truncated,
    }
