"""The CMDB neighbourhood of a batch's CIs, loaded once per batch and searched in memory.

**Which paths count.** Edges are relationships whose type propagates impact (`Propagation`
``to_source`` or ``both``; ``backs_up`` carries none). A failure travels from a dependency to
what depends on it, so two alerts share a cause when one CI (transitively) depends on the
other, or when both depend on a common CI: a path that first walks *down* (towards
dependencies) and then *up* (towards dependents), "a valley". A path over a common
*dependent* (two applications that a business service both uses) is not a common cause, so
a walk may not turn down again once it has gone up. ``both`` edges count either way.

**Loading.** `Neighbourhood.load` walks breadth first from all of the batch's CIs at once, in
both directions, to ``hops`` levels: two queries per level for the whole batch, and one for
the names of the CIs reached (the reasons name them). Every path of
at most ``hops`` steps from one of those CIs only uses edges of CIs nearer than ``hops`` to
it, so the loaded edges answer every question about them exactly.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from opsdesk.cmdb.choices import Propagation
from opsdesk.cmdb.models import ConfigurationItem, Relationship, RelationshipType

CHUNK = 2000
#: A CI with more dependents than this (a core switch, a shared SAN) is too common a
#: dependency to explain a coincidence: valleys do not pass through it (it may still be an
#: end of a path, and it is still a root-cause candidate).
HUB_DEPENDENTS = 60
DOWN, UP = "down", "up"


@dataclass
class Edge:
    other: int
    direction: str  # DOWN: `other` is a dependency of this CI; UP: `other` depends on it
    label: str  # "depends on", "runs on", ... (read source -> target)
    source: int
    target: int


@dataclass
class Hit:
    """How `ci` is reached from the start: number of hops and the path of CI ids."""

    ci: int
    hops: int
    path: tuple[int, ...]


@dataclass
class Neighbourhood:
    organization_id: int
    hops: int
    adjacency: dict[int, list[Edge]] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)
    loaded: set[int] = field(default_factory=set)
    labels: dict[tuple[int, int], str] = field(default_factory=dict)
    _down: dict[tuple[int, int], dict[int, Hit]] = field(default_factory=dict, repr=False)
    _reach: dict[tuple[int, int], dict[int, Hit]] = field(default_factory=dict, repr=False)
    _shared: dict[tuple[int, ...], Counter[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, organization_id: int, ci_ids: Iterable[int], hops: int) -> Neighbourhood:
        hood = cls(organization_id, max(0, hops))
        hood.extend(ci_ids)
        return hood

    def extend(self, ci_ids: Iterable[int]) -> None:
        """Load what is within ``hops`` of `ci_ids` and not loaded yet."""
        frontier = [c for c in set(ci_ids) if c not in self.loaded]
        if not frontier:
            return
        self._down.clear()
        self._reach.clear()
        self._shared.clear()
        types = {
            pk: (label, propagation)
            for pk, label, propagation in RelationshipType.objects.exclude(
                propagation=Propagation.NONE
            ).values_list("pk", "label", "propagation")
        }
        base = Relationship.objects.filter(
            organization_id=self.organization_id, type_id__in=list(types)
        )
        seen = set(frontier) | self.loaded
        for _level in range(self.hops):
            if not frontier:
                break
            rows: set[tuple[int, int, int]] = set()
            for i in range(0, len(frontier), CHUNK):
                chunk = frontier[i : i + CHUNK]
                rows.update(
                    base.filter(source_id__in=chunk).values_list(
                        "source_id", "target_id", "type_id"
                    )
                )
                rows.update(
                    base.filter(target_id__in=chunk).values_list(
                        "source_id", "target_id", "type_id"
                    )
                )
            self.loaded.update(frontier)
            following: list[int] = []
            for source, target, type_id in rows:
                label, propagation = types[type_id]
                if (source, target) in self.labels:
                    continue
                self.labels[(source, target)] = label
                # source depends on target: from source the way is down, from target up.
                down, up = DOWN, UP
                self.adjacency.setdefault(source, []).append(
                    Edge(target, down, label, source, target)
                )
                self.adjacency.setdefault(target, []).append(
                    Edge(source, up, label, source, target)
                )
                if propagation == Propagation.BOTH:
                    self.adjacency[source].append(Edge(target, up, label, source, target))
                    self.adjacency[target].append(Edge(source, down, label, source, target))
                for ci in (source, target):
                    if ci not in seen:
                        seen.add(ci)
                        following.append(ci)
            frontier = following
        self.loaded.update(frontier)
        # Every CI a path can name is loaded now: their names in one query per chunk, not
        # one per path described.
        self.name_all(seen)

    def dependents(self, ci: int) -> int:
        return sum(1 for e in self.adjacency.get(ci, ()) if e.direction == UP)

    def reach(self, start: int, hops: int | None = None) -> dict[int, Hit]:
        """Every CI on a valley path of at most ``hops`` steps from `start` (itself at 0).
        Cached until the neighbourhood grows: the alerts of a batch share CIs."""
        limit = self.hops if hops is None else hops
        cached = self._reach.get((start, limit))
        if cached is not None:
            return cached
        best: dict[int, Hit] = {start: Hit(start, 0, (start,))}
        # state: (ci, turned up yet)
        queue: deque[tuple[int, bool, tuple[int, ...]]] = deque([(start, False, (start,))])
        visited = {(start, False)}
        while queue:
            ci, turned, path = queue.popleft()
            if len(path) - 1 >= limit:
                continue
            if ci != start and self.dependents(ci) > HUB_DEPENDENTS:
                continue
            for edge in self.adjacency.get(ci, ()):
                if turned and edge.direction == DOWN:
                    continue
                state = (edge.other, turned or edge.direction == UP)
                if state in visited or edge.other in path:
                    continue
                visited.add(state)
                step = (*path, edge.other)
                if edge.other not in best:
                    best[edge.other] = Hit(edge.other, len(step) - 1, step)
                queue.append((edge.other, state[1], step))
        self._reach[(start, limit)] = best
        return best

    def downstream(self, start: int, hops: int | None = None) -> dict[int, Hit]:
        """What `start` depends on, transitively, within ``hops`` (itself at 0)."""
        limit = self.hops if hops is None else hops
        cached = self._down.get((start, limit))
        if cached is not None:
            return cached
        best: dict[int, Hit] = {start: Hit(start, 0, (start,))}
        queue: deque[int] = deque([start])
        while queue:
            ci = queue.popleft()
            hit = best[ci]
            if hit.hops >= limit:
                continue
            for edge in self.adjacency.get(ci, ()):
                if edge.direction == DOWN and edge.other not in best:
                    best[edge.other] = Hit(edge.other, hit.hops + 1, (*hit.path, edge.other))
                    queue.append(edge.other)
        self._down[(start, limit)] = best
        return best

    def shared_dependencies(self, ci_ids: tuple[int, ...]) -> Counter[int]:
        """For each CI, how many of `ci_ids` are it or depend on it (within ``hops``).
        Cached until the neighbourhood grows: a group's CIs are asked about again for every
        alert that might join it."""
        found = self._shared.get(ci_ids)
        if found is None:
            found = self._shared[ci_ids] = Counter(d for ci in ci_ids for d in self.downstream(ci))
        return found

    def name_all(self, ci_ids: Iterable[int]) -> None:
        missing = [c for c in set(ci_ids) if c not in self.names]
        for i in range(0, len(missing), CHUNK):
            chunk = missing[i : i + CHUNK]
            self.names.update(dict.fromkeys(chunk, ""))  # gone from the CMDB: asked once
            self.names.update(
                ConfigurationItem.objects.filter(pk__in=chunk).values_list("pk", "name")
            )

    def name(self, ci: int) -> str:
        return self.names.get(ci) or f"CI {ci}"

    def _chain(self, path: tuple[int, ...]) -> str:
        words = [self.name(path[0])]
        for a, b in itertools.pairwise(path):
            if (a, b) in self.labels:
                words.append(f"{self.labels[(a, b)]} {self.name(b)}")
            else:  # a "both" relationship stored the other way round
                words.append(f"{self.labels.get((b, a), 'is related to')} (reverse) {self.name(b)}")
        return " ".join(words)

    def describe(self, path: tuple[int, ...]) -> str:
        """A path as dependency chains read the way they are stored: ``web-03 depends on
        app-02 runs on db-07``, or for a valley ``web-03 depends on db-07; app-05 depends on
        db-07``."""
        self.name_all(path)
        if len(path) < 2:
            return self.name(path[0]) if path else ""
        bottom = 0
        while bottom + 1 < len(path) and (path[bottom], path[bottom + 1]) in self.labels:
            bottom += 1
        first = path[: bottom + 1]
        second = tuple(reversed(path[bottom:]))
        parts = [self._chain(p) for p in (first, second) if len(p) > 1]
        return "; ".join(parts)


def services_above(
    organization_id: int, ci_sets: dict[int, set[int]], depth: int = 6
) -> dict[int, int | None]:
    """For each key of `ci_sets` (a group), the most critical business service its CIs can
    take down (itself when one is a service), like `opsdesk.cmdb.impact.upstream_services`
    but for all groups in one walk: labels (the groups) propagate upwards level by level,
    one query per level and direction for the whole batch."""
    types = dict(
        RelationshipType.objects.exclude(propagation=Propagation.NONE).values_list(
            "pk", "propagation"
        )
    )
    both = [pk for pk, p in types.items() if p == Propagation.BOTH]
    base = Relationship.objects.filter(organization_id=organization_id, type_id__in=list(types))
    labels: dict[int, set[int]] = {}
    hops: dict[tuple[int, int], int] = {}
    for key, cis in ci_sets.items():
        for ci in cis:
            labels.setdefault(ci, set()).add(key)
            hops[(key, ci)] = 0
    frontier = {ci: set(keys) for ci, keys in labels.items()}
    for level in range(1, depth + 1):
        if not frontier:
            break
        ids = list(frontier)
        ups: list[tuple[int, int]] = []  # (from, to): `to` depends on `from`
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i : i + CHUNK]
            ups.extend(
                (t, s)
                for s, t in base.filter(target_id__in=chunk).values_list("source_id", "target_id")
            )
            if both:
                ups.extend(
                    base.filter(source_id__in=chunk, type_id__in=both).values_list(
                        "source_id", "target_id"
                    )
                )
        following: dict[int, set[int]] = {}
        for low, high in ups:
            new = frontier.get(low, set()) - labels.get(high, set())
            if not new:
                continue
            labels.setdefault(high, set()).update(new)
            following.setdefault(high, set()).update(new)
            for key in new:
                hops.setdefault((key, high), level)
        frontier = following
    found: dict[int, int | None] = dict.fromkeys(ci_sets)
    reached = list(labels)
    rows: list[tuple[int, int | None, str]] = []
    for i in range(0, len(reached), CHUNK):
        rows.extend(
            ConfigurationItem.objects.filter(
                pk__in=reached[i : i + CHUNK], ci_class__is_service=True
            ).values_list("pk", "criticality", "name")
        )
    ranked: dict[int, tuple[int, int, str]] = {}
    for pk, criticality, name in rows:
        for key in labels[pk]:
            rank = (criticality or 9, hops.get((key, pk), depth), name)
            if key not in ranked or rank < ranked[key]:
                ranked[key] = rank
                found[key] = pk
    return found
