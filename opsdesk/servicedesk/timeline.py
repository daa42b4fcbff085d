"""The timeline shared by every kind of ticket, and the signal everything else listens to.

`record()` appends an `Activity` inside the caller's transaction; once that transaction
commits, `activity_recorded` is sent with the activity. Notifications, surveys and (later)
service-level clocks listen to it instead of being called by each action, so an action
never knows who reacts to it and nothing reacts to a change that was rolled back.

A transaction that records many entries (an event batch: a work note per alert group)
is told about them together: first `activities_recorded` with all of them, in the order
they were recorded, then `activity_recorded` for each one with ``batched=True``. A
receiver that can work on all of them at once (one query for the watchers of every
ticket, one clock recompute per ticket) listens to the first and skips the second when
``batched`` is set; one that cannot listens to the second only.

Apps register their ticket models with `register_subject` so a generic comment,
attachment or watcher can find the ticket from ``(subject_type, subject_id)``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.dispatch import Signal
from django.utils import timezone

from opsdesk.core.audit import snapshot, write_record
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.permissions import Action
from opsdesk.servicedesk.models import Activity

#: Sent after commit with ``activity=<Activity>`` (and ``batched=True`` when
#: `activities_recorded` was sent with it first).
activity_recorded = Signal()
#: Sent after commit with ``activities=[Activity, ...]``: the entries one transaction
#: recorded, in order (before `activity_recorded` is sent for each of them).
activities_recorded = Signal()

_silenced: ContextVar[bool] = ContextVar("timeline_silenced", default=False)


@contextlib.contextmanager
def silenced() -> Iterator[None]:
    """Record history without telling anyone: for demo data and migrations of old tickets,
    whose comments and resolutions happened long ago and must not send mail or surveys."""
    token = _silenced.set(True)
    try:
        yield
    finally:
        _silenced.reset(token)


_MODELS: dict[str, type[models.Model]] = {}
_TYPES: dict[type[models.Model], str] = {}


def register_subject(model: type[models.Model], subject_type: str) -> None:
    _MODELS[subject_type] = model
    _TYPES[model] = subject_type


def subject_type_of(obj: models.Model) -> str:
    try:
        return _TYPES[type(obj)]
    except KeyError:
        raise TypeError(f"{type(obj).__name__} is not a registered ticket model.") from None


def subject_model(subject_type: str) -> type[models.Model]:
    try:
        return _MODELS[subject_type]
    except KeyError:
        raise FieldError({"subject_type": f"Unknown subject type {subject_type!r}."}) from None


def get_subject(user: Any, subject_type: str, subject_id: Any, action: str = Action.VIEW) -> Any:
    """The ticket `(subject_type, subject_id)` if `user` may `action` it, else NotFound."""
    model = subject_model(subject_type)
    found = model.objects.restrict(user, action).filter(pk=subject_id).first()
    if found is None:
        raise NotFound(f"No {model._meta.verbose_name} matches the given id.")
    return found


def requester_scope(user: Any) -> Q:
    """Timeline entries, attachments and watchers of the tickets `user` requested: what a
    requester may see of the shared tables (each ticket model has a ``requester`` field)."""
    condition = Q(pk__in=[])
    for subject_type, model in _MODELS.items():
        if any(f.name == "requester" for f in model._meta.concrete_fields):
            condition |= Q(
                subject_type=subject_type,
                subject_id__in=model._base_manager.filter(requester_id=user.pk).values("pk"),
            )
    return condition


def record(
    subject: models.Model,
    kind: str,
    *,
    actor: Any = None,
    actor_name: str = "",
    public: bool = False,
    body: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
    audited: bool = False,
) -> Activity:
    """Append one entry to `subject`'s timeline; send `activity_recorded` after commit.

    ``audited=True`` also writes an audit record for the entry itself: used when the entry
    *is* the change (a comment, a work note), not a consequence of an audited change.
    """
    activity = Activity(
        organization_id=subject.organization_id,
        subject_type=subject_type_of(subject),
        subject_id=subject.pk,
        kind=kind,
        at=at or timezone.now(),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        actor_name=actor_name or (getattr(actor, "full_name", "") or getattr(actor, "email", "")),
        public=public,
        body=body,
        data=data or {},
    )
    activity.save()
    if audited:
        write_record(activity, "create", None, snapshot(activity))
    if not _silenced.get():
        _announce(activity)
    return activity


def record_many(entries: list[dict[str, Any]]) -> list[Activity]:
    """`record` for many entries at once (``entries``: its keyword arguments, with
    ``subject`` and ``kind``): one INSERT for the entries and one for the audit records of
    those ``audited``, each told after commit like `record` tells it. In order."""
    from opsdesk.core.audit import _record_row, diff
    from opsdesk.core.bulk import insert_instances, insert_rows
    from opsdesk.core.models import AuditRecord

    activities: list[Activity] = []
    audited: list[tuple[Activity, datetime]] = []
    for entry in entries:
        subject, actor = entry["subject"], entry.get("actor")
        activity = Activity(
            organization_id=subject.organization_id,
            subject_type=subject_type_of(subject),
            subject_id=subject.pk,
            kind=entry["kind"],
            at=entry.get("at") or timezone.now(),
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            actor_name=entry.get("actor_name")
            or (getattr(actor, "full_name", "") or getattr(actor, "email", "")),
            public=entry.get("public", False),
            body=entry.get("body", ""),
            data=entry.get("data") or {},
        )
        activities.append(activity)
        if entry.get("audited"):
            audited.append((activity, timezone.now()))
    if not activities:
        return activities
    insert_instances(activities)
    if audited:
        rows = []
        for activity, when in audited:
            after = snapshot(activity)
            rows.append(_record_row(activity, "create", None, after, diff(None, after), when))
        insert_rows(AuditRecord, rows)
    if not _silenced.get():
        for activity in activities:
            _announce(activity)
    return activities


class _Queue(threading.local):
    def __init__(self) -> None:
        self.entries: list[Activity] = []


_queue = _Queue()


def _announce(activity: Activity) -> None:
    """Tell the receivers about `activity` once its transaction has committed.

    Every entry registers its own on-commit callback, so a savepoint rolled back drops
    exactly its entries' callbacks (Django discards them). The first callback of a commit
    to run sends its entry together with the entries recorded after it that are still in
    the database (those of a rolled-back savepoint are not); their own callbacks then find
    nothing left to send."""
    _queue.entries.append(activity)
    transaction.on_commit(lambda: _committed(activity))


def _committed(activity: Activity) -> None:
    entries = _queue.entries
    index = next((i for i, a in enumerate(entries) if a is activity), None)
    if index is None:
        return  # sent with an entry recorded before it
    due = entries[index:]
    # Entries before it were rolled back or belong to callbacks never run (a test's
    # transaction); those after it were recorded after it, in this transaction.
    del entries[:]
    if len(due) > 1:
        due = [due[0], *_still_there(due[1:])]
    send(due)


def _still_there(activities: list[Activity]) -> list[Activity]:
    """The entries whose rows are still there after commit (one query). A savepoint's
    rollback took its rows with it; SQLite may hand a rolled-back row's id to a later
    entry, so an id only counts for the last entry that had it, and only if the stored row
    is that entry's (same ticket and kind)."""
    last: dict[Any, Activity] = {a.pk: a for a in activities}
    stored = {
        pk: (subject_type, subject_id, kind)
        for pk, subject_type, subject_id, kind in Activity.objects.filter(
            pk__in=list(last)
        ).values_list("pk", "subject_type", "subject_id", "kind")
    }
    return [
        a
        for a in activities
        if last[a.pk] is a and stored.get(a.pk) == (a.subject_type, a.subject_id, a.kind)
    ]


def send(activities: list[Activity]) -> None:
    """Tell the receivers about committed `activities` (what `record` does on commit)."""
    activities_recorded.send(sender=Activity, activities=activities)
    for activity in activities:
        activity_recorded.send(sender=Activity, activity=activity, batched=True)


def timeline(
    user: Any, subject: models.Model, *, public_only: bool = False
) -> models.QuerySet[Activity]:
    """The entries of `subject`'s timeline that `user` may read, oldest first."""
    qs = Activity.objects.restrict(user).filter(
        subject_type=subject_type_of(subject), subject_id=subject.pk
    )
    if public_only:
        qs = qs.filter(public=True)
    return qs.select_related("actor").order_by("at", "id")
