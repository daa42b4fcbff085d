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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsdesk.events.models import Alert, CorrelationSettings
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


def run(batch: Batch, only: tuple[str, ...] | None = None) -> Batch:
    """Run the registered stages in order (``only`` narrows them, for tests)."""
    for name in ORDER:
        if only is not None and name not in only:
            continue
        fn = STAGES.get(name)
        if fn is not None:
            fn(batch)
    return batch
