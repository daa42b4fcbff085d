"""Shared machinery for actions, and the actions on organisations.

An action is the only place a business object is written: it checks permission and the
workflow, validates, saves atomically (the audit record is written in the same
transaction) and queues side effects with ``transaction.on_commit``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction

from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, has_permission

M = TypeVar("M", bound=models.Model)


def require(user: Any, model: type[models.Model], action: str, organization_id: int | None) -> None:
    if not has_permission(user, model, action, organization_id):
        raise PermissionDenied(
            f"You may not {action} {model._meta.verbose_name_plural} in this organisation."
        )


#: Fields that scope a uniqueness rule (the tenant) rather than break it.
SCOPE_FIELDS = frozenset({"organization"})


def _error_field(key: str, error: ValidationError) -> str:
    """The field a model error is about; a unique constraint over several fields (e.g.
    organisation + name) names the field other than the tenant that scopes it."""
    params = getattr(error, "params", None) or {}
    unique_check = params.get("unique_check") if key == NON_FIELD_ERRORS else None
    if unique_check:
        fields = [f for f in unique_check if f not in SCOPE_FIELDS]
        if fields:
            return ", ".join(fields) if len(fields) > 1 else fields[0]
    return key


def validation_to_field_error(exc: ValidationError) -> FieldError:
    if hasattr(exc, "error_dict"):
        errors: dict[str, str] = {}
        for key, items in exc.error_dict.items():
            for error in items:
                field = _error_field(key, error)
                message = " ".join(error.messages)
                errors[field] = f"{errors[field]} {message}" if field in errors else message
        return FieldError(errors)
    return FieldError({"__all__": " ".join(exc.messages)})


def _known_references(instance: models.Model) -> set[str]:
    """The foreign keys whose related object is on the instance, read from the database:
    Django's validation would ask the database again whether it exists (a query each). A
    row deleted meanwhile is still refused, by the database's foreign key (a Conflict)."""
    known = set()
    for f in instance._meta.concrete_fields:
        if not f.many_to_one or f.remote_field.limit_choices_to:
            continue
        related = f.get_cached_value(instance, default=None)
        if (
            related is not None
            and not related._state.adding
            and related.pk is not None
            and related.pk == getattr(instance, f.attname)
        ):
            known.add(f.name)
    return known


def full_clean(instance: models.Model, exclude: Iterable[str] = ()) -> None:
    """``instance.full_clean(exclude)``, step for step (fields, ``clean()``, unique checks,
    constraints; each later step leaves out the fields that failed), except that foreign
    keys to objects read from the database are not looked up again (`_known_references`).
    Unique checks and constraints over those fields still run."""
    excluded = set(exclude)
    errors: dict[str, Any] = {}
    try:
        instance.clean_fields(exclude=excluded | _known_references(instance))
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    try:
        instance.clean()
    except ValidationError as exc:
        errors = exc.update_error_dict(errors)
    for check in (instance.validate_unique, instance.validate_constraints):
        excluded |= {name for name in errors if name != NON_FIELD_ERRORS}
        try:
            check(exclude=excluded)
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
    if errors:
        raise ValidationError(errors)


def save_validated(instance: M, *, exclude: Iterable[str] | None = None) -> M:
    """`full_clean` then save(); model validation errors become FieldError naming the field."""
    try:
        full_clean(instance, exclude or ())
    except ValidationError as exc:
        raise validation_to_field_error(exc) from exc
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise Conflict("This conflicts with an existing record.") from exc
    return instance


def apply_changes(instance: M, changes: dict[str, Any], allowed: Iterable[str]) -> M:
    allowed = set(allowed)
    unknown = set(changes) - allowed
    if unknown:
        raise FieldError({name: "This field cannot be changed." for name in sorted(unknown)})
    for name, value in changes.items():
        setattr(instance, name, value)
    return instance


ORGANIZATION_FIELDS = ("name", "description", "countries", "time_zone")


@transaction.atomic
def create_organization(*, acting_user: Any, name: str, slug: str, **fields: Any) -> Organization:
    if not (acting_user and acting_user.is_superuser):
        raise PermissionDenied("Only platform administrators create organisations.")
    with acting_as(acting_user):
        org = apply_changes(Organization(name=name, slug=slug), fields, ORGANIZATION_FIELDS)
        return save_validated(org)


@transaction.atomic
def update_organization(
    *, acting_user: Any, organization: Organization, **changes: Any
) -> Organization:
    require(acting_user, Organization, Action.CHANGE, organization.pk)
    with acting_as(acting_user):
        apply_changes(organization, changes, ORGANIZATION_FIELDS)
        return save_validated(organization)
