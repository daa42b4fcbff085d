"""The event pipeline: named stages run in order over a batch of normalised events of one
organisation, inside the transaction that marks their inbox entries done.

Order (``ORDER``) and why it differs slightly from the textbook one: silences match labels, so
they run first; maintenance windows from changes are declared on CIs and services, so they
run after CI binding.

    silence -> dedup -> flapping -> bind -> maintenance -> correlate -> incident
            -> root_cause -> runbooks

A stage is a function ``run(batch: Batch) -> None`` registered with ``@stage("name")`` in
``opsdesk/events/stages/<name>.py``. Stages work on the whole batch with set-based queries
(one query per batch, never per event): the batched-ingest target is 10,000 events/s.
Each stage may read what earlier stages set on the `Item` (see its fields) and must not
commit or open its own transaction boundary that outlives the batch.

**Writes of the front stages.** dedup, flapping, bind and maintenance change the batch's
`Alert` objects in memory and hand their writes to the `Batch`: new alerts (`Batch.add_new`,
ids already allocated, so later stages and history rows can name them), changed existing
alerts with the columns that changed (`Batch.changed`), and history rows
(`Batch.add_history`). They are written with one statement each: the alerts (one INSERT
of the new ones with every column, one UPDATE of the changed ones) by ``correlate`` once
it has grouped them (`write_alerts`: a new alert is inserted once, with its group and
template; correlate reads none of the batch's alerts back before that), or by `run` before
the next stage when correlate did not run or grouped nothing; the history after
``correlate``, so that a row of an alert that correlation just grouped is written with its
group (rows made while the alert had a group keep that one). Whatever is left is written when the run
ends (``run(batch, only=("dedup",))`` in tests still leaves its rows in the database). A
stage before the writes that needs the batch's history reads it from `Batch.history` as
well as from the database (flapping does). The two writes are registered in `STAGES` too
(``write_alerts``, ``write_history``), so whoever times the stages times them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connections, router

from opsdesk.events.models import Alert, AlertEvent, CorrelationSettings
from opsdesk.events.normal import NormalisedEvent

ORDER = (
    "silence",
    "dedup",
    "flapping",
    "bind",
    "maintenance",
    "correlate",
    "incident",
    "root_cause",
    "runbooks",
)
#: The stage that groups the batch's alerts (and writes them itself, grouped): the front
#: stages' writes that are still pending go out after it, the alerts before the history.
READS_ALERTS = "correlate"
WRITE_ALERTS = "write_alerts"
WRITE_HISTORY = "write_history"
#: "Through dedup and correlation": the stages up to correlation and the writes of the
#: batch's alerts and history (`Batch.timings`, the worker's debug log, the benchmarks).
THROUGH_CORRELATION = (*ORDER[: ORDER.index(READS_ALERTS) + 1], WRITE_ALERTS, WRITE_HISTORY)
#: Who the pipeline's writes are attributed to in timelines and audit records.
SYSTEM_ACTOR = "OpsDesk event pipeline"


@dataclass
class Item:
    """One normalised event on its way through the stages."""

    event: NormalisedEvent
    inbox_id: int | None
    integration_id: int | None = None
    #: The integration's default service: binding falls back to it.
    default_service_id: int | None = None
    #: Set by dedup: the alert this event folded into, whether it created it, whether it
    #: changed the alert's status (fired for the first time, resolved, fired again).
    alert: Alert | None = None
    created: bool = False
    status_changed: bool = False
    #: Set by silence / maintenance: why the event opens no group ("" = not suppressed).
    suppressed_by: str = ""


@dataclass(slots=True)
class HistoryRow:
    """An `AlertEvent` row waiting to be written (`Batch.add_history`)."""

    alert: Alert
    kind: str
    at: datetime
    status: str
    severity: str
    count: int = 1
    note: str = ""
    inbox_id: int | None = None
    #: The alert's group when the row was made; None: the alert's group when it is written.
    group_id: int | None = None


@dataclass
class Batch:
    organization_id: int
    items: list[Item]
    settings: CorrelationSettings
    now: datetime
    #: Groups created or changed by this batch (correlate adds; incident, root_cause and
    #: runbooks work on them).
    groups_touched: set[int] = field(default_factory=set)
    groups_opened: set[int] = field(default_factory=set)
    #: Groups whose alerts all resolved in this batch (incident resolves them).
    groups_resolved: set[int] = field(default_factory=set)
    #: Per-batch caches a stage wants to share with a later one.
    scratch: dict[str, Any] = field(default_factory=dict)
    #: Writes waiting for `write_alerts` / `write_history` (see the module).
    new_alerts: dict[int, Alert] = field(default_factory=dict)
    dirty_alerts: dict[int, Alert] = field(default_factory=dict)
    dirty_fields: set[str] = field(default_factory=set)
    history: list[HistoryRow] = field(default_factory=list)
    #: Seconds spent in each stage (and each write) of `run`.
    timings: dict[str, float] = field(default_factory=dict)

    def add_new(self, alerts: list[Alert]) -> None:
        """New alerts (their ids allocated) to INSERT with everything set on them by then."""
        for alert in alerts:
            self.new_alerts[alert.pk] = alert

    def changed(self, alerts: list[Alert], fields: tuple[str, ...] | list[str]) -> None:
        """Existing alerts whose `fields` changed (new ones are written whole anyway)."""
        added = False
        for alert in alerts:
            if alert.pk not in self.new_alerts:
                self.dirty_alerts[alert.pk] = alert
                added = True
        if added:
            self.dirty_fields.update(fields)

    def add_history(self, rows: list[HistoryRow]) -> None:
        self.history.extend(rows)

    def alerts(self) -> list[Alert]:
        """The distinct alerts of the batch, in first-seen order."""
        seen: dict[int, Alert] = {}
        for item in self.items:
            if item.alert is not None and item.alert.pk not in seen:
                seen[item.alert.pk] = item.alert
        return list(seen.values())


Stage = Callable[[Batch], None]
STAGES: dict[str, Stage] = {}


def stage(name: str) -> Callable[[Stage], Stage]:
    if name not in ORDER:
        raise ValueError(f"Unknown stage {name!r}; the pipeline's stages are {ORDER}.")

    def register(fn: Stage) -> Stage:
        STAGES[name] = fn
        return fn

    return register


def write_alerts(batch: Batch) -> None:
    """INSERT the batch's new alerts (one statement), UPDATE the changed columns of its
    changed ones (one statement). On PostgreSQL the changed ones are kept as written
    (`kept_alerts`) for the next batch's dedup."""
    from opsdesk.events import kept_alerts
    from opsdesk.events.stages.dedup import bulk_insert, bulk_set

    if batch.new_alerts:
        bulk_insert(Alert, list(batch.new_alerts.values()), with_pk=True)
        batch.new_alerts = {}
    if batch.dirty_alerts:
        alerts = list(batch.dirty_alerts.values())
        fields = [f for f in Alert._meta.concrete_fields if f.name in batch.dirty_fields]
        postgresql = connections[router.db_for_write(Alert)].vendor == "postgresql"
        versions = bulk_set(Alert, alerts, [f.name for f in fields], versions=postgresql)
        if versions:
            kept_alerts.remember(
                batch.organization_id, alerts, [f.attname for f in fields], versions
            )
        batch.dirty_alerts, batch.dirty_fields = {}, set()


def write_history(batch: Batch) -> None:
    """INSERT the batch's history rows (one statement), each with its alert's group."""
    from opsdesk.events.stages.dedup import insert_rows

    if not batch.history:
        return
    write_alerts(batch)  # the rows refer to the alerts
    org = batch.organization_id
    insert_rows(
        AlertEvent,
        [
            {
                "organization_id": org,
                "alert_id": row.alert.pk,
                "group_id": row.group_id or row.alert.group_id,
                "at": row.at,
                "status": row.status,
                "severity": row.severity,
                "kind": row.kind,
                "count": row.count,
                "note": row.note,
                "inbox_id": row.inbox_id,
            }
            for row in batch.history
        ],
    )
    batch.history = []


STAGES[WRITE_ALERTS] = write_alerts
STAGES[WRITE_HISTORY] = write_history


def _timed(batch: Batch, name: str, fn: Stage) -> None:
    began = time.perf_counter()
    try:
        fn(batch)
    finally:
        batch.timings[name] = batch.timings.get(name, 0.0) + time.perf_counter() - began


def _write(batch: Batch, name: str) -> None:
    if (batch.new_alerts or batch.dirty_alerts) if name == WRITE_ALERTS else batch.history:
        _timed(batch, name, STAGES[name])


def run(batch: Batch, only: tuple[str, ...] | None = None) -> Batch:
    """Run the registered stages in order (``only`` narrows them, for tests), with the
    front stages' writes before ``correlate`` and the history's after it (see the
    module)."""
    reads_at = ORDER.index(READS_ALERTS)
    for index, name in enumerate(ORDER):
        if only is not None and name not in only:
            continue
        fn = STAGES.get(name)
        if fn is None:
            continue
        if index > reads_at:
            _write(batch, WRITE_ALERTS)
            _write(batch, WRITE_HISTORY)
        _timed(batch, name, fn)
    _write(batch, WRITE_ALERTS)
    _write(batch, WRITE_HISTORY)
    return batch
