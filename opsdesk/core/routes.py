"""API routes of the core: health, organisations and the audit trail."""

from typing import Literal

from django.db import connection
from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from ninja.pagination import paginate

import opsdesk
from opsdesk.core import actions, selectors
from opsdesk.core.api import ERROR_RESPONSES, ApiDateTime, ObjectId, Paginated, get_or_404
from opsdesk.core.schemas import (
    AuditRecordOut,
    HealthOut,
    OrganizationIn,
    OrganizationOut,
    OrganizationPatch,
)

health_router = Router(tags=["health"])
router = Router(tags=["organizations"])
audit_router = Router(tags=["audit"])


@health_router.get(
    "/health",
    auth=None,
    response={200: HealthOut, 503: HealthOut},
    summary="Liveness and database check",
)
def health(request: HttpRequest) -> Status:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return Status(200, {"status": "ok", "database": "ok", "version": opsdesk.__version__})
    except Exception:
        return Status(
            503,
            {"status": "unavailable", "database": "unreachable", "version": opsdesk.__version__},
        )


@router.get(
    "/organizations",
    response={200: list[OrganizationOut], **ERROR_RESPONSES},
    summary="Organisations I belong to",
)
@paginate(Paginated)
def list_organizations(request: HttpRequest):  # type: ignore[no-untyped-def]
    return selectors.organizations_for_user(request.auth)


@router.post(
    "/organizations",
    response={201: OrganizationOut, **ERROR_RESPONSES},
    summary="Create an organisation (platform admins)",
)
def create_organization(request: HttpRequest, payload: OrganizationIn):  # type: ignore[no-untyped-def]
    org = actions.create_organization(acting_user=request.auth, **payload.dict())
    return Status(201, org)


@router.get("/organizations/{organization_id}", response={200: OrganizationOut, **ERROR_RESPONSES})
def get_organization(request: HttpRequest, organization_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_organization(request.auth, organization_id)


@router.patch(
    "/organizations/{organization_id}",
    response={200: OrganizationOut, **ERROR_RESPONSES},
    summary="Change an organisation (its admins)",
)
def update_organization(request: HttpRequest, organization_id: int, payload: OrganizationPatch):  # type: ignore[no-untyped-def]
    org = selectors.access_organization(request.auth, organization_id)
    changes = payload.dict(exclude_unset=True)
    return actions.update_organization(acting_user=request.auth, organization=org, **changes)


class AuditFilter(Schema):
    organization: ObjectId | None = None
    actor: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: Literal["create", "update", "delete"] | None = None
    request_id: str | None = None
    since: ApiDateTime | None = None
    until: ApiDateTime | None = None
    q: str | None = None


@audit_router.get(
    "/audit",
    response={200: list[AuditRecordOut], **ERROR_RESPONSES},
    summary="The audit trail (auditors and admins)",
)
@paginate(Paginated)
def list_audit(request: HttpRequest, filters: Query[AuditFilter]):  # type: ignore[no-untyped-def]
    data = filters.dict()
    data["organization_id"] = data.pop("organization")
    return selectors.audit_records(request.auth, **data)


@audit_router.get("/audit/{record_id}", response={200: AuditRecordOut, **ERROR_RESPONSES})
def get_audit_record(request: HttpRequest, record_id: int):  # type: ignore[no-untyped-def]
    return get_or_404(selectors.audit_records(request.auth), pk=record_id)
