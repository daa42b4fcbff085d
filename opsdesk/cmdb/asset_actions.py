"""Every write on hardware assets, software licences and discovered installations."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership
from opsdesk.cmdb import asset_workflows as wf
from opsdesk.cmdb.choices import AssetLifecycle, LicenceMetric
from opsdesk.cmdb.models import (
    ConfigurationItem,
    HardwareAsset,
    SoftwareInstallation,
    SoftwareLicence,
)
from opsdesk.core.actions import apply_changes, require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.countries import COUNTRY_CODES
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action

#: Fields `update_asset` may change; the lifecycle and the disposal record change only
#: through `change_asset_lifecycle`.
ASSET_FIELDS = (
    "name",
    "serial_number",
    "model",
    "vendor",
    "purchase_date",
    "cost",
    "currency",
    "warranty_end",
    "assigned_user",
    "location",
    "country",
    "notes",
    "ci",
)
DISPOSAL_FIELDS = ("disposed_on", "disposal_method", "disposal_reference")
LICENCE_FIELDS = (
    "product",
    "publisher",
    "metric",
    "entitlements",
    "cost",
    "currency",
    "renewal_date",
    "contract_reference",
    "notes",
)
CURRENCY = re.compile(r"^[A-Z]{3}$")


# --- checks shared by assets and licences ------------------------------------------------------


def _check_money(obj: Any, errors: dict[str, str]) -> None:
    cost = obj.cost
    if cost is not None and Decimal(cost) < 0:
        errors["cost"] = "A cost cannot be negative."
    if not CURRENCY.match(obj.currency or ""):
        errors["currency"] = "An ISO 4217 currency code of three capital letters, e.g. USD."


def _check_asset(asset: HardwareAsset) -> None:
    errors: dict[str, str] = {}
    if not (asset.name or "").strip():
        errors["name"] = "A name is required."
    _check_money(asset, errors)
    if asset.country and asset.country not in COUNTRY_CODES:
        errors["country"] = f"{asset.country!r} is not an ISO 3166-1 alpha-2 country code."
    if asset.purchase_date and asset.warranty_end and asset.warranty_end < asset.purchase_date:
        errors["warranty_end"] = "The warranty cannot end before the purchase date."
    if asset.ci_id is not None and asset.ci.organization_id != asset.organization_id:
        errors["ci_id"] = "The configuration item belongs to another organisation."
    if (
        asset.assigned_user_id is not None
        and not Membership.objects.filter(
            organization_id=asset.organization_id, user_id=asset.assigned_user_id
        ).exists()
    ):
        errors["assigned_user_id"] = "The assigned user is not a member of this organisation."
    if errors:
        raise FieldError(errors)


def _refuse_if_read_only(asset: HardwareAsset) -> None:
    if asset.lifecycle in wf.READ_ONLY_STATES:
        raise Conflict(
            f"{asset.number} is {asset.get_lifecycle_display().lower()}: it can no longer be "
            "changed.",
            field="lifecycle",
        )


# --- hardware assets ---------------------------------------------------------------------------


@transaction.atomic
def create_asset(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    lifecycle: str = AssetLifecycle.IN_USE,
    ci: ConfigurationItem | None = None,
    **fields: Any,
) -> HardwareAsset:
    require(acting_user, HardwareAsset, Action.ADD, organization.pk)
    if lifecycle not in wf.INITIAL_STATES:
        allowed = ", ".join(s for s in AssetLifecycle.values if s in wf.INITIAL_STATES)
        raise FieldError({"lifecycle": f"A new asset starts in one of: {allowed}."})
    asset = HardwareAsset(organization=organization, name=name, lifecycle=lifecycle, ci=ci)
    apply_changes(asset, fields, ASSET_FIELDS)
    _check_asset(asset)
    with acting_as(acting_user):
        return save_validated(asset)


@transaction.atomic
def update_asset(*, acting_user: Any, asset: HardwareAsset, **changes: Any) -> HardwareAsset:
    require(acting_user, HardwareAsset, Action.CHANGE, asset.organization_id)
    asset = HardwareAsset.objects.select_for_update().get(pk=asset.pk)
    _refuse_if_read_only(asset)
    if "lifecycle" in changes:
        raise FieldError({"lifecycle": "Change the lifecycle with a lifecycle transition."})
    if any(f in changes for f in DISPOSAL_FIELDS):
        field = next(f for f in DISPOSAL_FIELDS if f in changes)
        raise FieldError({field: "The disposal record is written when the asset is disposed."})
    apply_changes(asset, changes, ASSET_FIELDS)
    _check_asset(asset)
    with acting_as(acting_user):
        return save_validated(asset)


@transaction.atomic
def change_asset_lifecycle(
    *,
    acting_user: Any,
    asset: HardwareAsset,
    lifecycle: str,
    disposed_on: date | None = None,
    disposal_method: str = "",
    disposal_reference: str = "",
) -> HardwareAsset:
    """Move an asset along its lifecycle (see `asset_workflows.TRANSITIONS`).

    Disposal needs a disposal record: the date and the method (a certificate or ticket
    reference is kept if given). A disposed asset is final and read-only.
    """
    require(acting_user, HardwareAsset, Action.CHANGE, asset.organization_id)
    asset = HardwareAsset.objects.select_for_update().get(pk=asset.pk)
    if lifecycle not in AssetLifecycle.values:
        raise FieldError({"lifecycle": f"Choose one of: {', '.join(AssetLifecycle.values)}."})
    _refuse_if_read_only(asset)
    if not wf.can_transition(asset.lifecycle, lifecycle):
        allowed = ", ".join(wf.allowed_transitions(asset.lifecycle)) or "none"
        raise FieldError(
            {
                "lifecycle": f"An asset {asset.get_lifecycle_display().lower()} cannot become "
                f"{AssetLifecycle(lifecycle).label.lower()}; allowed: {allowed}."
            }
        )
    record = {
        "disposed_on": disposed_on,
        "disposal_method": (disposal_method or "").strip(),
        "disposal_reference": (disposal_reference or "").strip(),
    }
    missing = {
        f: "Required to dispose of an asset."
        for f in wf.REQUIRED_ON_ENTRY.get(lifecycle, ())
        if not record[f]
    }
    if missing:
        raise FieldError(missing)
    if lifecycle == AssetLifecycle.DISPOSED:
        if disposed_on > timezone.localdate():
            raise FieldError({"disposed_on": "An asset cannot be disposed of in the future."})
        if asset.purchase_date and disposed_on < asset.purchase_date:
            raise FieldError({"disposed_on": "An asset cannot be disposed of before its purchase."})
        asset.disposed_on = disposed_on
        asset.disposal_method = record["disposal_method"]
        asset.disposal_reference = record["disposal_reference"]
        asset.assigned_user = None
    elif any(record.values()):
        field = next(f for f, v in record.items() if v)
        raise FieldError({field: "A disposal record is only written when disposing of an asset."})
    asset.lifecycle = lifecycle
    with acting_as(acting_user):
        return save_validated(asset)


@transaction.atomic
def delete_asset(*, acting_user: Any, asset: HardwareAsset) -> None:
    """Delete an asset recorded by mistake. A disposed asset keeps its disposal record."""
    require(acting_user, HardwareAsset, Action.DELETE, asset.organization_id)
    _refuse_if_read_only(asset)
    with acting_as(acting_user):
        asset.delete()


# --- software licences -------------------------------------------------------------------------


def _check_licence(licence: SoftwareLicence) -> None:
    errors: dict[str, str] = {}
    for field in ("product", "publisher"):
        value = getattr(licence, field)
        if not isinstance(value, str) or not value.strip():
            errors[field] = f"A {field} is required."
        else:
            setattr(licence, field, value.strip())
    if licence.metric not in LicenceMetric.values:
        errors["metric"] = f"Choose one of: {', '.join(LicenceMetric.values)}."
    if not isinstance(licence.entitlements, int) or licence.entitlements < 0:
        errors["entitlements"] = "The number of entitlements is a whole number, 0 or more."
    _check_money(licence, errors)
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_licence(
    *,
    acting_user: Any,
    organization: Organization,
    product: str,
    publisher: str,
    metric: str,
    entitlements: int,
    **fields: Any,
) -> SoftwareLicence:
    require(acting_user, SoftwareLicence, Action.ADD, organization.pk)
    licence = SoftwareLicence(
        organization=organization,
        product=product,
        publisher=publisher,
        metric=metric,
        entitlements=entitlements,
    )
    apply_changes(licence, fields, LICENCE_FIELDS)
    _check_licence(licence)
    with acting_as(acting_user):
        return save_validated(licence)


@transaction.atomic
def update_licence(
    *, acting_user: Any, licence: SoftwareLicence, **changes: Any
) -> SoftwareLicence:
    require(acting_user, SoftwareLicence, Action.CHANGE, licence.organization_id)
    licence = SoftwareLicence.objects.select_for_update().get(pk=licence.pk)
    apply_changes(licence, changes, LICENCE_FIELDS)
    _check_licence(licence)
    with acting_as(acting_user):
        return save_validated(licence)


@transaction.atomic
def delete_licence(*, acting_user: Any, licence: SoftwareLicence) -> None:
    require(acting_user, SoftwareLicence, Action.DELETE, licence.organization_id)
    with acting_as(acting_user):
        licence.delete()


# --- discovered installations ------------------------------------------------------------------


@transaction.atomic
def record_installation(
    *,
    acting_user: Any,
    ci: ConfigurationItem,
    publisher: str,
    product: str,
    version: str = "",
    user: Any = None,
    source: str = "",
) -> tuple[SoftwareInstallation, bool]:
    """Record that discovery found `product` on `ci`; (installation, created).

    Idempotent: the same publisher and product on the same CI (compared without regard to
    case) updates the one installation, its version, user and "last seen".
    """
    publisher, product = (publisher or "").strip(), (product or "").strip()
    errors = {
        f: f"A {f} is required."
        for f, v in (("publisher", publisher), ("product", product))
        if not v
    }
    if errors:
        raise FieldError(errors)
    if (
        user is not None
        and not Membership.objects.filter(
            organization_id=ci.organization_id, user_id=user.pk
        ).exists()
    ):
        raise FieldError({"user_id": "The user is not a member of this organisation."})
    existing = (
        SoftwareInstallation.objects.select_for_update()
        .filter(ci=ci, publisher__iexact=publisher, product__iexact=product)
        .first()
    )
    require(
        acting_user,
        SoftwareInstallation,
        Action.ADD if existing is None else Action.CHANGE,
        ci.organization_id,
    )
    installation = existing or SoftwareInstallation(
        organization_id=ci.organization_id, ci=ci, publisher=publisher, product=product
    )
    installation.version = (version or "").strip()
    installation.user = user
    installation.source = (source or "").strip()
    installation.last_seen = timezone.now()
    with acting_as(acting_user):
        save_validated(installation)
    return installation, existing is None


@transaction.atomic
def remove_installation(*, acting_user: Any, installation: SoftwareInstallation) -> None:
    """Discovery no longer finds the product on the CI (uninstalled)."""
    require(acting_user, SoftwareInstallation, Action.DELETE, installation.organization_id)
    with acting_as(acting_user):
        installation.delete()
