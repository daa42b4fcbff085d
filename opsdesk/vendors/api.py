"""API routes: vendors, the suppliers that underpinning contracts (UCs) name."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.vendors import actions, selectors
from opsdesk.vendors.models import Vendor
from opsdesk.vendors.schemas import VendorFilterIn, VendorIn, VendorOut, VendorPatch

router = Router(tags=["Vendors"])

TEXT_FIELDS = ("website", "email", "phone", "country", "notes")


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    for name in TEXT_FIELDS:
        if name in data and data[name] is None:
            data[name] = ""
    for name in ("name", "is_active"):
        if name in data and data[name] is None:
            raise FieldError({name: "Cannot be null."})
    return data


@router.get(
    "/vendors",
    response={200: list[VendorOut], **ERROR_RESPONSES},
    summary="Vendors (suppliers), filtered by organisation, active, words of the name",
)
@paginate(Paginated)
def list_vendors(request: HttpRequest, filters: Query[VendorFilterIn]):  # type: ignore[no-untyped-def]
    return selectors.vendors(
        request.auth, organization_id=filters.organization, active=filters.active, q=filters.q
    )


@router.post("/vendors", response={201: VendorOut, **ERROR_RESPONSES}, summary="Add a vendor")
def create_vendor(request: HttpRequest, payload: VendorIn):  # type: ignore[no-untyped-def]
    user = request.auth
    data = _clean(payload.dict(exclude_unset=True))
    org = access_organization(user, data.pop("organization_id"))
    require(user, Vendor, Action.ADD, org.pk)
    name = data.pop("name")
    return Status(201, actions.create_vendor(acting_user=user, organization=org, name=name, **data))


@router.get("/vendors/{vendor_id}", response={200: VendorOut, **ERROR_RESPONSES})
def get_vendor(request: HttpRequest, vendor_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_vendor(request.auth, vendor_id)


@router.patch(
    "/vendors/{vendor_id}",
    response={200: VendorOut, **ERROR_RESPONSES},
    summary="Change a vendor's name, contacts, country, notes or whether it is active",
)
def update_vendor(request: HttpRequest, vendor_id: int, payload: VendorPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    vendor = selectors.access_vendor(user, vendor_id)
    data = _clean(payload.dict(exclude_unset=True))
    return actions.update_vendor(acting_user=user, vendor=vendor, **data)


@router.delete(
    "/vendors/{vendor_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Remove a vendor that no underpinning contract names (409 otherwise)",
)
def delete_vendor(request: HttpRequest, vendor_id: int):  # type: ignore[no-untyped-def]
    vendor = selectors.access_vendor(request.auth, vendor_id)
    actions.delete_vendor(acting_user=request.auth, vendor=vendor)
    return Status(204, None)
