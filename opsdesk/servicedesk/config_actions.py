"""Configuration of the service desk an organisation's admin edits: its settings (priority
matrix, resolution codes, automatic closing, attachment rules, mail-in address, default
team, automatic major incidents) and its incident categories."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from opsdesk.accounts.models import Team
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.servicedesk.models import Category, ServiceDeskSettings

SETTINGS_FIELDS = (
    "priority_matrix",
    "resolution_codes",
    "auto_close_days",
    "attachment_max_bytes",
    "attachment_types",
    "email_address",
    "default_team",
    "auto_declare_p1",
)
#: Every cell of the impact x urgency matrix, as the JSON keys "impact,urgency".
MATRIX_KEYS = tuple(f"{i},{u}" for i in (1, 2, 3) for u in (1, 2, 3))
MAX_ATTACHMENT_BYTES = 1024 * 1024 * 1024


def check_priority_matrix(matrix: Any) -> dict[str, int]:
    """All nine "impact,urgency" keys, each a priority 1..5; else a 422 naming the matrix."""
    if not isinstance(matrix, dict):
        raise FieldError({"priority_matrix": 'An object {"impact,urgency": priority}.'})
    missing = [k for k in MATRIX_KEYS if k not in matrix]
    extra = sorted(k for k in matrix if k not in MATRIX_KEYS)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing)}")
        if extra:
            parts.append(f"unknown {', '.join(extra)}")
        raise FieldError(
            {
                "priority_matrix": f"Needs exactly the keys {', '.join(MATRIX_KEYS)}: "
                + "; ".join(parts)
                + "."
            }
        )
    bad = [
        k
        for k, v in matrix.items()
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5
    ]
    if bad:
        raise FieldError({"priority_matrix": f"Priorities are 1 to 5 (wrong: {', '.join(bad)})."})
    return {k: int(matrix[k]) for k in MATRIX_KEYS}


def _clean_list(values: Any, field: str, what: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise FieldError({field: f"A list of {what}."})
    cleaned = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if any(len(v) > 150 for v in cleaned):
        raise FieldError({field: "Each entry is at most 150 characters."})
    return cleaned


@transaction.atomic
def update_settings(
    *, acting_user: Any, organization: Organization, **changes: Any
) -> ServiceDeskSettings:
    """Change the organisation's service-desk settings (admins only)."""
    require(acting_user, ServiceDeskSettings, Action.CHANGE, organization.pk)
    unknown = sorted(set(changes) - set(SETTINGS_FIELDS))
    if unknown:
        raise FieldError({name: "This setting does not exist." for name in unknown})
    settings = ServiceDeskSettings.for_org(organization.pk)
    errors: dict[str, str] = {}
    if "priority_matrix" in changes:
        changes["priority_matrix"] = check_priority_matrix(changes["priority_matrix"])
    if "resolution_codes" in changes:
        codes = _clean_list(changes["resolution_codes"], "resolution_codes", "codes")
        if not codes:
            errors["resolution_codes"] = "Keep at least one resolution code."
        elif any(len(c) > 60 for c in codes):
            errors["resolution_codes"] = "Each code is at most 60 characters."
        changes["resolution_codes"] = codes
    if "attachment_types" in changes:
        types = _clean_list(changes["attachment_types"], "attachment_types", "MIME types")
        malformed = [t for t in types if "/" not in t or " " in t]
        if malformed:
            errors["attachment_types"] = f"Not MIME types: {', '.join(malformed)}."
        changes["attachment_types"] = [t.lower() for t in types]
    if "auto_close_days" in changes:
        days = changes["auto_close_days"]
        if not isinstance(days, int) or not 1 <= days <= 365:
            errors["auto_close_days"] = "Between 1 and 365 days."
    if "attachment_max_bytes" in changes:
        size = changes["attachment_max_bytes"]
        if not isinstance(size, int) or not 1 <= size <= MAX_ATTACHMENT_BYTES:
            errors["attachment_max_bytes"] = f"Between 1 and {MAX_ATTACHMENT_BYTES:,} bytes."
    if changes.get("email_address"):
        address = changes["email_address"].strip().lower()
        changes["email_address"] = address
        taken = (
            ServiceDeskSettings.objects.filter(email_address__iexact=address)
            .exclude(organization_id=organization.pk)
            .exists()
        )
        if taken:
            errors["email_address"] = "Another organisation already receives mail at it."
    team = changes.get("default_team")
    if team is not None and (not isinstance(team, Team) or team.organization_id != organization.pk):
        errors["default_team_id"] = "The team belongs to another organisation."
    if errors:
        raise FieldError(errors)
    with acting_as(acting_user):
        for name, value in changes.items():
            setattr(settings, name, value)
        return save_validated(settings)


# --- categories ----------------------------------------------------------------------------


def _check_category(category: Category) -> None:
    errors: dict[str, str] = {}
    name = (category.name or "").strip()
    if not name:
        errors["name"] = "A name is required."
    category.name = name
    parent = category.parent
    if parent is not None:
        if parent.organization_id != category.organization_id:
            errors["parent_id"] = "The parent belongs to another organisation."
        elif parent.parent_id is not None:
            errors["parent_id"] = f"{parent.name} is a subcategory; categories have two levels."
        elif category.pk is not None and parent.pk == category.pk:
            errors["parent_id"] = "A category cannot be its own parent."
        elif category.pk is not None and category.children.exists():
            errors["parent_id"] = "This category has subcategories; it must stay top-level."
    if not errors:
        siblings = Category.objects.filter(
            organization_id=category.organization_id, parent=parent, name__iexact=name
        ).exclude(pk=category.pk)
        if siblings.exists():
            errors["name"] = f"There is already a category {name!r} here."
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_category(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    parent: Category | None = None,
    is_active: bool = True,
) -> Category:
    require(acting_user, Category, Action.ADD, organization.pk)
    category = Category(organization=organization, name=name, parent=parent, is_active=is_active)
    _check_category(category)
    with acting_as(acting_user):
        return save_validated(category)


@transaction.atomic
def update_category(*, acting_user: Any, category: Category, **changes: Any) -> Category:
    """Rename, move under another parent, or (de)activate a category. A deactivated category
    is kept for existing incidents but is no longer offered; deactivating a parent
    deactivates its subcategories."""
    require(acting_user, Category, Action.CHANGE, category.organization_id)
    unknown = sorted(set(changes) - {"name", "parent", "is_active"})
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    for name, value in changes.items():
        setattr(category, name, value)
    _check_category(category)
    with acting_as(acting_user):
        save_validated(category)
        if changes.get("is_active") is False:
            for child in category.children.filter(is_active=True):
                child.is_active = False
                save_validated(child)
    return category


def deactivate_category(*, acting_user: Any, category: Category) -> Category:
    return update_category(acting_user=acting_user, category=category, is_active=False)
