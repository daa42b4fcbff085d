"""Saved queue views: save, rename, delete (audited, owner only), and their reads.

A saved view is a named query string of the incident queue (the same filter words as the
queue page). It is personal unless ``shared``: then everyone who works the queue in the
organisation sees it as a link. Only its owner renames or deletes it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import transaction
from django.db.models import Q, QuerySet

from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.servicedesk.models import Incident, SavedView

#: The filter words of the incident queue, in the order a saved query keeps them.
QUEUE_KEYS = (
    "tab",
    "state",
    "priority",
    "group",
    "assignee",
    "service",
    "category",
    "channel",
    "major",
    "q",
    "sort",
)
LISTS = ("incidents",)


def normalise_query(query: str) -> str:
    """Keep only the queue's filter words with a value, in a stable order (repeated words
    such as ``priority=1&priority=2`` are kept)."""
    pairs = [
        (k, v.strip())
        for k, v in parse_qsl((query or "").lstrip("?"), keep_blank_values=False)
        if k in QUEUE_KEYS and v.strip()
    ]
    pairs.sort(key=lambda kv: QUEUE_KEYS.index(kv[0]))
    return urlencode(pairs)


def saved_views_for_user(
    user: Any, organization_id: int, list_name: str = "incidents"
) -> QuerySet[SavedView]:
    """The user's own views and the views shared in the organisation."""
    if not getattr(user, "is_authenticated", False):
        return SavedView.objects.none()
    return (
        SavedView.objects.restrict(user, Action.VIEW)
        .filter(organization_id=organization_id, list_name=list_name)
        .filter(Q(owner_id=user.pk) | Q(shared=True))
        .select_related("owner")
        .order_by("name", "id")
    )


def access_saved_view(user: Any, view_id: Any, organization_id: int) -> SavedView:
    return access(saved_views_for_user(user, organization_id), view_id, "saved view")


def _check(name: str, query: str, list_name: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the view a name."
    elif len(name) > 100:
        errors["name"] = "A name of at most 100 characters."
    normalised = normalise_query(query)
    if len(normalised) > 1000:
        errors["query"] = "The view's filters are too long to save."
    if list_name not in LISTS:
        errors["list_name"] = f"One of: {', '.join(LISTS)}."
    if errors:
        raise FieldError(errors)
    return name, normalised


def _require_owner(acting_user: Any, view: SavedView) -> None:
    if view.owner_id != getattr(acting_user, "pk", None):
        raise PermissionDenied("Only its owner may change this saved view.")


@transaction.atomic
def save_view(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    query: str,
    shared: bool = False,
    list_name: str = "incidents",
) -> SavedView:
    """Save the queue's current filters under a name (replacing the user's view of that
    name)."""
    require(acting_user, SavedView, Action.ADD, organization.pk)
    require(acting_user, Incident, Action.VIEW, organization.pk)
    name, normalised = _check(name, query, list_name)
    with acting_as(acting_user):
        view = SavedView.objects.filter(
            organization=organization, owner=acting_user, list_name=list_name, name=name
        ).first() or SavedView(
            organization=organization, owner=acting_user, list_name=list_name, name=name
        )
        view.query = normalised
        view.shared = bool(shared)
        return save_validated(view)


@transaction.atomic
def rename_view(
    *, acting_user: Any, view: SavedView, name: str, shared: bool | None = None
) -> SavedView:
    """Rename (and optionally share or unshare) one of the user's views."""
    require(acting_user, SavedView, Action.CHANGE, view.organization_id)
    _require_owner(acting_user, view)
    name, _ = _check(name, view.query, view.list_name)
    clash = (
        SavedView.objects.filter(
            organization_id=view.organization_id,
            owner_id=view.owner_id,
            list_name=view.list_name,
            name=name,
        )
        .exclude(pk=view.pk)
        .exists()
    )
    if clash:
        raise FieldError({"name": f"You already have a view named “{name}”."})
    with acting_as(acting_user):
        view.name = name
        if shared is not None:
            view.shared = bool(shared)
        return save_validated(view)


@transaction.atomic
def delete_view(*, acting_user: Any, view: SavedView) -> None:
    require(acting_user, SavedView, Action.VIEW, view.organization_id)
    _require_owner(acting_user, view)
    with acting_as(acting_user):
        view.delete()
