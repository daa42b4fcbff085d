"""Alerts kept by the worker between batches, per organisation (PostgreSQL): dedup reads a
repeated alert's row version instead of the whole row when it holds the row as this process
last wrote it.

In an alert storm most events repeat alerts the worker has just written. Reading each whole
row back (26 columns, two of them JSON) costs more than the rest of dedup; reading its
*version* costs a tenth of that. The version is the row's ``xmin`` (the transaction that wrote
it) and ``ctid`` (where that version lives): every UPDATE, by anyone, makes a new row version
with a new ``ctid`` (and, from another transaction, a new ``xmin``), so an equal version
means the very row this process wrote. Nothing else has to cooperate: an operator's split,
another worker, a ``QuerySet.update`` or a later write in the same batch all change it.

**Trust.** What is kept is what the database holds: the values an alert was read with and
the columns `pipeline.write_alerts` wrote (not what the batch changed in memory without
writing), with the versions the UPDATE returned, and kept only when the batch's transaction commits (``transaction.on_commit``): a
batch that rolls back leaves nothing. New alerts (inserted with COPY, which returns no
versions) are read whole on their first repeat and kept from then on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from opsdesk.events.models import Alert

#: Alerts kept in all (a kept alert takes about 5 KB: at most about 250 MB); past this the
#: organisations least recently written are forgotten, and one organisation alone past it
#: starts afresh.
MAX_ALERTS = 50_000

#: The columns kept, and those holding mutable JSON (copied out, so a batch changing an
#: alert in memory never changes what is kept).
FIELDS = tuple(f.attname for f in Alert._meta.concrete_fields)
JSON_FIELDS = tuple(
    f.attname for f in Alert._meta.concrete_fields if f.get_internal_type() == "JSONField"
)

Kept = dict[str, tuple[str, dict[str, Any]]]  # fingerprint -> (version, values)

#: Where an alert carries the values it was read with (`loaded`).
_AS_STORED = "_kept_as_stored"

_lock = threading.Lock()
_orgs: dict[int, Kept] = {}


def versions_sql(table: str) -> str:
    """The SQL expression of a row version of `table` (alias or name)."""
    return f"{table}.xmin::text || '/' || {table}.ctid::text"


def get(organization_id: int) -> Kept:
    """The organisation's kept alerts (read-only: values are copied out, `copied`)."""
    with _lock:
        return _orgs.get(organization_id) or {}


def copied(stored: dict[str, Any], changes: dict[str, Any] | None = None) -> dict[str, Any]:
    """A copy of an alert's values (with `changes` over them) that shares no JSON object
    with them."""
    values = {**stored, **changes} if changes else dict(stored)
    for name in JSON_FIELDS:
        value = values[name]
        if isinstance(value, dict | list):
            values[name] = value.copy()
    return values


def loaded(alert: Alert, values: dict[str, Any]) -> None:
    """Note the values `alert` was read with (as the database holds them): what is kept
    when it is written is these with the written columns changed."""
    alert.__dict__[_AS_STORED] = values


def remember(
    organization_id: int,
    alerts: Iterable[Alert],
    written: list[str],
    versions: dict[int, str],
) -> None:
    """Keep these alerts as the database now holds them (the values they were read with,
    `loaded`, and the `written` columns from memory: a column changed in memory but not
    written is not kept), with the versions the write returned, once the transaction
    commits."""
    taken: Kept = {}
    for alert in alerts:
        version = versions.get(alert.pk)
        stored = alert.__dict__.get(_AS_STORED)
        if version is None or stored is None:
            continue
        stored = copied(stored, {name: alert.__dict__[name] for name in written})
        alert.__dict__[_AS_STORED] = stored
        taken[alert.fingerprint] = (version, stored)
    if not taken:
        return

    def register() -> None:
        with _lock:
            kept = _orgs.pop(organization_id, None) or {}
            kept.update(taken)
            if len(kept) > MAX_ALERTS:
                kept = dict(taken) if len(taken) <= MAX_ALERTS else {}
            total = len(kept) + sum(len(other) for other in _orgs.values())
            while _orgs and total > MAX_ALERTS:
                total -= len(_orgs.pop(next(iter(_orgs))))
            _orgs[organization_id] = kept

    transaction.on_commit(register)


def forget(organization_ids: Iterable[int] | None = None) -> None:
    """Drop kept alerts (tests; everything when no ids are given)."""
    with _lock:
        if organization_ids is None:
            _orgs.clear()
        else:
            for org in organization_ids:
                _orgs.pop(org, None)
