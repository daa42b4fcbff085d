"""Correlation state kept in the worker between batches, per organisation: the CMDB
neighbourhood and, for each open group, its alerts' rows (what the group's summary columns
and the correlation spans are made of), so a batch does not read every alert of every open
group again (in an alert storm the groups are big and every batch would pay for all of it).

The neighbourhood comes with the business services above each CI asked about
(`topology.ServicesAbove`).

**Trust.** The state of an organisation is taken out of the registry when a batch starts
(`checkout`) and put back only when the batch's transaction commits (`keep`, through
``transaction.on_commit``): a batch that rolls back leaves nothing behind, and two batches
never share one. What is kept is checked at the start of every batch, cheaply:

- a group is reused only while its ``updated_at`` is exactly what this process last read or
  wrote (the pipeline writes ``updated_at = batch.now`` on every group it changes; an
  operator's merge, split or resolve, the incident stage resolving it and another worker's
  batch all save the group with a new ``updated_at``, the latter also when its alerts took
  only suppressed events: `correlate._mark_quiet`); else it is read again; groups no
  longer open (or out of the window) are dropped;
- the neighbourhood, and the alert rows (an alert's CI is nulled when its CI is deleted),
  only while the CMDB's version (`topology.cmdb_version`: counts, highest ids and latest
  ``updated_at`` of the organisation's relationships and CIs and of the relationship
  types) is what it was when they were read.

**Rows.** ``Row`` holds the columns of an alert that correlation reads. A group keeps, per
CI, group-by key and template (its *dimensions*), the alerts that have it, the span of their
start times and the first of them in ``last_seen`` order: what `Candidate` is built from,
in the order a fresh read ordered by ``last_seen`` would give (the order breaks ties between
equally good matches, so it is part of every decision).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.db import transaction

from opsdesk.events.choices import SEVERITY_RANK, EventStatus
from opsdesk.events.correlation.topology import Neighbourhood, ServicesAbove
from opsdesk.events.models import AlertGroup

Span = tuple[datetime, datetime]


class Row(NamedTuple):
    """The columns of one alert that correlation reads (``key``: its group-by key)."""

    status: str
    severity: str
    starts_at: datetime
    last_seen: datetime
    count: int
    title: str
    ci_id: int | None
    template: str
    key: str


#: Which field of a row each dimension is.
DIMENSIONS = ("ci_id", "key", "template")


@dataclass
class Dimension:
    """For each value of one dimension (a CI, a group-by key, a template): its alerts, the
    span of their start times and the first of them by (last_seen, id)."""

    members: dict[Any, set[int]] = field(default_factory=dict)
    spans: dict[Any, Span] = field(default_factory=dict)
    first: dict[Any, tuple[datetime, int]] = field(default_factory=dict)

    def add(self, value: Any, alert_id: int, row: Row) -> None:
        self.members.setdefault(value, set()).add(alert_id)
        span = self.spans.get(value)
        start = row.starts_at
        self.spans[value] = (min(span[0], start), max(span[1], start)) if span else (start, start)
        first = self.first.get(value)
        mine = (row.last_seen, alert_id)
        if first is None or mine < first:
            self.first[value] = mine

    def recompute(self, value: Any, rows: dict[int, Row]) -> None:
        members = self.members.get(value)
        if not members:
            self.members.pop(value, None)
            self.spans.pop(value, None)
            self.first.pop(value, None)
            return
        starts = [rows[a].starts_at for a in members]
        self.spans[value] = (min(starts), max(starts))
        self.first[value] = min((rows[a].last_seen, a) for a in members)

    def ordered(self) -> list[Any]:
        """The values in the order a read of the rows by ``last_seen`` first meets them."""
        return sorted(self.members, key=self.first.__getitem__)


@dataclass
class GroupRows:
    """An open group as this process last read or wrote it, and its alerts' rows."""

    group: AlertGroup
    #: ``updated_at`` of the group in the database as last read or written here.
    version: datetime
    #: ``onset_at`` / ``last_event_at`` as stored (the in-memory group may have been widened
    #: by the spans of its alerts since, as a read of the group would widen it).
    stored: tuple[datetime, datetime]
    rows: dict[int, Row] = field(default_factory=dict)
    dims: dict[str, Dimension] = field(
        default_factory=lambda: {name: Dimension() for name in DIMENSIONS}
    )
    span: Span | None = None
    #: What the group's summary columns are made of, kept up to date by `put`: the sum of
    #: the alerts' counts, the severities of the firing ones, the latest ``last_seen`` and
    #: the alert whose title the group shows (None: to be found again, `lead`).
    events: int = 0
    firing: Counter[str] = field(default_factory=Counter)
    last_seen: datetime | None = None
    _lead: tuple[tuple[int, datetime], tuple[datetime, int], str] | None = None

    def __post_init__(self) -> None:
        for alert_id, row in list(self.rows.items()):
            del self.rows[alert_id]
            self.put(alert_id, row)

    @staticmethod
    def _rank(alert_id: int, row: Row) -> tuple[tuple[int, datetime], tuple[datetime, int], str]:
        firing = row.status == EventStatus.FIRING
        return (
            (SEVERITY_RANK.get(row.severity, 9) if firing else 9, row.starts_at),
            (row.last_seen, alert_id),
            row.title,
        )

    @staticmethod
    def _before(a: tuple, b: tuple) -> bool:
        """`a` leads `b`: the earliest of the most severe firing alerts; of equal ones the
        latest seen (a read ordered by ``-last_seen, -id`` meets it first)."""
        return a[0] < b[0] or (a[0] == b[0] and a[1] > b[1])

    def lead(self) -> str:
        """The title the group shows (its lead alert's)."""
        if self._lead is None:
            for alert_id, row in self.rows.items():
                mine = self._rank(alert_id, row)
                if self._lead is None or self._before(mine, self._lead):
                    self._lead = mine
        assert self._lead is not None
        return self._lead[2]

    def _account(self, alert_id: int, old: Row | None, row: Row) -> None:
        self.events += row.count - (old.count if old is not None else 0)
        if old is not None and old.status == EventStatus.FIRING:
            self.firing[old.severity] -= 1
            if not self.firing[old.severity]:
                del self.firing[old.severity]
        if row.status == EventStatus.FIRING:
            self.firing[row.severity] += 1
        if old is not None and old.last_seen == self.last_seen and row.last_seen < old.last_seen:
            self.last_seen = max(r.last_seen for r in self.rows.values())
        elif self.last_seen is None or row.last_seen > self.last_seen:
            self.last_seen = row.last_seen
        lead = self._lead
        if lead is None:
            return
        mine = self._rank(alert_id, row)
        if lead[1][1] == alert_id:
            # The lead changed: still the lead unless it fell behind what it was.
            self._lead = mine if not self._before(lead, mine) else None
        elif self._before(mine, lead):
            self._lead = mine

    def put(self, alert_id: int, row: Row) -> None:
        """Add or replace the row of an alert, keeping the dimensions and sums exact."""
        old = self.rows.get(alert_id)
        self.rows[alert_id] = row
        if old != row:
            self._account(alert_id, old, row)
        if old is None:
            for name, dim in self.dims.items():
                value = getattr(row, name)
                if value:
                    dim.add(value, alert_id, row)
            start = row.starts_at
            self.span = (
                (min(self.span[0], start), max(self.span[1], start))
                if self.span
                else (start, start)
            )
            return
        if old == row:
            return
        for name, dim in self.dims.items():
            before, after = getattr(old, name), getattr(row, name)
            if before != after:
                if before:
                    dim.members[before].discard(alert_id)
                    dim.recompute(before, self.rows)
                if after:
                    dim.add(after, alert_id, row)
            elif after:
                first = dim.first[after]
                if old.starts_at != row.starts_at or (
                    old.last_seen != row.last_seen and first[1] == alert_id
                ):
                    dim.recompute(after, self.rows)
                elif (row.last_seen, alert_id) < first:
                    dim.first[after] = (row.last_seen, alert_id)
        if old.starts_at != row.starts_at:
            span = self.span
            assert span is not None
            if span[0] < old.starts_at < span[1]:
                start = row.starts_at
                self.span = (min(span[0], start), max(span[1], start))
            else:
                starts = [r.starts_at for r in self.rows.values()]
                self.span = (min(starts), max(starts))


@dataclass
class OrgState:
    """What one organisation's batches keep between them (see the module)."""

    organization_id: int
    hops: int
    group_by: tuple[str, ...]
    cmdb: tuple[Any, ...]
    hood: Neighbourhood
    services: ServicesAbove
    groups: dict[int, GroupRows] = field(default_factory=dict)


_lock = threading.Lock()
_states: dict[int, OrgState] = {}
#: At most this many organisations' states are kept (the least recently used go).
MAX_STATES = 200


def checkout(organization_id: int) -> OrgState | None:
    """Take the organisation's state out of the registry for this batch (None: cold)."""
    with _lock:
        return _states.pop(organization_id, None)


def keep(state: OrgState) -> None:
    """Put the state back when the batch's transaction commits (never after a rollback)."""

    def register() -> None:
        with _lock:
            _states.pop(state.organization_id, None)
            while len(_states) >= MAX_STATES:
                _states.pop(next(iter(_states)))
            _states[state.organization_id] = state

    transaction.on_commit(register)


def forget(organization_ids: Iterable[int] | None = None) -> None:
    """Drop kept states (tests; everything when no ids are given)."""
    with _lock:
        if organization_ids is None:
            _states.clear()
        else:
            for org in organization_ids:
                _states.pop(org, None)


def peek(organization_id: int) -> OrgState | None:
    """The kept state, left in place (tests)."""
    with _lock:
        return _states.get(organization_id)
