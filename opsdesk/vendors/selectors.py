"""Reads of vendors, restricted to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.vendors.models import Vendor


def vendors(
    user: Any,
    *,
    organization_id: int | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> QuerySet[Vendor]:
    qs = Vendor.objects.restrict(user, Action.VIEW)
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    if active is not None:
        qs = qs.filter(is_active=active)
    if q:
        qs = qs.filter(name__icontains=q)
    return qs.order_by("name", "pk")


def access_vendor(user: Any, vendor_id: Any, action: str = Action.VIEW) -> Vendor:
    return access(Vendor.objects.restrict(user, action), vendor_id, "vendor")
