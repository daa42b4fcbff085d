"""The CMDB neighbourhood of a batch's CIs, loaded as needed and searched in memory.

**Which paths count.** Edges are relationships whose type propagates impact (`Propagation`
``to_source`` or ``both``; ``backs_up`` carries none). A failure travels from a dependency to
what depends on it, so two alerts share a cause when one CI (transitively) depends on the
other, or when both depend on a common CI: a path that first walks *down* (towards
dependencies) and then *up* (towards dependents), "a valley". A path over a common
*dependent* (two applications that a business service both uses) is not a common cause, so
a walk may not turn down again once it has gone up. ``both`` edges count either way.

**Loading.** `Neighbourhood.extend` walks breadth first from all of the batch's CIs at once,
in both directions, to ``hops`` levels: two queries per level for the CIs whose edges are not
read yet, and one for the names of the CIs reached (the reasons name them). Every path of
at most ``hops`` steps from one of those CIs only uses edges of CIs nearer than ``hops`` to
it, so the loaded edges answer every question about them exactly, however many batches the
neighbourhood has served: the correlate stage keeps it across batches while the CMDB's
version (`cmdb_version`) stays the same. Each CI's edges are kept in one canonical order,
so which of two equally short paths is found first does not depend on how they were read.
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from opsdesk.cmdb.choices import Propagation
from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType

CHUNK = 2000
#: A CI with more dependents than this (a core switch, a shared SAN) is too common a
#: dependency to explain a coincidence: valleys do not pass through it (it may still be an
#: end of a path, and it is still a root-cause candidate).
HUB_DEPENDENTS = 60
DOWN, UP = "down", "up"
#: Walks (`reach`, `downstream`) remembered by a kept neighbourhood before they are forgotten.
MAX_WALKS = 50_000


@dataclass
class Edge:
    other: int
    direction: str  # DOWN: `other` is a dependency of this CI; UP: `other` depends on it
    label: str  # "depends on", "runs on", ... (read source -> target)
    source: int
    target: int


def _edge_order(edge: Edge) -> tuple[int, str, int, int]:
    """Each CI's edges in one canonical order, however and whenever they were read: which of
    two equally short paths a walk finds first (the one a reason names) does not depend on
    the order the database returned rows in or on which batch read them."""
    return (edge.other, edge.direction, edge.source, edge.target)


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
    #: CIs whose edges are read / from which everything within ``hops`` is loaded.
    loaded: set[int] = field(default_factory=set)
    covered: set[int] = field(default_factory=set)
    labels: dict[tuple[int, int], str] = field(default_factory=dict)
    _down: dict[tuple[int, int], dict[int, Hit]] = field(default_factory=dict, repr=False)
    _reach: dict[tuple[int, int], dict[int, Hit]] = field(default_factory=dict, repr=False)
    _levels: dict[int, list[list[tuple[int, Hit]]]] = field(default_factory=dict, repr=False)
    _shared: dict[tuple[int, ...], Counter[int]] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, organization_id: int, ci_ids: Iterable[int], hops: int) -> Neighbourhood:
        hood = cls(organization_id, max(0, hops))
        hood.extend(ci_ids)
        return hood

    def extend(self, ci_ids: Iterable[int]) -> None:
        """Load what is within ``hops`` of `ci_ids` and not loaded yet: a breadth-first walk
        from them over the edges already known, reading the edges of the CIs on the way
        that have not been read (two queries per level for all of them). A neighbourhood
        kept across batches thus answers exactly what one built for the batch would: every
        CI nearer than ``hops`` to a start has all its edges loaded, whichever batch read
        them."""
        starts = set(ci_ids) - self.covered
        if not starts:
            return
        types: dict[int, tuple[str, str]] | None = None
        grew = False
        visited = set(starts)
        frontier = list(starts)
        for _level in range(self.hops):
            if not frontier:
                break
            unread = [c for c in frontier if c not in self.loaded]
            if unread:
                if types is None:
                    types = {
                        pk: (label, propagation)
                        for pk, label, propagation in RelationshipType.objects.exclude(
                            propagation=Propagation.NONE
                        ).values_list("pk", "label", "propagation")
                    }
                grew = self._read(unread, types) or grew
            following: list[int] = []
            for ci in frontier:
                for edge in self.adjacency.get(ci, ()):
                    if edge.other not in visited:
                        visited.add(edge.other)
                        following.append(edge.other)
            frontier = following
        self.covered.update(starts)
        if grew:
            self._down.clear()
            self._reach.clear()
            self._levels.clear()
            self._shared.clear()
        # Every CI a path can name is known now: their names in one query per chunk, not
        # one per path described.
        self.name_all(visited)

    def _read(self, cis: list[int], types: dict[int, tuple[str, str]]) -> bool:
        """Read every impact-carrying edge of `cis`; True when one was new."""
        base = Relationship.objects.filter(
            organization_id=self.organization_id, type_id__in=list(types)
        )
        rows: set[tuple[int, int, int]] = set()
        for i in range(0, len(cis), CHUNK):
            chunk = cis[i : i + CHUNK]
            rows.update(
                base.filter(source_id__in=chunk).values_list("source_id", "target_id", "type_id")
            )
            rows.update(
                base.filter(target_id__in=chunk).values_list("source_id", "target_id", "type_id")
            )
        self.loaded.update(cis)
        touched: set[int] = set()
        for source, target, type_id in sorted(rows):
            label, propagation = types[type_id]
            if (source, target) in self.labels:
                continue
            touched.update((source, target))
            self.labels[(source, target)] = label
            # source depends on target: from source the way is down, from target up.
            self.adjacency.setdefault(source, []).append(Edge(target, DOWN, label, source, target))
            self.adjacency.setdefault(target, []).append(Edge(source, UP, label, source, target))
            if propagation == Propagation.BOTH:
                self.adjacency[source].append(Edge(target, UP, label, source, target))
                self.adjacency[target].append(Edge(source, DOWN, label, source, target))
        for ci in touched:
            self.adjacency[ci].sort(key=_edge_order)
        return bool(touched)

    def new_batch(self) -> None:
        """Forget what only one batch asks again (the groups' CI sets of the coherence
        check), and the walks once there are many: a neighbourhood kept across batches must
        not grow with every batch."""
        self._shared.clear()
        if len(self._reach) + len(self._down) > MAX_WALKS:
            self._reach.clear()
            self._levels.clear()
            self._down.clear()

    def size(self) -> int:
        """How many CIs' edges are loaded (a kept neighbourhood is dropped past a limit)."""
        return len(self.loaded)

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

    def levels(self, start: int) -> list[list[tuple[int, Hit]]]:
        """`reach` of `start` by number of hops: what is 0 hops away, 1 hop, ... (cached
        like it)."""
        found = self._levels.get(start)
        if found is None:
            found = [[] for _ in range(self.hops + 1)]
            for ci, hit in self.reach(start).items():
                found[hit.hops].append((ci, hit))
            self._levels[start] = found
        return found

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


def cmdb_version(organization_id: int) -> tuple[Any, ...]:
    """What a kept `Neighbourhood` (and the CI ids on kept alert rows) depends on, in one
    query: count, highest id and latest ``updated_at`` of the organisation's relationships
    and CIs, and of the relationship types and CI classes. An added or deleted relationship
    or CI (and a deleted CI's alerts, whose ``ci`` is nulled), a renamed CI or one whose
    criticality changed, a changed type or class all change it (every change of these change-logged rows goes through ``save``, an audited bulk
    update or an insert, which set ``updated_at``, or a delete)."""
    qn = connection.ops.quote_name
    rel = qn(Relationship._meta.db_table)
    cis = qn(ConfigurationItem._meta.db_table)
    types = qn(RelationshipType._meta.db_table)
    classes = qn(CIClass._meta.db_table)
    sql = (
        "SELECT * FROM "  # noqa: S608 - table names from the models
        f"(SELECT COUNT(*), MAX(id), MAX(updated_at) FROM {rel} WHERE organization_id = %s) r, "
        f"(SELECT COUNT(*), MAX(id), MAX(updated_at) FROM {cis} WHERE organization_id = %s) c, "
        f"(SELECT COUNT(*), MAX(id), MAX(updated_at) FROM {types}) t, "
        f"(SELECT COUNT(*), MAX(id), MAX(updated_at) FROM {classes}) k"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, organization_id])
        return tuple(cursor.fetchone())


#: Groups whose services above are kept (`ServicesAbove.by_key`) before the memory is reset.
MAX_KEPT_KEYS = 20_000


@dataclass
class ServicesAbove:
    """`services_above` answered from a per-CI memory: for each CI, the business services it
    can take down (itself when it is one) and how many hops up each is. Kept with the
    neighbourhood across batches (the same CMDB version): only CIs not asked about before
    are walked, all at once."""

    organization_id: int
    depth: int = 6
    above: dict[int, dict[int, int]] = field(default_factory=dict)
    #: service CI -> (criticality, 9 when none; name)
    info: dict[int, tuple[int, str]] = field(default_factory=dict)
    #: key (a group) -> the CIs last asked about and, for each service above them, the
    #: fewest hops: a group's CIs mostly only grow, so only its new CIs are folded in.
    by_key: dict[int, tuple[set[int], dict[int, int]]] = field(default_factory=dict)

    def best(self, ci_sets: dict[int, set[int]]) -> dict[int, int | None]:
        missing = {ci for cis in ci_sets.values() for ci in cis if ci not in self.above}
        if missing:
            self._walk(missing)
        if len(self.by_key) > MAX_KEPT_KEYS:
            self.by_key.clear()
        found: dict[int, int | None] = {}
        for key, cis in ci_sets.items():
            kept = self.by_key.get(key)
            if kept is not None and kept[0] <= cis:
                seen, hops = kept
                new = cis - seen
            else:  # first asked, or it lost CIs (a split): from scratch
                seen, hops, new = set(), {}, cis
            for ci in new:
                for service, up in self.above[ci].items():
                    if up < hops.get(service, self.depth + 1):
                        hops[service] = up
            seen.update(new)
            self.by_key[key] = (seen, hops)
            ranked = [(*self._rank(service, up), service) for service, up in hops.items()]
            found[key] = min(ranked)[-1] if ranked else None
        return found

    def _rank(self, service: int, up: int) -> tuple[int, int, str]:
        criticality, name = self.info[service]
        return (criticality, up, name)

    def _walk(self, cis: set[int]) -> None:
        sets = {ci: {ci} for ci in cis}
        labels, hops = _walk_up(self.organization_id, sets, self.depth)
        reached = list(labels)
        for i in range(0, len(reached), CHUNK):
            for pk, criticality, name in ConfigurationItem.objects.filter(
                pk__in=reached[i : i + CHUNK], ci_class__is_service=True
            ).values_list("pk", "criticality", "name"):
                self.info[pk] = (criticality or 9, name)
        for ci in cis:
            self.above[ci] = {}
        for pk in reached:
            if pk in self.info:
                for ci in labels[pk]:
                    self.above[ci][pk] = hops[(ci, pk)]


def _walk_up(
    organization_id: int, ci_sets: dict[int, set[int]], depth: int
) -> tuple[dict[int, set[int]], dict[tuple[int, int], int]]:
    """Labels (the keys of `ci_sets`) propagated upwards level by level from their CIs, one
    query per level and direction for all of them: for each CI reached, the labels that
    reach it, and for each (label, CI) the fewest hops up."""
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
    return labels, hops


def services_above(
    organization_id: int, ci_sets: dict[int, set[int]], depth: int = 6
) -> dict[int, int | None]:
    """For each key of `ci_sets` (a group), the most critical business service its CIs can
    take down (itself when one is a service), like `opsdesk.cmdb.impact.upstream_services`
    but for all groups in one walk: labels (the groups) propagate upwards level by level,
    one query per level and direction for the whole batch."""
    labels, hops = _walk_up(organization_id, ci_sets, depth)
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
