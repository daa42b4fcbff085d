"""Reads of assets, licences and installations, always restricted to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from opsdesk.cmdb.asset_workflows import OUT_OF_SERVICE
from opsdesk.cmdb.models import HardwareAsset, SoftwareInstallation, SoftwareLicence
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access

#: The windows of the expiring report, in days.
EXPIRY_WINDOWS = (30, 60, 90)


def assets_for_user(user: Any, action: str = Action.VIEW) -> QuerySet[HardwareAsset]:
    return HardwareAsset.objects.restrict(user, action).select_related(
        "ci__ci_class", "assigned_user", "organization"
    )


def access_asset(user: Any, asset_id: int, action: str = Action.VIEW) -> HardwareAsset:
    return access(assets_for_user(user, action), asset_id, "hardware asset")


def filter_assets(
    qs: QuerySet[HardwareAsset],
    *,
    organization: int | None = None,
    lifecycle: str | None = None,
    vendor: str | None = None,
    assigned_user: int | None = None,
    ci: int | None = None,
    q: str | None = None,
    warranty_before: date | None = None,
) -> QuerySet[HardwareAsset]:
    """The same filter words for the asset list page and ``GET /api/v1/assets``."""
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if lifecycle:
        qs = qs.filter(lifecycle=lifecycle)
    if vendor:
        qs = qs.filter(vendor__iexact=vendor)
    if assigned_user is not None:
        qs = qs.filter(assigned_user_id=assigned_user)
    if ci is not None:
        qs = qs.filter(ci_id=ci)
    if q:
        qs = qs.filter(
            Q(name__icontains=q)
            | Q(serial_number__icontains=q)
            | Q(model__icontains=q)
            | Q(number__iexact=q)
        )
    if warranty_before is not None:
        qs = qs.filter(warranty_end__lte=warranty_before)
    return qs


def licences_for_user(user: Any, action: str = Action.VIEW) -> QuerySet[SoftwareLicence]:
    return SoftwareLicence.objects.restrict(user, action).select_related("organization")


def access_licence(user: Any, licence_id: int, action: str = Action.VIEW) -> SoftwareLicence:
    return access(licences_for_user(user, action), licence_id, "software licence")


def filter_licences(
    qs: QuerySet[SoftwareLicence],
    *,
    organization: int | None = None,
    publisher: str | None = None,
    product: str | None = None,
    metric: str | None = None,
) -> QuerySet[SoftwareLicence]:
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if publisher:
        qs = qs.filter(publisher__iexact=publisher)
    if product:
        qs = qs.filter(product__iexact=product)
    if metric:
        qs = qs.filter(metric=metric)
    return qs


def installations_for_user(user: Any, action: str = Action.VIEW) -> QuerySet[SoftwareInstallation]:
    return (
        SoftwareInstallation.objects.restrict(user, action)
        .select_related("ci", "user")
        .order_by("publisher", "product", "ci__name", "pk")
    )


def access_installation(
    user: Any, installation_id: int, action: str = Action.VIEW
) -> SoftwareInstallation:
    return access(installations_for_user(user, action), installation_id, "software installation")


def filter_installations(
    qs: QuerySet[SoftwareInstallation],
    *,
    organization: int | None = None,
    publisher: str | None = None,
    product: str | None = None,
    ci: int | None = None,
) -> QuerySet[SoftwareInstallation]:
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if publisher:
        qs = qs.filter(publisher__iexact=publisher)
    if product:
        qs = qs.filter(product__iexact=product)
    if ci is not None:
        qs = qs.filter(ci_id=ci)
    return qs


# --- Expiring warranties and renewals ----------------------------------------------------------


@dataclass(frozen=True)
class ExpiringItem:
    kind: str  # "warranty" or "renewal"
    id: int
    organization_id: int
    number: str
    name: str
    detail: str
    ends_on: date
    days_left: int
    cost: Any
    currency: str
    url: str

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    @property
    def days_overdue(self) -> int:
        return max(0, -self.days_left)

    @property
    def window(self) -> str:
        """ "expired", or the smallest window (30, 60, 90) the end falls in."""
        if self.days_left < 0:
            return "expired"
        return str(next(w for w in EXPIRY_WINDOWS if self.days_left <= w))


def expiring(
    user: Any,
    *,
    organization: int | None = None,
    days: int = 90,
    today: date | None = None,
    include_expired: bool = True,
) -> list[ExpiringItem]:
    """Warranties of assets in service and licence renewals ending within `days` (and, unless
    told otherwise, those already past), soonest first. Two queries."""
    today = today or timezone.localdate()
    horizon = today + timedelta(days=days)
    assets = assets_for_user(user).exclude(lifecycle__in=OUT_OF_SERVICE)
    assets = assets.filter(warranty_end__isnull=False, warranty_end__lte=horizon)
    licences = licences_for_user(user).filter(renewal_date__isnull=False, renewal_date__lte=horizon)
    if not include_expired:
        assets = assets.filter(warranty_end__gte=today)
        licences = licences.filter(renewal_date__gte=today)
    if organization is not None:
        assets = assets.filter(organization_id=organization)
        licences = licences.filter(organization_id=organization)
    items = [
        ExpiringItem(
            "warranty",
            a.pk,
            a.organization_id,
            a.number,
            a.name,
            " ".join(v for v in (a.vendor, a.model) if v),
            a.warranty_end,
            (a.warranty_end - today).days,
            a.cost,
            a.currency,
            f"/cmdb/assets/{a.pk}/",
        )
        for a in assets.select_related(None)
        .only(
            "pk",
            "organization_id",
            "number",
            "name",
            "vendor",
            "model",
            "warranty_end",
            "cost",
            "currency",
        )
        .order_by()
    ]
    items += [
        ExpiringItem(
            "renewal",
            lic.pk,
            lic.organization_id,
            lic.number,
            f"{lic.publisher} {lic.product}",
            lic.get_metric_display(),
            lic.renewal_date,
            (lic.renewal_date - today).days,
            lic.cost,
            lic.currency,
            f"/cmdb/licences/{lic.pk}/",
        )
        for lic in licences.select_related(None)
        .only(
            "pk",
            "organization_id",
            "number",
            "publisher",
            "product",
            "metric",
            "renewal_date",
            "cost",
            "currency",
        )
        .order_by()
    ]
    items.sort(key=lambda i: (i.ends_on, i.kind, i.number))
    return items
