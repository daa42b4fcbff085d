"""Every write on vendors: atomic, permission-checked, validated and audited (`acting_as`)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.vendors.models import Vendor

VENDOR_FIELDS = ("name", "website", "email", "phone", "country", "notes", "is_active")


def _check(vendor: Vendor) -> None:
    errors: dict[str, str] = {}
    vendor.name = (vendor.name or "").strip()
    if not vendor.name:
        errors["name"] = "A name is required."
    country = (vendor.country or "").strip().upper()
    if country and (len(country) != 2 or not country.isalpha()):
        errors["country"] = "A two-letter ISO country code, e.g. ZA."
    vendor.country = country
    if errors:
        raise FieldError(errors)


@transaction.atomic
def create_vendor(
    *, acting_user: Any, organization: Organization, name: str, **fields: Any
) -> Vendor:
    require(acting_user, Vendor, Action.ADD, organization.pk)
    unknown = sorted(set(fields) - set(VENDOR_FIELDS))
    if unknown:
        raise FieldError({n: "Unknown field." for n in unknown})
    vendor = Vendor(organization=organization, name=name, **fields)
    _check(vendor)
    if Vendor.objects.filter(organization=organization, name__iexact=vendor.name).exists():
        raise FieldError({"name": "This organisation already has a vendor of this name."})
    with acting_as(acting_user):
        return save_validated(vendor)


@transaction.atomic
def update_vendor(*, acting_user: Any, vendor: Vendor, **changes: Any) -> Vendor:
    require(acting_user, Vendor, Action.CHANGE, vendor.organization_id)
    unknown = sorted(set(changes) - set(VENDOR_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed." for n in unknown})
    for name, value in changes.items():
        setattr(vendor, name, value)
    _check(vendor)
    if (
        "name" in changes
        and Vendor.objects.filter(organization_id=vendor.organization_id, name__iexact=vendor.name)
        .exclude(pk=vendor.pk)
        .exists()
    ):
        raise FieldError({"name": "This organisation already has a vendor of this name."})
    with acting_as(acting_user):
        return save_validated(vendor)


@transaction.atomic
def delete_vendor(*, acting_user: Any, vendor: Vendor) -> None:
    """Remove a vendor no underpinning contract names (else 409: deactivate it instead)."""
    require(acting_user, Vendor, Action.DELETE, vendor.organization_id)
    from opsdesk.sla.models import Definition

    names = list(Definition.objects.filter(vendor=vendor).values_list("name", flat=True)[:5])
    if names:
        raise Conflict(
            f"{vendor.name} is named by {', '.join(names)}: deactivate it instead.", field="vendor"
        )
    try:
        with acting_as(acting_user):
            vendor.delete()
    except ProtectedError as exc:
        raise Conflict(f"{vendor.name} is still in use.", field="vendor") from exc
