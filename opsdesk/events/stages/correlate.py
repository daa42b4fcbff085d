"""Correlate: put each new (or re-fired) alert into an alert group, and keep the groups'
summary columns right.

**Which alerts.** An alert of the batch that fired (a firing event not suppressed) and has
no open group: a new alert, or one that fires again after its group resolved or was merged.
Alerts already in an open group just touch it (repeats, resolutions).

**Which group.** The organisation's open groups whose time span, widened by
``settings.window_seconds``, covers the event's start are candidates (so a batch that
arrives late still finds the group its events belong to), together with the groups this
batch opens. In order:

(a) *topology*: the alert's CI is at most ``settings.topology_hops`` hops from a CI of the
    group that alerted within ``settings.propagation_seconds`` (default 3 min) of it, along
    impact-carrying relationships, on a path that shares a cause (one depends on the other,
    or both on a common CI: see `opsdesk.events.correlation.topology`); the
    nearest group wins, then the one whose last event is nearest in time. Score
    ``1 - hops / (k + 1)``.
(b) *time and attributes*: the alert's ``settings.group_by`` values equal those of an alert
    of the group (score 1).
(c) *text*: the alert's Drain3 template is at least ``settings.text_similarity`` similar to a
    template of the group. Only when the CMDB cannot decide: the alert or the group has no
    CI. Two alerts on CIs the CMDB knows to be unrelated are not merged because their text
    looks alike ("Disk full on <*>" on two unrelated hosts is two problems).

Else the alert opens a group, unless it is flapping (a flapping alert joins groups but never
opens one). Every decision is stored (`CorrelationDecision`: method, score, sentence).

**Group columns** (recomputed from the group's alerts for every touched group):
title of the earliest of the most severe alerts, severity = worst of the firing alerts,
onset = earliest start, last event, alert / event / firing counts, the service (the most
critical business service above its CIs, one upward walk for all groups of the batch),
key and method. ``batch.groups_resolved`` gets the touched groups with nothing firing.

**State kept between batches** (`opsdesk.events.correlation.state`): the organisation's
CMDB neighbourhood and its open groups' alert rows stay in the worker from one batch to the
next, checked at the start of each (the groups' ``updated_at``, the CMDB's version) and
brought up to date with the batch's own alerts, so a batch reads only the groups that
changed elsewhere, not every alert of every open group.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import Q

from opsdesk.core.models import NUMBER_DIGITS, NumberSequence
from opsdesk.events.choices import EventStatus, GroupState, Method, worst
from opsdesk.events.correlation import state as kept
from opsdesk.events.correlation import text as textmod
from opsdesk.events.correlation.state import GroupRows, OrgState, Row
from opsdesk.events.correlation.timekeys import key_of
from opsdesk.events.correlation.topology import Neighbourhood, ServicesAbove, cmdb_version
from opsdesk.events.models import Alert, AlertEvent, AlertGroup, CorrelationDecision
from opsdesk.events.pipeline import Batch, stage, write_alerts
from opsdesk.events.stages.dedup import bulk_set, insert_rows

SCRATCH_HOOD = "correlation.neighbourhood"
#: Groups that gained alerts in this batch (root_cause re-ranks only those).
SCRATCH_GROWN = "correlation.grown"
#: Share of a group's CIs (in the window) that must share a cause with a CI joining it.
#: (2/3 measured 0.838 F1 against 0.831 on the benchmark: within the seeds' spread.)
COHERENCE = 0.5
#: Propagation (``settings.propagation_seconds``, this by default): a failure reaches what depends on it within minutes (a hop takes seconds,
#: monitoring notices within a scrape interval or a short "for" clause), so a topology join
#: needs an alert of the group *on the CI it connects through* that started at most this
#: long before or after the new one. The window (`window_seconds`) still bounds the group
#: as a whole and the coherence check. An unrelated fault or a routine warning next door
#: minutes later is no longer pulled in. (Measured on the labelled scenarios, seeds 1-3:
#: 300 s gave F1 0.88, 180 s 0.94, no limit 0.83; checked on seeds 4-6, not tuned there.)
PROPAGATION = timedelta(seconds=180)
#: Templates kept per group for the text comparison (the most recent distinct ones).
MAX_TEMPLATES = 30

#: A kept neighbourhood with more CIs loaded than this is read afresh (memory).
MAX_KEPT_CIS = 200_000

Span = tuple[datetime, datetime]


def _widen(spans: dict, name: Any, when: datetime) -> None:
    found = spans.get(name)
    spans[name] = (min(found[0], when), max(found[1], when)) if found else (when, when)


def _within(span: Span, when: datetime, window: timedelta) -> bool:
    return span[0] - window <= when <= span[1] + window


def _gap(span: Span, when: datetime) -> float:
    if span[0] <= when <= span[1]:
        return 0.0
    return min(abs((when - span[0]).total_seconds()), abs((when - span[1]).total_seconds()))


class Near:
    """For one candidate and one batch: its CIs within the window of *every* start time of
    the batch's pending alerts (`always`, with how many of them are or depend on each CI:
    the coherence check's counts), those within the window of none (left out) and the rest
    (`maybe`, checked per alert). Spans only widen during a batch, so a CI only moves from
    none to maybe to always: the counts are kept up to date as alerts join, instead of
    being recounted over all of the group's CIs for every alert that might join."""

    def __init__(
        self, cand: Candidate, lo: datetime, hi: datetime, window: timedelta, hood: Neighbourhood
    ) -> None:
        self.lo, self.hi, self.window, self.hood = lo, hi, window, hood
        self.always: dict[int, None] = {}
        self.maybe: dict[int, None] = {}
        self.counts: Counter[int] = Counter()
        for ci, span in cand.cis.items():
            self.place(ci, span)

    def place(self, ci: int, span: Span) -> None:
        if ci in self.always:
            return
        w = self.window
        if span[0] - w <= self.lo and self.hi <= span[1] + w:
            self.maybe.pop(ci, None)
            self.always[ci] = None
            self.counts.update(self.hood.downstream(ci).keys())
        elif not (self.hi < span[0] - w or self.lo > span[1] + w):
            self.maybe[ci] = None

    def shared(
        self, cis: dict[int, Span], when: datetime, mine: dict[int, Any]
    ) -> tuple[int, dict[int, int]]:
        """How many of the candidate's CIs are within the window of `when`, and for each CI
        of `mine` (what the joining alert's CI is or depends on) how many of those are it
        or depend on it (`Neighbourhood.shared_dependencies`)."""
        # _within(cis[ci], when, window), inlined: this runs per candidate and alert.
        lo, hi = when - self.window, when + self.window
        extra = [ci for ci in self.maybe if cis[ci][0] <= hi and lo <= cis[ci][1]]
        counts = self.counts
        out = {dependency: counts[dependency] for dependency in mine}
        for ci in extra:
            below = self.hood.downstream(ci)
            for dependency in out:
                if dependency in below:
                    out[dependency] += 1
        return len(self.always) + len(extra), out


@dataclass(eq=False)
class Candidate:
    """An open group as correlation sees it: for each of its CIs, group-by keys and text
    templates, the span of start times of the alerts that have it. An alert correlates with
    the *alerts* of a group that started within the window of it, not with everything the
    group ever held: a long-lived group does not grow into a net that catches every later
    alert nearby."""

    group: AlertGroup
    cis: dict[int, Span] = field(default_factory=dict)
    keys: dict[str, Span] = field(default_factory=dict)
    templates: dict[str, Span] = field(default_factory=dict)
    new: bool = False
    joined_method: str = ""
    #: The start times of its earliest and latest alerts: "events further apart than the
    #: window never join the same group" (`CorrelationSettings.window_seconds`).
    span: Span | None = None
    #: Its place among the batch's candidates, and each CI's place in `cis`: equally good
    #: matches go to the earlier (the order a read of the groups and their alerts gives).
    index: int = 0
    ci_pos: dict[int, int] = field(default_factory=dict)
    near: Near | None = None

    def __post_init__(self) -> None:
        self.ci_pos = {ci: i for i, ci in enumerate(self.cis)}

    def admits(self, when: datetime, window: timedelta) -> bool:
        if self.span is None:
            return True
        return max(self.span[1], when) - min(self.span[0], when) <= window

    def add(self, ci: int | None, key: str, template: str, when: datetime) -> None:
        if ci:
            if ci not in self.cis:
                self.ci_pos[ci] = len(self.ci_pos)
            _widen(self.cis, ci, when)
            if self.near is not None:
                self.near.place(ci, self.cis[ci])
        if key:
            _widen(self.keys, key, when)
        if template:
            _widen(self.templates, template, when)
            if len(self.templates) > MAX_TEMPLATES:
                oldest = min(self.templates, key=lambda t: self.templates[t][1])
                del self.templates[oldest]
        self.span = (
            (min(self.span[0], when), max(self.span[1], when)) if self.span else (when, when)
        )
        self.group.onset_at = min(self.group.onset_at, when)
        self.group.last_event_at = max(self.group.last_event_at, when)


@dataclass
class Choice:
    candidate: Candidate
    method: str
    score: float
    reason: str


@dataclass(slots=True)
class Decision:
    """A `CorrelationDecision` to write (its group is the candidate's, numbered by then)."""

    alert_id: int
    candidate: Candidate
    method: str
    score: float
    reason: str


@dataclass
class Context:
    """What the choices of one batch share: the candidates in order and their indexes."""

    batch: Batch
    window: timedelta
    hood: Neighbourhood
    candidates: list[Candidate]
    #: The batch's pending start times (lowest, highest): `Near` is per batch.
    lo: datetime
    hi: datetime
    by_ci: dict[int, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    by_key: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))
    #: A candidate stays listed under a template it has since let go (`MAX_TEMPLATES`):
    #: readers check that it still has it.
    by_template: dict[str, list[Candidate]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        for cand in self.candidates:
            self.index(cand)

    def index(self, cand: Candidate) -> None:
        for ci in cand.cis:
            self.by_ci[ci].append(cand)
        for key in cand.keys:
            self.by_key[key].append(cand)
        for template in cand.templates:
            self.by_template[template].append(cand)

    def near(self, cand: Candidate) -> Near:
        if cand.near is None:
            cand.near = Near(cand, self.lo, self.hi, self.window, self.hood)
        return cand.near


def allocate_numbers(organization_id: int, prefix: str, count: int) -> list[str]:
    """`count` consecutive numbers in one locked update (`allocate_number` hands out one)."""
    with transaction.atomic():
        seq, _ = NumberSequence.objects.select_for_update().get_or_create(
            organization_id=organization_id, prefix=prefix
        )
        first = seq.last_value + 1
        seq.last_value += count
        seq.save(update_fields=["last_value"])
    return [f"{prefix}{n:0{NUMBER_DIGITS}d}" for n in range(first, first + count)]


_ALERT_GROUP = Alert._meta.get_field("group")


def _minutes(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 and seconds >= 60 else f"{seconds} s"


def _pending(
    batch: Batch,
) -> tuple[dict[int, Alert], dict[int, datetime], set[int], dict[int, datetime]]:
    """Alerts that need a group (with the start of their first firing event in the batch),
    the open groups the batch's other alerts already belong to, and the ``updated_at`` of
    every open group of the batch's alerts."""
    group_ids = {i.alert.group_id for i in batch.items if i.alert is not None and i.alert.group_id}
    versions = dict(
        AlertGroup.objects.filter(pk__in=group_ids, state=GroupState.OPEN)
        .order_by()
        .values_list("pk", "updated_at")
    )
    pending: dict[int, Alert] = {}
    when: dict[int, datetime] = {}
    touched: set[int] = set()
    for item in batch.items:
        alert = item.alert
        if alert is None or item.suppressed_by:
            continue
        if alert.group_id and alert.group_id in versions:
            touched.add(alert.group_id)
            continue
        if item.event.status != EventStatus.FIRING:
            continue
        start = item.event.starts_at or item.event.received_at or batch.now
        pending[alert.pk] = alert
        when[alert.pk] = min(when.get(alert.pk, start), start)
    return pending, when, touched, versions


def _in_window(
    batch: Batch, times: list[datetime], window: timedelta
) -> list[tuple[int, datetime]]:
    """The open groups whose span, widened by the window, covers the batch's pending start
    times, with their ``updated_at``, in the groups' order (latest event first)."""
    if not times:
        return []
    return list(
        AlertGroup.objects.filter(
            organization_id=batch.organization_id,
            state=GroupState.OPEN,
            last_event_at__gte=min(times) - window,
            onset_at__lte=max(times) + window,
        ).values_list("pk", "updated_at")
    )


def _row(alert: Alert, group_by: list[str]) -> Row:
    return Row(
        alert.status,
        alert.severity,
        alert.starts_at,
        alert.last_seen,
        alert.count,
        alert.title,
        alert.ci_id,
        alert.template or "",
        key_of(group_by, alert.labels or {}, alert.resource or {}) if group_by else "",
    )


def _org_state(batch: Batch, group_by: list[str]) -> OrgState:
    """The organisation's kept state when it is still right, else a fresh one (the CMDB's
    version read once per batch: a change drops the neighbourhood and the alert rows)."""
    org, hops = batch.organization_id, batch.settings.topology_hops
    found = kept.checkout(org)
    version = cmdb_version(org)
    if found is not None and found.cmdb == version and found.group_by == tuple(group_by):
        if found.hops != hops or found.hood.size() > MAX_KEPT_CIS:
            found.hood, found.hops = Neighbourhood(org, hops), hops
        return found
    return OrgState(
        org, hops, tuple(group_by), version, Neighbourhood(org, hops), ServicesAbove(org)
    )


def _load(state: OrgState, wanted: dict[int, datetime], group_by: list[str], prune: bool) -> None:
    """Keep the groups whose ``updated_at`` is the one kept, read the others; with `prune`
    (the open groups of the window were asked for) drop the groups not wanted (closed, or
    neither in the window nor touched). A group kept but not asked about is checked
    again before it is used."""
    for pk, rows in list(state.groups.items()):
        version = wanted.get(pk)
        if (version is None and prune) or (version is not None and version != rows.version):
            del state.groups[pk]
    missing = [pk for pk in wanted if pk not in state.groups]
    if missing:
        _read(state, missing, group_by)


def _read(state: OrgState, pks: list[int], group_by: list[str]) -> None:
    """Read groups and their alerts' rows (the cold path: two queries)."""
    groups = {g.pk: g for g in AlertGroup.objects.filter(pk__in=pks)}
    # Labels and resource attributes only matter for group-by keys: without group-by (the
    # default) the open groups' alerts are read without their JSON columns.
    maps = ("labels", "resource") if group_by else ()
    rows: dict[int, dict[int, Row]] = defaultdict(dict)
    for pk, group_id, *values in (
        Alert.objects.filter(group_id__in=list(groups))
        .order_by()
        .values_list(
            "pk",
            "group_id",
            "status",
            "severity",
            "starts_at",
            "last_seen",
            "count",
            "title",
            "ci_id",
            "template",
            *maps,
        )
    ):
        key = key_of(group_by, values[8] or {}, values[9] or {}) if maps else ""
        rows[group_id][pk] = Row(*values[:7], values[7] or "", key)
    for pk, group in groups.items():
        state.groups[pk] = GroupRows(
            group, group.updated_at, (group.onset_at, group.last_event_at), rows.get(pk, {})
        )


def _catch_up(state: OrgState, batch: Batch, group_by: list[str]) -> None:
    """The batch's alerts as they are now (dedup, bind and the rest have changed them) on
    the rows of the groups they belong to."""
    seen: set[int] = set()
    for item in batch.items:
        alert = item.alert
        if alert is None or alert.pk in seen:
            continue
        seen.add(alert.pk)
        rows = state.groups.get(alert.group_id) if alert.group_id else None
        if rows is not None:
            rows.put(alert.pk, _row(alert, group_by))


def _candidate(rows: GroupRows, index: int) -> Candidate:
    """The group as a read of its alerts ordered by ``last_seen`` would make it."""
    group = rows.group
    group.onset_at, group.last_event_at = rows.stored
    dims = rows.dims
    cis, keys, templates = dims["ci_id"], dims["key"], dims["template"]
    if len(templates.members) > MAX_TEMPLATES:
        spans: dict[str, Span] = {}  # the oldest fall out while reading: read them in order
        for _, row in sorted(((r.last_seen, a), r) for a, r in rows.rows.items()):
            if row.template:
                _widen(spans, row.template, row.starts_at)
                if len(spans) > MAX_TEMPLATES:
                    del spans[min(spans, key=lambda t: spans[t][1])]
    else:
        spans = {t: templates.spans[t] for t in templates.ordered()}
    cand = Candidate(
        group,
        cis={ci: cis.spans[ci] for ci in cis.ordered()},
        keys={k: keys.spans[k] for k in keys.ordered()},
        templates=spans,
        span=rows.span,
        index=index,
    )
    if rows.span is not None:
        group.onset_at = min(group.onset_at, rows.span[0])
        group.last_event_at = max(group.last_event_at, rows.span[1])
    return cand


def _choose(alert: Alert, when: datetime, key: str, template: str, ctx: Context) -> Choice | None:
    settings = ctx.batch.settings
    window, hood = ctx.window, ctx.hood
    hops_limit = settings.topology_hops
    if alert.ci_id and hops_limit:
        # Hops first: level by level from the alert's CI, the groups with a CI at that
        # distance (through the index by CI: the work is proportional to the reach, not to
        # the groups' CIs) that alerted there within the propagation time; of those the
        # nearest in time, then the earlier group and CI (the order of the groups and of
        # their CIs). The first that admits the alert and keeps a common cause wins: a group
        # that fails those fails at every distance.
        propagation = min(window, timedelta(seconds=settings.propagation_seconds))
        # _within(span, when, propagation), inlined: this loop runs for every CI in reach.
        earliest, latest = when - propagation, when + propagation
        by_ci = ctx.by_ci
        failed: set[Candidate] = set()
        mine: dict[int, Any] | None = None
        for level in hood.levels(alert.ci_id):
            best: dict[Candidate, tuple[tuple[float, int, int], Any]] = {}
            for ci, hit in level:
                holders = by_ci.get(ci)
                if not holders:
                    continue
                for cand in holders:
                    span = cand.cis[ci]
                    if span[0] > latest or span[1] < earliest or (failed and cand in failed):
                        continue
                    rank = (_gap(span, when), cand.index, cand.ci_pos[ci])
                    found = best.get(cand)
                    if found is None or rank < found[0]:
                        best[cand] = (rank, hit)
            if not best:
                continue
            for cand, (_rank, hit) in sorted(best.items(), key=lambda kv: kv[1][0]):
                if not cand.admits(when, window):
                    failed.add(cand)
                    continue
                if mine is None:
                    mine = hood.downstream(alert.ci_id)
                count, shared = ctx.near(cand).shared(cand.cis, when, mine)
                common = _common_cause(alert.ci_id, mine, count, shared, hood)
                if common is None:
                    failed.add(cand)
                    continue
                hops, path = hit.hops, hit.path
                hood.name_all(path)
                here = hood.name(alert.ci_id)
                there = hood.name(path[-1])
                if hops == 0:
                    reason = f"{here} already has an alert in {cand.group.number}."
                else:
                    noun = "hop" if hops == 1 else "hops"
                    reason = (
                        f"{here} is {hops} {noun} from {there} ({hood.describe(path)}){common}."
                    )
                score = round(1 - hops / (hops_limit + 1), 3)
                return Choice(cand, Method.TOPOLOGY, score, reason)
    if key:
        matching = [
            (_gap(c.keys[key], when), c.index, c)
            for c in ctx.by_key.get(key, ())
            if c.admits(when, window) and _within(c.keys[key], when, window)
        ]
        if matching:
            gap, _, cand = min(matching, key=lambda m: (m[0], m[1]))
            reason = (
                f"Same {key.replace('|', ', ')} as {cand.group.number}, "
                f"{_minutes(int(gap))} from its alerts (window {_minutes(settings.window_seconds)})."
            )
            return Choice(cand, Method.TIME, 1.0, reason)
    if template:
        # Through the index by template: each distinct template of the candidates is
        # compared once, and only the candidates holding one similar enough are looked at.
        threshold = settings.text_similarity
        hits: list[tuple[Candidate, str]] = []  # those of the best score so far
        best_score = threshold
        lo, hi = when - window, when + window
        for other, holders in ctx.by_template.items():
            score = textmod.similarity(template, other)
            if score < best_score:
                continue
            for cand in holders:
                span = cand.templates.get(other)
                if span is None or span[0] > hi or span[1] < lo:
                    continue  # _within(span, when, window), inlined
                if alert.ci_id and cand.cis:
                    continue  # the CMDB knows both and found them unrelated
                if not cand.admits(when, window):
                    continue
                if score > best_score or not hits:
                    best_score, hits = score, []
                hits.append((cand, other))
        if hits:
            # Of equally good, the earlier candidate, then its earlier template.
            first = min(cand.index for cand, _ in hits)
            cand, other = min(
                ((c, t) for c, t in hits if c.index == first),
                key=lambda hit: list(hit[0].templates).index(hit[1]),
            )
            score = best_score
            reason = (
                f"Text template {template!r} is {score:.0%} similar to {other!r} of "
                f"{cand.group.number} (threshold {threshold:.0%})."
            )
            return Choice(cand, Method.TEXT, round(score, 3), reason)
    return None


def _common_cause(
    start: int, mine: dict[int, Any], count: int, shared: dict[int, int], hood: Neighbourhood
) -> str | None:
    """Coherence: a group should keep a common cause. Some CI that the new alert's CI is or
    depends on must also be (or be depended on by) at least half of the group's `count`
    CIs of the window (`shared`: for each CI of `mine`, how many of those are it or depend
    on it); else the new alert only touches the group's edge (a noisy neighbour, or a
    second fault beside the first) and does not join by topology. Returns "" or a clause
    naming the shared dependency, None when there is none."""
    if not count:
        return None
    best = max(shared.items(), key=lambda kv: (kv[1], -mine[kv[0]].hops), default=None)
    if best is None or best[1] < COHERENCE * count:
        return None
    if count == 1:
        return ""
    hood.name_all([best[0]])
    if best[0] == start:
        return f"; {best[1]} of the group's {count} CIs depend on it"
    return (
        f"; {hood.name(best[0])} is common ground (the CI or a dependency) of "
        f"{best[1]} of the group's {count} CIs and of it"
    )


@stage("correlate")
def correlate(batch: Batch) -> None:
    settings = batch.settings
    window = timedelta(seconds=settings.window_seconds)
    group_by = list(settings.group_by or [])
    pending, when, touched, versions = _pending(batch)
    state = _org_state(batch, group_by)
    hood = state.hood
    hood.new_batch()
    batch.scratch[SCRATCH_HOOD] = hood
    times = list(when.values())
    in_window = _in_window(batch, times, window)
    wanted = dict(in_window)
    wanted.update({pk: v for pk, v in versions.items() if pk in touched})
    _load(state, wanted, group_by, prune=bool(times))
    _catch_up(state, batch, group_by)
    for rows in state.groups.values():
        rows.group.onset_at, rows.group.last_event_at = rows.stored
    candidates = [_candidate(state.groups[pk], i) for i, (pk, _) in enumerate(in_window)]
    hood.extend(
        {a.ci_id for a in pending.values() if a.ci_id} | {ci for c in candidates for ci in c.cis}
    )
    ctx = Context(
        batch,
        window,
        hood,
        candidates,
        min(times, default=batch.now),
        max(times, default=batch.now),
    )

    decisions: list[Decision] = []
    opened: list[Candidate] = []
    assigned: dict[int, Candidate] = {}
    order = sorted(pending.values(), key=lambda a: (when[a.pk], a.pk))
    for alert in order:
        start = when[alert.pk]
        key = key_of(group_by, alert.labels or {}, alert.resource or {})
        text = textmod.text_of(alert.normalised_text, alert.title)
        template = textmod.mine(batch.organization_id, text)
        alert.template = template[:10_000]
        choice = _choose(alert, start, key, template, ctx)
        if choice is None:
            if alert.flapping:
                continue  # a flapping alert never opens a group
            group = AlertGroup(
                organization_id=batch.organization_id,
                title=alert.title[:500],
                severity=alert.severity,
                key=(key or template or (f"ci:{alert.ci_id}" if alert.ci_id else ""))[:200],
                method=Method.NEW,
                onset_at=start,
                opened_at=batch.now,
                last_event_at=start,
            )
            group.number = f"\x00{len(opened)}\x00"  # placeholder until numbers are allocated
            cand = Candidate(group, new=True, index=len(candidates))
            candidates.append(cand)
            opened.append(cand)
            hood.name_all([alert.ci_id] if alert.ci_id else [])
            where = f" on {hood.name(alert.ci_id)}" if alert.ci_id else ""
            reason = (
                f"No open group within {_minutes(settings.window_seconds)} shares its CI "
                f"neighbourhood ({settings.topology_hops} hops)"
                + (", group-by values" if group_by else "")
                + f" or text: {alert.title[:120]!r}{where} opened {group.number}."
            )
            choice = Choice(cand, Method.NEW, 1.0, reason)
        elif not choice.candidate.joined_method:
            choice.candidate.joined_method = choice.method
        cand = choice.candidate
        if alert.ci_id and alert.ci_id not in cand.cis:
            ctx.by_ci[alert.ci_id].append(cand)
        if key and key not in cand.keys:
            ctx.by_key[key].append(cand)
        if template and template not in cand.templates:
            ctx.by_template[template].append(cand)
        cand.add(alert.ci_id, key, template, start)
        assigned[alert.pk] = cand
        decisions.append(
            Decision(alert.pk, cand, choice.method, choice.score, choice.reason[:5000])
        )

    if opened:
        _open(batch, opened, decisions)
        for cand in opened:
            group = cand.group
            state.groups[group.pk] = GroupRows(
                group, batch.now, (group.onset_at, group.last_event_at)
            )

    if assigned:
        changed = []
        for alert_id, cand in assigned.items():
            alert = pending[alert_id]
            # What ``alert.group = cand.group`` does, without the descriptor's checks.
            alert.group_id = cand.group.pk
            _ALERT_GROUP.set_cached_value(alert, cand.group)
            changed.append(alert)
            state.groups[cand.group.pk].put(alert_id, _row(alert, group_by))
        _write_grouped(batch, changed)
        _write_decisions(batch, decisions)
        # The batch's own history rows are written after this stage with the alert's group;
        # older rows without a group (first seen resolved, suppressed) join it here.
        created = {i.alert.pk for i in batch.items if i.created and i.alert is not None}
        _history_to_groups(
            [
                (alert_id, cand.group.pk)
                for alert_id, cand in assigned.items()
                if alert_id not in created
            ]
        )
        touched.update(c.group.pk for c in assigned.values())

    if touched:
        grown = {c.group.pk for c in assigned.values()}
        batch.scratch[SCRATCH_GROWN] = grown
        joined = {c.group.pk: c.joined_method for c in candidates if c.joined_method}
        _refresh(batch, touched, state, joined, grown)
        batch.groups_touched.update(touched)
    _mark_quiet(batch, state, versions, touched)
    kept.keep(state)


def _mark_quiet(
    batch: Batch, state: OrgState, versions: dict[int, datetime], touched: set[int]
) -> None:
    """Open groups whose alerts took only suppressed events (a silence or a maintenance
    window muting an alert of an open incident): the group's columns do not change, but its
    alerts' rows did (count, last seen, the mark), so its ``updated_at`` moves on and a
    worker keeping the group's rows reads them again. Only groups still at the version read
    this batch are moved (locked, then one UPDATE); our rows of a group stay kept when they
    are of that version (and so were brought up to date, `_catch_up`), else they are
    dropped."""
    quiet = {
        item.alert.group_id
        for item in batch.items
        if item.suppressed_by and item.alert is not None and item.alert.group_id in versions
    } - touched
    if not quiet:
        return
    same = reduce(or_, (Q(pk=pk, updated_at=versions[pk]) for pk in quiet))
    moved = set(
        AlertGroup.objects.select_for_update(of=("self",))
        .filter(same)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if moved:
        AlertGroup.objects.filter(pk__any=sorted(moved)).update(updated_at=batch.now)
    for pk in quiet:
        rows = state.groups.get(pk)
        if rows is None:
            continue
        if pk in moved and rows.version == versions[pk]:
            rows.version = batch.now
        else:
            del state.groups[pk]


def _open(batch: Batch, opened: list[Candidate], decisions: list[Decision]) -> None:
    """Number and INSERT the groups the batch opens; the reasons get their numbers."""
    numbers = allocate_numbers(batch.organization_id, AlertGroup.number_prefix, len(opened))
    placeholders = {}
    for cand, number in zip(opened, numbers, strict=True):
        placeholders[cand.group.number] = number
        cand.group.number = number
    for decision in decisions:
        if "\x00" in decision.reason:
            for token, number in placeholders.items():
                decision.reason = decision.reason.replace(token, number)
    AlertGroup.objects.bulk_create([c.group for c in opened])
    if any(c.group.pk is None for c in opened):  # backends that return no ids
        by_number = dict(
            AlertGroup.objects.filter(
                organization_id=batch.organization_id, number__in=numbers
            ).values_list("number", "pk")
        )
        for cand in opened:
            cand.group.pk = cand.group.id = by_number[cand.group.number]
    batch.groups_opened.update(c.group.pk for c in opened)


def _write_decisions(batch: Batch, decisions: list[Decision]) -> None:
    """INSERT the decisions (one COPY on PostgreSQL; rows, not model instances: a thousand
    instances cost more than the statement)."""
    fields = [f for f in CorrelationDecision._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    insert_rows(
        CorrelationDecision,
        [
            {
                **defaults,
                "organization_id": batch.organization_id,
                "alert_id": d.alert_id,
                "group_id": d.candidate.group.pk,
                "method": d.method,
                "score": d.score,
                "reason": d.reason,
                "at": batch.now,
                "actor_id": None,
            }
            for d in decisions
        ],
    )


def _write_grouped(batch: Batch, alerts: list[Alert]) -> None:
    """Write the batch's alerts now that they are grouped (`pipeline.write_alerts`): the
    new ones inserted once, with their group and template; the existing ones' changed
    columns, these two among them, in one UPDATE."""
    batch.changed(alerts, ["group", "template"])
    write_alerts(batch)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _history_to_groups(pairs: list[tuple[int, int]]) -> None:
    """The batch's history rows of each newly grouped alert join its group: one statement
    (PostgreSQL: ``UPDATE ... FROM json_to_recordset``; elsewhere a prepared statement run
    for all pairs)."""
    if not pairs:
        return
    history = _q(AlertEvent._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {history} SET group_id = v.g "  # noqa: S608 - names from the models
                "FROM json_to_recordset(%s::json) AS v(a bigint, g bigint) "
                f"WHERE {history}.alert_id = v.a AND {history}.group_id IS NULL",
                [orjson.dumps([{"a": a, "g": g} for a, g in pairs]).decode()],
            )
        else:
            cursor.executemany(
                f"UPDATE {history} SET group_id = %s "  # noqa: S608 - names from the models
                "WHERE alert_id = %s AND group_id IS NULL",
                [(g, a) for a, g in pairs],
            )


def _refresh(
    batch: Batch, touched: set[int], state: OrgState, joined: dict[int, str], grown: set[int]
) -> None:
    """Recompute the summary columns of the touched groups from their alerts' rows (kept,
    or read this batch, and brought up to date with the batch's alerts: the sums are kept
    with the rows, `GroupRows`); the service of those that gained alerts (or have none
    yet)."""
    groups = {pk: state.groups[pk].group for pk in touched}
    ci_sets: dict[int, set[int]] = {}
    for pk, group in groups.items():
        rows = state.groups[pk]
        if not rows.rows:
            continue
        severities = list(rows.firing)
        if severities:
            group.severity = worst(*severities)
        group.title = rows.lead()[:500]
        assert rows.span is not None and rows.last_seen is not None
        group.onset_at = min(group.onset_at, rows.span[0])
        group.last_event_at = max(group.last_event_at, rows.last_seen)
        group.alert_count = len(rows.rows)
        group.event_count = rows.events
        group.firing_count = sum(rows.firing.values())
        method = joined.get(pk)
        if method and group.method == Method.NEW:
            group.method = method
        cis = set(rows.dims["ci_id"].members)
        if cis and (pk in grown or group.service_id is None):
            ci_sets[pk] = cis
        if not severities:
            batch.groups_resolved.add(pk)
    services = state.services.best(ci_sets) if ci_sets else {}
    for pk, service in services.items():
        if service:
            groups[pk].service_id = service
    changed = _changed_meanwhile(state, [pk for pk in groups if pk not in batch.groups_opened])
    for group in groups.values():
        group.updated_at = batch.now
    bulk_set(
        AlertGroup,
        list(groups.values()),
        [
            "title",
            "severity",
            "onset_at",
            "last_event_at",
            "alert_count",
            "event_count",
            "firing_count",
            "service",
            "method",
            "updated_at",
        ],
    )
    for pk, group in groups.items():
        if pk in changed:
            del state.groups[pk]  # read again next time
            continue
        rows = state.groups[pk]
        rows.version = batch.now
        rows.stored = (group.onset_at, group.last_event_at)


def _changed_meanwhile(state: OrgState, pks: list[int]) -> set[int]:
    """Groups someone else changed since this batch read their version (an operator's merge
    committed while the batch ran): their rows are not kept past this batch. The groups are
    locked from here to the commit (PostgreSQL; the incident stage locks them next anyway,
    in the same order), so nobody changes them between this check and the batch's write."""
    if not pks:
        return set()
    current = dict(
        AlertGroup.objects.select_for_update(of=("self",))
        .filter(pk__in=pks)
        .order_by("pk")
        .values_list("pk", "updated_at")
    )
    return {pk for pk in pks if current.get(pk) != state.groups[pk].version}
