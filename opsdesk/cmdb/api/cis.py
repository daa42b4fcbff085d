"""API routes of configuration items, relationships, CI classes and impact analysis."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.cmdb import actions, selectors
from opsdesk.cmdb.impact import MAX_DEPTH, impact_analysis
from opsdesk.cmdb.models import CIClass
from opsdesk.cmdb.schemas import (
    CIClassOut,
    CIClassPatch,
    CIDetailOut,
    CIFilter,
    CIIn,
    CIOut,
    CIPatch,
    CIRelationshipOut,
    ImpactOut,
    RelationshipIn,
    RelationshipOut,
    RelationshipTypeOut,
)
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.schemas import AuditRecordOut
from opsdesk.core.selectors import access_organization

router = Router(tags=["cmdb"])


def _detail(user: Any, ci_id: int) -> Any:
    return (
        selectors.cis_for_user(user)
        .prefetch_related("identifiers", "sources")
        .filter(pk=ci_id)
        .first()
    )


def _class(user: Any, key: str, field: str | None = None) -> CIClass:
    ok = 0 < len(key) <= 60 and "\x00" not in key
    found = selectors.ci_classes(user).filter(key=key).first() if ok else None
    if found is None:
        if field:
            raise FieldError({field: f"Unknown CI class {key!r}."})
        raise NotFound("No CI class matches the given key.")
    return found


# --- Configuration items ---------------------------------------------------------------------------


@router.get(
    "/cis",
    response={200: list[CIOut], **ERROR_RESPONSES},
    summary="Configuration items, filtered by class, status, environment, tag, attribute ...",
)
@paginate(Paginated)
def list_cis(request: HttpRequest, filters: Query[CIFilter]):  # type: ignore[no-untyped-def]
    data = filters.dict()
    return selectors.filter_cis(selectors.cis_for_user(request.auth), **data).order_by("name", "pk")


@router.post(
    "/cis", response={201: CIDetailOut, **ERROR_RESPONSES}, summary="Create a configuration item"
)
def create_ci(request: HttpRequest, payload: CIIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    data = payload.dict(exclude_unset=True)
    data.pop("organization_id")
    ci_class = _class(user, data.pop("ci_class"), field="ci_class")
    ci = actions.create_ci(acting_user=user, organization=org, ci_class=ci_class, **data)
    return Status(201, _detail(user, ci.pk))


@router.get(
    "/cis/{ci_id}",
    response={200: CIDetailOut, **ERROR_RESPONSES},
    summary="A configuration item with its identifiers and when each source last saw it",
)
def get_ci(request: HttpRequest, ci_id: int):  # type: ignore[no-untyped-def]
    ci = _detail(request.auth, ci_id)
    if ci is None:
        raise NotFound("No configuration item matches the given id.")
    return ci


@router.patch(
    "/cis/{ci_id}",
    response={200: CIDetailOut, **ERROR_RESPONSES},
    summary="Change a configuration item (attributes are merged; null removes one)",
)
def update_ci(request: HttpRequest, ci_id: int, payload: CIPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    ci = selectors.access_ci(user, ci_id)
    changes = payload.dict(exclude_unset=True)
    if "attributes" in changes:
        merged = dict(ci.attributes or {})
        for key, value in (changes["attributes"] or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        changes["attributes"] = merged
    actions.update_ci(acting_user=user, ci=ci, **changes)
    return _detail(user, ci.pk)


@router.delete(
    "/cis/{ci_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Delete a configuration item and its relationships",
)
def delete_ci(request: HttpRequest, ci_id: int):  # type: ignore[no-untyped-def]
    ci = selectors.access_ci(request.auth, ci_id)
    actions.delete_ci(acting_user=request.auth, ci=ci)
    return Status(204, None)


@router.get(
    "/cis/{ci_id}/relationships",
    response={200: list[CIRelationshipOut], **ERROR_RESPONSES},
    summary="A CI's relationships in both directions, each with the CI at the other end",
)
@paginate(Paginated)
def list_ci_relationships(request: HttpRequest, ci_id: int):  # type: ignore[no-untyped-def]
    return selectors.ci_relationships(selectors.access_ci(request.auth, ci_id))


@router.get(
    "/cis/{ci_id}/impact",
    response={200: ImpactOut, **ERROR_RESPONSES},
    summary="Impact analysis: the business services a CI can take down, with paths, "
    "and what it depends on",
)
def get_impact(request: HttpRequest, ci_id: int, depth: int = Query(6, ge=1, le=MAX_DEPTH)):  # type: ignore[no-untyped-def]
    return impact_analysis(selectors.access_ci(request.auth, ci_id), depth=depth)


@router.get(
    "/cis/{ci_id}/history",
    response={200: list[AuditRecordOut], **ERROR_RESPONSES},
    summary="Every recorded change of a CI and of its relationships, newest first",
)
@paginate(Paginated)
def ci_history(request: HttpRequest, ci_id: int):  # type: ignore[no-untyped-def]
    return selectors.ci_history(selectors.access_ci(request.auth, ci_id))


# --- Relationships ----------------------------------------------------------------------------------


@router.post(
    "/relationships",
    response={201: RelationshipOut, **ERROR_RESPONSES},
    summary="Relate two CIs: source <type> target, e.g. app runs_on server",
)
def create_relationship(request: HttpRequest, payload: RelationshipIn):  # type: ignore[no-untyped-def]
    user = request.auth
    source = selectors.access_ci(user, payload.source_id)
    target = selectors.cis_for_user(user).filter(pk=payload.target_id).first()
    if target is None:
        raise NotFound("No configuration item matches the given target id.")
    rel = actions.add_relationship(
        acting_user=user,
        source=source,
        type_key=payload.type,
        target=target,
        discovered_by=payload.discovered_by,
    )
    return Status(201, rel)


@router.delete(
    "/relationships/{relationship_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Remove a relationship",
)
def delete_relationship(request: HttpRequest, relationship_id: int):  # type: ignore[no-untyped-def]
    rel = selectors.access_relationship(request.auth, relationship_id)
    actions.remove_relationship(acting_user=request.auth, relationship=rel)
    return Status(204, None)


@router.get(
    "/relationship-types",
    response={200: list[RelationshipTypeOut], **ERROR_RESPONSES},
    summary="Relationship types and how each carries impact",
)
def list_relationship_types(request: HttpRequest):  # type: ignore[no-untyped-def]
    return list(selectors.relationship_types(request.auth))


# --- CI classes ------------------------------------------------------------------------------------


@router.get(
    "/ci-classes",
    response={200: list[CIClassOut], **ERROR_RESPONSES},
    summary="CI classes with their attribute schemas (the same for every organisation)",
)
def list_ci_classes(request: HttpRequest):  # type: ignore[no-untyped-def]
    return list(selectors.ci_classes(request.auth))


@router.get("/ci-classes/{class_key}", response={200: CIClassOut, **ERROR_RESPONSES})
def get_ci_class(request: HttpRequest, class_key: str):  # type: ignore[no-untyped-def]
    return _class(request.auth, class_key)


@router.patch(
    "/ci-classes/{class_key}",
    response={200: CIClassOut, **ERROR_RESPONSES},
    summary="Change a CI class or extend its attribute schema (platform administrators)",
)
def update_ci_class(request: HttpRequest, class_key: str, payload: CIClassPatch):  # type: ignore[no-untyped-def]
    ci_class = _class(request.auth, class_key)
    return actions.update_ci_class(
        acting_user=request.auth, ci_class=ci_class, **payload.dict(exclude_unset=True)
    )
