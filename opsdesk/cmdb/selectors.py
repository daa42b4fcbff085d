"""Reads of the CMDB, always restricted to what the user may see."""

from __future__ import annotations

import json
from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet

from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access


def cis_for_user(user: Any, action: str = Action.VIEW) -> QuerySet[ConfigurationItem]:
    return ConfigurationItem.objects.restrict(user, action).select_related(
        "ci_class", "owner_team", "support_team", "organization"
    )


def access_ci(user: Any, ci_id: int, action: str = Action.VIEW) -> ConfigurationItem:
    return access(cis_for_user(user, action), ci_id, "configuration item")


def filter_cis(
    qs: QuerySet[ConfigurationItem],
    *,
    organization: int | None = None,
    ci_class: str | None = None,
    status: str | None = None,
    environment: str | None = None,
    tag: str | None = None,
    criticality: int | None = None,
    country: str | None = None,
    owner_team: int | None = None,
    q: str | None = None,
    attribute: str | None = None,
) -> QuerySet[ConfigurationItem]:
    """The same filter words for the CI list page and ``GET /api/v1/cis``.

    ``attribute`` is ``key=value`` (exact match on a class-specific attribute).
    """
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if ci_class:
        qs = qs.filter(ci_class__key=ci_class)
    if status:
        qs = qs.filter(status=status)
    if environment:
        qs = qs.filter(environment=environment)
    if tag:
        # PostgreSQL answers JSON containment from the index; SQLite has no JSON contains.
        if connections[qs.db].vendor == "postgresql":
            qs = qs.filter(tags__contains=[tag])
        else:
            qs = qs.filter(tags__icontains=json.dumps(tag))
    if criticality is not None:
        qs = qs.filter(criticality=criticality)
    if country:
        qs = qs.filter(country=country.upper())
    if owner_team is not None:
        qs = qs.filter(owner_team_id=owner_team)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    if attribute:
        key, sep, value = attribute.partition("=")
        if sep and key.strip():
            qs = qs.filter(**{f"attributes__{key.strip()}": _coerce(value)})
    return qs


def _coerce(value: str) -> Any:
    value = value.strip()
    if value.lower() in {"true", "false"}:
        return value.lower() == "true"
    try:
        return int(value)
    except ValueError:
        return value


def relationships_for_user(user: Any) -> QuerySet[Relationship]:
    return Relationship.objects.restrict(user).select_related(
        "type", "source__ci_class", "target__ci_class"
    )


def access_relationship(user: Any, relationship_id: int) -> Relationship:
    return access(relationships_for_user(user), relationship_id, "relationship")


def ci_classes(user: Any) -> QuerySet[CIClass]:
    return CIClass.visible_to(user)


def relationship_types(user: Any) -> QuerySet[RelationshipType]:
    return RelationshipType.visible_to(user)


def ci_relationships(ci: ConfigurationItem) -> list[dict[str, Any]]:
    """Both directions of `ci`'s relationships, read from `ci` (caller checked access to it)."""
    rows = Relationship.objects.filter(organization_id=ci.organization_id).select_related(
        "type", "source__ci_class", "target__ci_class"
    )
    out: list[dict[str, Any]] = []
    for direction, qs in (
        ("outgoing", rows.filter(source_id=ci.pk)),
        ("incoming", rows.filter(target_id=ci.pk)),
    ):
        for rel in qs.order_by("type__label", "pk"):
            outgoing = direction == "outgoing"
            out.append(
                {
                    "id": rel.pk,
                    "direction": direction,
                    "type": rel.type.key,
                    "label": rel.type.label if outgoing else rel.type.reverse_label,
                    "type_label": rel.type.label,
                    "reverse_label": rel.type.reverse_label,
                    "propagation": rel.type.propagation,
                    "other": rel.target if outgoing else rel.source,
                    "discovered_by": rel.discovered_by,
                    "created_at": rel.created_at,
                }
            )
    return out


def ci_history(ci: ConfigurationItem) -> QuerySet[Any]:
    """Audit records of `ci` and of its relationships (past and present), newest first.

    Shown to whoever may view the CI: it is the CI's own history, not the audit log.
    """
    from opsdesk.core.models import AuditRecord

    # Relationships of the CI: those that exist, and those deleted since (found through their
    # delete records, few and indexed by (object_type, action)); then all their records by id.
    rel_type = "cmdb.relationship"
    current = Relationship.objects.filter(Q(source=ci) | Q(target=ci)).values_list("pk", flat=True)
    deleted = AuditRecord.objects.filter(
        Q(before__source=ci.pk) | Q(before__target=ci.pk),
        object_type=rel_type,
        action="delete",
        organization_id=ci.organization_id,
    ).values_list("object_id", flat=True)
    rel_ids = {str(pk) for pk in current} | set(deleted)
    rel = Q(object_type=rel_type, object_id__in=rel_ids)
    own = Q(object_type="cmdb.configurationitem", object_id=str(ci.pk))
    return AuditRecord.objects.filter(own | rel, organization_id=ci.organization_id).order_by(
        "-timestamp", "-pk"
    )
