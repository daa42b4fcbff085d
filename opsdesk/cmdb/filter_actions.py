"""Saved CI-list filters: save, rename/share, delete (audited, restricted), and their reads.

A saved filter is personal unless shared with the organisation. Anyone who may see CIs may
save filters; only the owner changes or deletes a filter, except that an organisation
admin may delete a shared one (to tidy what everybody sees).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.db import transaction
from django.db.models import QuerySet

from opsdesk.cmdb.models import SavedFilter
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, Role, organization_roles
from opsdesk.core.selectors import access

#: The filter words of the CI list (the same as ``GET /api/v1/cis``).
FILTER_KEYS = (
    "class",
    "status",
    "environment",
    "tag",
    "criticality",
    "country",
    "owner_team",
    "q",
    "attribute",
)


def normalise_query(query: str) -> str:
    """Keep only the known filter words with a value, in a stable order."""
    pairs = dict(parse_qsl(query.lstrip("?"), keep_blank_values=False))
    return urlencode([(k, pairs[k].strip()) for k in FILTER_KEYS if pairs.get(k, "").strip()])


def saved_filters_for_user(user: Any, organization_id: int) -> QuerySet[SavedFilter]:
    """The user's own filters and those shared in the organisation."""
    return (
        SavedFilter.objects.restrict(user, Action.VIEW)
        .filter(organization_id=organization_id)
        .select_related("owner")
    )


def access_saved_filter(user: Any, filter_id: int) -> SavedFilter:
    return access(SavedFilter.objects.restrict(user, Action.VIEW), filter_id, "saved filter")


@transaction.atomic
def save_filter(
    *, acting_user: Any, organization: Organization, name: str, query: str, shared: bool = False
) -> SavedFilter:
    """Save the current CI-list filter under a name (replacing the user's filter of that name)."""
    require(acting_user, SavedFilter, Action.ADD, organization.pk)
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the filter a name."
    elif len(name) > 100:
        errors["name"] = "A name of at most 100 characters."
    normalised = normalise_query(query or "")
    if not normalised:
        errors["query"] = "Choose at least one filter before saving."
    elif len(normalised) > 2000:
        errors["query"] = "The filter is too long to save."
    if errors:
        raise FieldError(errors)
    with acting_as(acting_user):
        saved = SavedFilter.objects.filter(
            organization=organization, owner=acting_user, name=name
        ).first() or SavedFilter(organization=organization, owner=acting_user, name=name)
        saved.query = normalised
        saved.shared = bool(shared)
        return save_validated(saved)


@transaction.atomic
def delete_filter(*, acting_user: Any, saved_filter: SavedFilter) -> None:
    require(acting_user, SavedFilter, Action.DELETE, saved_filter.organization_id)
    is_owner = saved_filter.owner_id == acting_user.pk
    is_admin = acting_user.is_superuser or (
        organization_roles(acting_user).get(saved_filter.organization_id) == Role.ADMIN
    )
    if not is_owner and not (saved_filter.shared and is_admin):
        raise PermissionDenied("Only its owner may delete this saved filter.")
    with acting_as(acting_user):
        saved_filter.delete()
