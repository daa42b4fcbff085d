"""Every write on configuration items, relationships and CI classes.

Each action is atomic, checks permission with ``require``, runs inside ``acting_as`` (the
audit trail records who did it, with before/after) and refuses bad input with a
``FieldError`` naming the field (``attributes.cpu_cores``, ``owner_team_id``, ``target_id``).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import (
    CIClass,
    CIIdentifier,
    ConfigurationItem,
    Relationship,
    RelationshipType,
    validate_json_schema,
    validate_string_list,
)
from opsdesk.cmdb.validation import attribute_errors, field_errors, identifier_values
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action

MANUAL = "manual"

#: Common fields a person may set on a CI (besides ``attributes``).
CI_FIELDS = (
    "name",
    "description",
    "status",
    "environment",
    "owner_team",
    "support_team",
    "criticality",
    "location",
    "country",
    "tags",
    "data_classification",
    "holds_personal_data",
    "allowed_residency",
)
TEAM_FIELDS = ("owner_team", "support_team")

CI_CLASS_FIELDS = (
    "label",
    "description",
    "attribute_schema",
    "identifiers",
    "source_precedence",
    "is_service",
)


# --- Configuration items -------------------------------------------------------------------------


def _normalise(organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Check the shape of CI fields; resolve ``owner_team_id``/``support_team_id`` to teams.

    Returns the changes keyed by model field name; raises FieldError naming every bad field.
    """
    allowed = {*CI_FIELDS, "attributes", *(f"{t}_id" for t in TEAM_FIELDS)}
    errors: dict[str, str] = {
        name: "This field cannot be set." for name in sorted(set(data) - allowed)
    }
    out: dict[str, Any] = {}
    for name, value in data.items():
        if name in errors:
            continue
        if name.endswith("_team") or name.endswith("_team_id"):
            field = name.removesuffix("_id")
            if value is None:
                out[field] = None
                continue
            team_id = value.pk if isinstance(value, Team) else value
            team = (
                Team.objects.filter(pk=team_id, organization_id=organization_id).first()
                if isinstance(team_id, int) and not isinstance(team_id, bool)
                else None
            )
            if team is None:
                errors[name] = "Choose a team of the CI's organisation."
            else:
                out[field] = team
            continue
        if isinstance(value, str) and name in {"name", "location", "description"}:
            value = value.strip()
        if name == "country" and isinstance(value, str):
            value = value.upper()
        if name == "tags" and isinstance(value, list):
            value = list(dict.fromkeys(t.strip() if isinstance(t, str) else t for t in value))
        out[name] = value
    errors.update(field_errors(out))
    if "attributes" in out and not isinstance(out["attributes"], dict):
        errors["attributes"] = "Attributes must be a JSON object."
    if errors:
        raise FieldError(errors)
    return out


def _identifier_field(kind: str) -> str:
    return "name" if kind.startswith("name:") else f"attributes.{kind}"


def _sync_identifiers(ci: ConfigurationItem) -> None:
    """Make the CI's identifier rows match its name and attributes; refuse twins."""
    wanted = identifier_values(ci.ci_class, ci.name, ci.attributes or {})
    for kind, value in wanted:
        other = (
            CIIdentifier.objects.filter(organization_id=ci.organization_id, kind=kind, value=value)
            .exclude(ci_id=ci.pk)
            .select_related("ci")
            .first()
        )
        if other is not None:
            field = _identifier_field(kind)
            raise Conflict(
                f"Another configuration item ({other.ci.name}, id {other.ci_id}) already has "
                f"{field} = {value!r}.",
                field=field,
            )
    existing = {(i.kind, i.value): i for i in CIIdentifier.objects.filter(ci_id=ci.pk)}
    stale = [i.pk for key, i in existing.items() if key not in set(wanted)]
    if stale:
        CIIdentifier.objects.filter(pk__in=stale).delete()
    missing = [
        CIIdentifier(organization_id=ci.organization_id, ci=ci, kind=kind, value=value)
        for kind, value in dict.fromkeys(wanted)
        if (kind, value) not in existing
    ]
    if missing:
        try:
            with transaction.atomic():
                CIIdentifier.objects.bulk_create(missing)
        except IntegrityError as exc:  # a concurrent writer took the value first
            kind = missing[0].kind
            raise Conflict(
                "Another configuration item already has this identifier.",
                field=_identifier_field(kind),
            ) from exc


def _mark_sources(ci: ConfigurationItem, changed: list[str], source: str) -> None:
    sources = dict(ci.attribute_sources or {})
    for key in changed:
        sources[key] = source
    ci.attribute_sources = sources


def _save_ci(ci: ConfigurationItem) -> ConfigurationItem:
    try:
        return save_validated(ci)
    except FieldError as exc:
        for team in TEAM_FIELDS:
            if team in exc.errors:
                exc.errors[f"{team}_id"] = exc.errors.pop(team)
        raise


@transaction.atomic
def create_ci(
    *,
    acting_user: Any,
    organization: Organization,
    ci_class: CIClass,
    name: str,
    source: str = MANUAL,
    **fields: Any,
) -> ConfigurationItem:
    """Create a CI; its attributes must fit the class schema and its identifiers be unique."""
    require(acting_user, ConfigurationItem, Action.ADD, organization.pk)
    data = _normalise(organization.pk, {"name": name, **fields})
    attributes = data.pop("attributes", None) or {}
    errors = attribute_errors(ci_class, attributes)
    if errors:
        raise FieldError(errors)
    with acting_as(acting_user):
        ci = ConfigurationItem(organization=organization, ci_class=ci_class, attributes=attributes)
        for key, value in data.items():
            setattr(ci, key, value)
        _mark_sources(ci, [*data, *(f"attributes.{k}" for k in attributes)], source)
        _save_ci(ci)
        _sync_identifiers(ci)
        return ci


@transaction.atomic
def update_ci(
    *, acting_user: Any, ci: ConfigurationItem, source: str = MANUAL, **changes: Any
) -> ConfigurationItem:
    """Change a CI's fields; ``attributes`` replaces the attribute object as a whole.

    Attributes are validated against the class schema as it is now, whenever they change.
    """
    require(acting_user, ConfigurationItem, Action.CHANGE, ci.organization_id)
    data = _normalise(ci.organization_id, changes)
    changed: list[str] = []
    if "attributes" in data:
        attributes = data.pop("attributes")
        old = ci.attributes or {}
        if attributes != old:
            errors = attribute_errors(ci.ci_class, attributes)
            if errors:
                raise FieldError(errors)
            # Sources are tracked as "<field>" and "attributes.<key>" (as imports do).
            changed += [
                f"attributes.{k}"
                for k in set(attributes) | set(old)
                if attributes.get(k) != old.get(k)
            ]
            ci.attribute_sources = {
                k: v
                for k, v in (ci.attribute_sources or {}).items()
                if (
                    k.removeprefix("attributes.") in attributes
                    if k.startswith("attributes.")
                    else k in CI_FIELDS
                )
            }
            ci.attributes = attributes
    for key, value in data.items():
        if getattr(ci, key) != value:
            setattr(ci, key, value)
            changed.append(key)
    if not changed:
        return ci
    with acting_as(acting_user):
        _mark_sources(
            ci,
            [
                k
                for k in changed
                if k in CI_FIELDS or k.removeprefix("attributes.") in ci.attributes
            ],
            source,
        )
        _save_ci(ci)
        _sync_identifiers(ci)
        return ci


@transaction.atomic
def delete_ci(*, acting_user: Any, ci: ConfigurationItem) -> None:
    """Delete a CI with its relationships (each removal is audited)."""
    require(acting_user, ConfigurationItem, Action.DELETE, ci.organization_id)
    with acting_as(acting_user):
        for rel in Relationship.objects.filter(
            Q(source_id=ci.pk) | Q(target_id=ci.pk), organization_id=ci.organization_id
        ):
            rel.delete()
        ci.delete()


# --- Relationships --------------------------------------------------------------------------------


@transaction.atomic
def add_relationship(
    *,
    acting_user: Any,
    source: ConfigurationItem,
    type_key: str,
    target: ConfigurationItem,
    discovered_by: str = "",
) -> Relationship:
    """``source <type> target``, e.g. app runs_on server; both ends in one organisation."""
    require(acting_user, Relationship, Action.ADD, source.organization_id)
    if target.organization_id != source.organization_id:
        raise NotFound("No configuration item matches the given target id.")
    if target.pk == source.pk:
        raise FieldError({"target_id": "A configuration item cannot depend on itself."})
    rel_type = RelationshipType.objects.filter(key=type_key).first()
    if rel_type is None:
        keys = ", ".join(RelationshipType.objects.values_list("key", flat=True))
        raise FieldError(
            {"type": f"Unknown relationship type {type_key!r}; choose one of: {keys}."}
        )
    if Relationship.objects.filter(source=source, target=target, type=rel_type).exists():
        raise Conflict(f"{source.name} already {rel_type.label} {target.name}.", field="target_id")
    with acting_as(acting_user):
        rel = Relationship(
            organization_id=source.organization_id,
            source=source,
            target=target,
            type=rel_type,
            discovered_by=discovered_by,
        )
        try:
            return save_validated(rel)
        except FieldError as exc:
            if "__all__" in exc.errors or "source, target, type" in exc.errors:
                raise Conflict("This relationship exists already.", field="target_id") from exc
            raise


@transaction.atomic
def remove_relationship(*, acting_user: Any, relationship: Relationship) -> None:
    require(acting_user, Relationship, Action.DELETE, relationship.organization_id)
    with acting_as(acting_user):
        relationship.delete()


# --- CI classes -----------------------------------------------------------------------------------


@transaction.atomic
def update_ci_class(*, acting_user: Any, ci_class: CIClass, **changes: Any) -> CIClass:
    """Platform administrators extend a class without a migration.

    The attribute schema must stay a valid JSON Schema of an object. Existing CIs are not
    re-validated; their next edit of attributes is.
    """
    if not (acting_user and acting_user.is_active and acting_user.is_superuser):
        raise PermissionDenied("Only platform administrators change CI classes.")
    errors: dict[str, str] = {
        name: "This field cannot be changed."
        for name in sorted(set(changes) - set(CI_CLASS_FIELDS))
    }
    checks = {
        "attribute_schema": validate_json_schema,
        "identifiers": validate_string_list,
        "source_precedence": validate_string_list,
    }
    for name, check in checks.items():
        if name in changes:
            try:
                check(changes[name])
            except ValidationError as exc:
                errors[name] = " ".join(exc.messages)
    schema = changes.get("attribute_schema")
    if (
        isinstance(schema, dict)
        and "attribute_schema" not in errors
        and schema.get("type", "object") != "object"
    ):
        errors["attribute_schema"] = (
            'The attribute schema must describe an object ("type": "object").'
        )
    for name in ("label",):
        if name in changes and (not isinstance(changes[name], str) or not changes[name].strip()):
            errors[name] = "A label is required."
    if "is_service" in changes and not isinstance(changes["is_service"], bool):
        errors["is_service"] = "True or false."
    if errors:
        raise FieldError(errors)
    with acting_as(acting_user):
        for name, value in changes.items():
            setattr(ci_class, name, value)
        return save_validated(ci_class)
