"""The timeline shared by every kind of ticket, and the signal everything else listens to.

`record()` appends an `Activity` inside the caller's transaction; once that transaction
commits, `activity_recorded` is sent with the activity. Notifications, surveys and (later)
service-level clocks listen to it instead of being called by each action, so an action
never knows who reacts to it and nothing reacts to a change that was rolled back.

Apps register their ticket models with `register_subject` so a generic comment,
attachment or watcher can find the ticket from ``(subject_type, subject_id)``.
"""

from __future__ import annotations

import contextlib
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

#: Sent after commit with ``activity=<Activity>``.
activity_recorded = Signal()

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
        transaction.on_commit(lambda: activity_recorded.send(sender=Activity, activity=activity))
    return activity


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
