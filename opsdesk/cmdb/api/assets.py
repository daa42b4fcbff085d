"""API routes of hardware assets, software licences and installations, the licence position,
expiring warranties and renewals, and CMDB health."""

from typing import Literal

from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.selectors import users_in_organization
from opsdesk.cmdb import asset_actions as actions
from opsdesk.cmdb import asset_selectors as selectors
from opsdesk.cmdb import health, licensing
from opsdesk.cmdb.asset_schemas import (
    AssetIn,
    AssetOut,
    AssetPatch,
    ExpiringOut,
    HealthOut,
    InstallationIn,
    InstallationOut,
    LicenceIn,
    LicenceOut,
    LicencePatch,
    LifecycleIn,
    PositionOut,
    UnlicensedOut,
)
from opsdesk.cmdb.choices import AssetLifecycle, LicenceMetric
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.cmdb.selectors import access_ci, cis_for_user
from opsdesk.core.api import ERROR_RESPONSES, ObjectId, Paginated
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access_organization

router = Router(tags=["cmdb"])


def _ci_in(user, organization_id: int, ci_id: int | None) -> ConfigurationItem | None:  # type: ignore[no-untyped-def]
    if ci_id is None:
        return None
    ci = cis_for_user(user).filter(pk=ci_id, organization_id=organization_id).first()
    if ci is None:
        raise FieldError({"ci_id": "No configuration item of this organisation has this id."})
    return ci


def _user_in(user, organization_id: int, user_id: int | None, field: str):  # type: ignore[no-untyped-def]
    if user_id is None:
        return None
    return users_in_organization(user, organization_id, [user_id], field)[0]


def _asset_changes(user, organization_id: int, data: dict) -> dict:  # type: ignore[no-untyped-def]
    changes = {k: v for k, v in data.items() if k not in {"ci_id", "assigned_user_id"}}
    if "ci_id" in data:
        changes["ci"] = _ci_in(user, organization_id, data["ci_id"])
    if "assigned_user_id" in data:
        changes["assigned_user"] = _user_in(
            user, organization_id, data["assigned_user_id"], "assigned_user_id"
        )
    for field in ("serial_number", "model", "vendor", "location", "country", "notes", "name"):
        if field in changes and changes[field] is None:
            raise FieldError({field: "Send an empty string to clear this field, not null."})
    if changes.get("country"):
        changes["country"] = changes["country"].upper()
    if "currency" in changes and changes["currency"] is None:
        raise FieldError({"currency": "A currency is required."})
    return changes


# --- hardware assets ---------------------------------------------------------------------------


@router.get("/assets", response={200: list[AssetOut], **ERROR_RESPONSES}, summary="Hardware assets")
@paginate(Paginated)
def list_assets(
    request: HttpRequest,
    organization: ObjectId | None = None,
    lifecycle: AssetLifecycle | None = None,
    vendor: str | None = None,
    assigned_user: ObjectId | None = None,
    ci: ObjectId | None = None,
    q: str | None = None,
):  # type: ignore[no-untyped-def]
    qs = selectors.assets_for_user(request.auth)
    return selectors.filter_assets(
        qs,
        organization=organization,
        lifecycle=lifecycle,
        vendor=(vendor or "")[:200] or None,
        assigned_user=assigned_user,
        ci=ci,
        q=(q or "")[:200] or None,
    )


@router.post(
    "/assets", response={201: AssetOut, **ERROR_RESPONSES}, summary="Record a hardware asset"
)
def create_asset(request: HttpRequest, payload: AssetIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    data = payload.dict(exclude={"organization_id"})
    lifecycle = data.pop("lifecycle")
    changes = _asset_changes(user, org.pk, data)
    asset = actions.create_asset(
        acting_user=user,
        organization=org,
        lifecycle=lifecycle,
        **changes,
    )
    return Status(201, selectors.access_asset(user, asset.pk))


@router.get("/assets/{asset_id}", response={200: AssetOut, **ERROR_RESPONSES})
def get_asset(request: HttpRequest, asset_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_asset(request.auth, asset_id)


@router.patch(
    "/assets/{asset_id}",
    response={200: AssetOut, **ERROR_RESPONSES},
    summary="Change a hardware asset (not its lifecycle)",
)
def update_asset(request: HttpRequest, asset_id: int, payload: AssetPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    asset = selectors.access_asset(user, asset_id)
    changes = _asset_changes(user, asset.organization_id, payload.dict(exclude_unset=True))
    actions.update_asset(acting_user=user, asset=asset, **changes)
    return selectors.access_asset(user, asset.pk)


@router.delete(
    "/assets/{asset_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Delete an asset recorded by mistake",
)
def delete_asset(request: HttpRequest, asset_id: int):  # type: ignore[no-untyped-def]
    asset = selectors.access_asset(request.auth, asset_id)
    actions.delete_asset(acting_user=request.auth, asset=asset)
    return Status(204, None)


@router.post(
    "/assets/{asset_id}/lifecycle",
    response={200: AssetOut, **ERROR_RESPONSES},
    summary="Move an asset along its lifecycle (disposal needs a disposal record)",
)
def change_lifecycle(request: HttpRequest, asset_id: int, payload: LifecycleIn):  # type: ignore[no-untyped-def]
    user = request.auth
    asset = selectors.access_asset(user, asset_id)
    actions.change_asset_lifecycle(acting_user=user, asset=asset, **payload.dict())
    return selectors.access_asset(user, asset.pk)


# --- software licences -------------------------------------------------------------------------


@router.get(
    "/licences", response={200: list[LicenceOut], **ERROR_RESPONSES}, summary="Software licences"
)
@paginate(Paginated)
def list_licences(
    request: HttpRequest,
    organization: ObjectId | None = None,
    publisher: str | None = None,
    product: str | None = None,
    metric: LicenceMetric | None = None,
):  # type: ignore[no-untyped-def]
    return selectors.filter_licences(
        selectors.licences_for_user(request.auth),
        organization=organization,
        publisher=(publisher or "")[:200] or None,
        product=(product or "")[:200] or None,
        metric=metric,
    )


@router.post("/licences", response={201: LicenceOut, **ERROR_RESPONSES}, summary="Record a licence")
def create_licence(request: HttpRequest, payload: LicenceIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    licence = actions.create_licence(
        acting_user=user, organization=org, **payload.dict(exclude={"organization_id"})
    )
    return Status(201, licence)


@router.get("/licences/{licence_id}", response={200: LicenceOut, **ERROR_RESPONSES})
def get_licence(request: HttpRequest, licence_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_licence(request.auth, licence_id)


@router.patch("/licences/{licence_id}", response={200: LicenceOut, **ERROR_RESPONSES})
def update_licence(request: HttpRequest, licence_id: int, payload: LicencePatch):  # type: ignore[no-untyped-def]
    user = request.auth
    licence = selectors.access_licence(user, licence_id)
    changes = payload.dict(exclude_unset=True)
    for field in ("product", "publisher", "metric", "entitlements", "currency"):
        if field in changes and changes[field] is None:
            raise FieldError({field: "This field cannot be null."})
    for field in ("contract_reference", "notes"):
        if field in changes and changes[field] is None:
            changes[field] = ""
    return actions.update_licence(acting_user=user, licence=licence, **changes)


@router.delete("/licences/{licence_id}", response={204: None, **ERROR_RESPONSES})
def delete_licence(request: HttpRequest, licence_id: int):  # type: ignore[no-untyped-def]
    licence = selectors.access_licence(request.auth, licence_id)
    actions.delete_licence(acting_user=request.auth, licence=licence)
    return Status(204, None)


@router.get(
    "/licence-positions",
    response={200: list[PositionOut], **ERROR_RESPONSES},
    summary="Compliance position per product: entitlements against discovered consumption",
)
@paginate(Paginated)
def licence_positions(
    request: HttpRequest,
    organization: ObjectId | None = None,
    status: Literal["compliant", "under_licensed", "over_licensed"] | None = None,
):  # type: ignore[no-untyped-def]
    user = request.auth
    licences = selectors.licences_for_user(user)
    installations = selectors.installations_for_user(user)
    if organization is not None:
        licences = licences.filter(organization_id=organization)
    rows = licensing.positions(licences, installations)
    if status:
        rows = [r for r in rows if r.status == status]
    return rows


@router.get(
    "/unlicensed-software",
    response={200: list[UnlicensedOut], **ERROR_RESPONSES},
    summary="Products discovery found installed for which no licence is held",
)
@paginate(Paginated)
def unlicensed_software(request: HttpRequest, organization: ObjectId | None = None):  # type: ignore[no-untyped-def]
    user = request.auth
    installations = selectors.installations_for_user(user)
    if organization is not None:
        installations = installations.filter(organization_id=organization)
    return licensing.unlicensed(selectors.licences_for_user(user), installations)


# --- installations -----------------------------------------------------------------------------


@router.get(
    "/installations",
    response={200: list[InstallationOut], **ERROR_RESPONSES},
    summary="Software found on CIs by discovery",
)
@paginate(Paginated)
def list_installations(
    request: HttpRequest,
    organization: ObjectId | None = None,
    publisher: str | None = None,
    product: str | None = None,
    ci: ObjectId | None = None,
):  # type: ignore[no-untyped-def]
    return selectors.filter_installations(
        selectors.installations_for_user(request.auth),
        organization=organization,
        publisher=(publisher or "")[:200] or None,
        product=(product or "")[:200] or None,
        ci=ci,
    )


@router.post(
    "/installations",
    response={200: InstallationOut, 201: InstallationOut, **ERROR_RESPONSES},
    summary="Push an installation found by discovery (201 new, 200 already known: updated)",
)
def record_installation(request: HttpRequest, payload: InstallationIn):  # type: ignore[no-untyped-def]
    user = request.auth
    ci = access_ci(user, payload.ci_id)
    installation, created = actions.record_installation(
        acting_user=user,
        ci=ci,
        publisher=payload.publisher,
        product=payload.product,
        version=payload.version,
        user=_user_in(user, ci.organization_id, payload.user_id, "user_id"),
        source=payload.source,
    )
    found = selectors.access_installation(user, installation.pk)
    return Status(201 if created else 200, found)


@router.delete("/installations/{installation_id}", response={204: None, **ERROR_RESPONSES})
def remove_installation(request: HttpRequest, installation_id: int):  # type: ignore[no-untyped-def]
    installation = selectors.access_installation(request.auth, installation_id)
    actions.remove_installation(acting_user=request.auth, installation=installation)
    return Status(204, None)


# --- reports -----------------------------------------------------------------------------------


@router.get(
    "/expiring",
    response={200: list[ExpiringOut], **ERROR_RESPONSES},
    summary="Warranties and licence renewals ending within 30, 60 or 90 days, and expired ones",
)
@paginate(Paginated)
def list_expiring(
    request: HttpRequest,
    organization: ObjectId | None = None,
    days: int = 90,
    kind: Literal["warranty", "renewal"] | None = None,
    include_expired: bool = True,
):  # type: ignore[no-untyped-def]
    if days not in selectors.EXPIRY_WINDOWS:
        windows = ", ".join(map(str, selectors.EXPIRY_WINDOWS))
        raise FieldError({"days": f"Choose a window of {windows} days."})
    items = selectors.expiring(
        request.auth, organization=organization, days=days, include_expired=include_expired
    )
    return [i for i in items if kind is None or i.kind == kind]


@router.get(
    "/cmdb-health",
    response={200: HealthOut, **ERROR_RESPONSES},
    summary="CMDB health: the data-quality rules, their offenders and a score per class",
)
def cmdb_health(request: HttpRequest, organization: ObjectId):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, organization)
    if not has_permission(user, ConfigurationItem, Action.VIEW, org.pk):
        raise PermissionDenied("You may not see the configuration items of this organisation.")
    return health.evaluate(org.pk)
