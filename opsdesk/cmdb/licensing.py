"""The compliance position of software licences against discovered installations.

Licences and installations are matched by publisher and product, without regard to case.
Licences of the same product and metric add up (a base contract and a true-up). What a
product consumes depends on the metric:

- per device: the distinct CIs the product is installed on;
- per user: the distinct users it is installed for (installations without a user are
  reported, not counted);
- per core: the sum of ``attributes.cpu_cores`` of those CIs (a CI without a core count is
  reported as missing, never guessed);
- subscription: the installations.

Position = entitlements - consumption: negative is a shortfall (under-licensed), positive a
surplus. A surplus within ``HEADROOM`` of the entitlements is normal headroom (compliant);
beyond it the product is over-licensed. ``cost`` on a licence is what that licence costs for
all its entitlements, so an unused entitlement is worth the licences' cost divided by their
entitlements.

Three queries whatever the number of installations: the licences, the installation counts
grouped by product, and the core counts of the CIs of per-core products.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import Lower

from opsdesk.cmdb.choices import LicenceMetric
from opsdesk.cmdb.models import SoftwareInstallation, SoftwareLicence

#: A surplus up to this share of the entitlements is headroom, not over-licensing.
HEADROOM = Decimal("0.10")

COMPLIANT = "compliant"
UNDER = "under_licensed"
OVER = "over_licensed"
STATUS_LABELS = {COMPLIANT: "Compliant", UNDER: "Under-licensed", OVER: "Over-licensed"}

CENT = Decimal("0.01")


@dataclass
class Position:
    organization_id: int
    publisher: str
    product: str
    metric: str
    licence_ids: list[int] = field(default_factory=list)
    licence_numbers: list[str] = field(default_factory=list)
    entitlements: int = 0
    consumption: int = 0
    installations: int = 0
    devices: int = 0
    users: int = 0
    installations_without_user: int = 0
    cis_missing_cores: list[dict[str, Any]] = field(default_factory=list)
    total_cost: Decimal | None = None
    currency: str = ""

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.organization_id, self.publisher.lower(), self.product.lower())

    @property
    def metric_label(self) -> str:
        return LicenceMetric(self.metric).label

    @property
    def position(self) -> int:
        return self.entitlements - self.consumption

    @property
    def shortfall(self) -> int:
        return max(0, -self.position)

    @property
    def unused(self) -> int:
        return max(0, self.position)

    @property
    def status(self) -> str:
        if self.position < 0:
            return UNDER
        if self.position > HEADROOM * self.entitlements:
            return OVER
        return COMPLIANT

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def cost_per_entitlement(self) -> Decimal | None:
        if self.total_cost is None or not self.entitlements:
            return None
        return (self.total_cost / self.entitlements).quantize(CENT, ROUND_HALF_UP)

    @property
    def unused_cost(self) -> Decimal | None:
        if self.total_cost is None or not self.entitlements:
            return None
        return (self.total_cost * self.unused / self.entitlements).quantize(CENT, ROUND_HALF_UP)

    @property
    def shortfall_cost(self) -> Decimal | None:
        """What buying the missing entitlements would cost at the current unit price."""
        if self.total_cost is None or not self.entitlements:
            return None
        return (self.total_cost * self.shortfall / self.entitlements).quantize(CENT, ROUND_HALF_UP)

    @property
    def consumption_complete(self) -> bool:
        """False when some consumption could not be measured (missing cores or users)."""
        return not self.cis_missing_cores and not (
            self.metric == LicenceMetric.PER_USER and self.installations_without_user
        )


def _consumption(pos: Position, counts: dict[str, int], cores: int) -> int:
    if pos.metric == LicenceMetric.PER_DEVICE:
        return counts["devices"]
    if pos.metric == LicenceMetric.PER_USER:
        return counts["users"]
    if pos.metric == LicenceMetric.PER_CORE:
        return cores
    return counts["installations"]


def positions(
    licences: QuerySet[SoftwareLicence], installations: QuerySet[SoftwareInstallation]
) -> list[Position]:
    """One position per organisation, product and metric of `licences`, measured against
    `installations` (both already restricted to what the caller may see)."""
    by_key: dict[tuple[int, str, str, str], Position] = {}
    currencies: dict[tuple, set[str]] = defaultdict(set)
    for lic in licences.order_by("organization_id", "publisher", "product", "pk"):
        key = (lic.organization_id, lic.publisher.lower(), lic.product.lower(), lic.metric)
        pos = by_key.get(key)
        if pos is None:
            pos = by_key[key] = Position(
                lic.organization_id, lic.publisher, lic.product, lic.metric
            )
        pos.licence_ids.append(lic.pk)
        pos.licence_numbers.append(lic.number)
        pos.entitlements += lic.entitlements
        if lic.cost is not None:
            pos.total_cost = (pos.total_cost or Decimal(0)) + lic.cost
            currencies[key].add(lic.currency)
    if not by_key:
        return []
    for key, pos in by_key.items():
        found = currencies.get(key, set())
        pos.currency = next(iter(found)) if len(found) == 1 else ""
        if len(found) > 1:  # adding dollars to euros would be a lie
            pos.total_cost = None

    org_ids = {k[0] for k in by_key}
    products = {(k[1], k[2]) for k in by_key}
    matching = installations.filter(organization_id__in=org_ids).annotate(
        pub_l=Lower("publisher"), prod_l=Lower("product")
    )
    product_filter = Q()
    for publisher, product in products:
        product_filter |= Q(pub_l=publisher, prod_l=product)
    matching = matching.filter(product_filter)

    counts: dict[tuple[int, str, str], dict[str, int]] = defaultdict(
        lambda: {"installations": 0, "devices": 0, "users": 0, "without_user": 0}
    )
    for row in (
        matching.order_by()
        .values("organization_id", "pub_l", "prod_l")
        .annotate(
            installations=Count("pk"),
            devices=Count("ci", distinct=True),
            users=Count("user", distinct=True),
            without_user=Count("pk", filter=Q(user__isnull=True)),
        )
    ):
        counts[(row["organization_id"], row["pub_l"], row["prod_l"])] = row

    core_keys = {k[:3] for k, p in by_key.items() if p.metric == LicenceMetric.PER_CORE}
    cores: dict[tuple[int, str, str], int] = defaultdict(int)
    missing: dict[tuple[int, str, str], list[dict[str, Any]]] = defaultdict(list)
    if core_keys:
        core_filter = Q()
        for org_id, publisher, product in core_keys:
            core_filter |= Q(organization_id=org_id, pub_l=publisher, prod_l=product)
        rows = (
            matching.filter(core_filter)
            .order_by("ci__name")
            .values_list(
                "organization_id", "pub_l", "prod_l", "ci_id", "ci__name", "ci__attributes"
            )
        )
        seen: set[tuple] = set()
        for org_id, pub, prod, ci_id, ci_name, attributes in rows:
            key3 = (org_id, pub, prod)
            if (key3, ci_id) in seen:
                continue
            seen.add((key3, ci_id))
            value = (attributes or {}).get("cpu_cores") if isinstance(attributes, dict) else None
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                cores[key3] += value
            else:
                missing[key3].append({"id": ci_id, "name": ci_name})

    result = []
    for key, pos in by_key.items():
        key3 = key[:3]
        row = counts.get(key3, {"installations": 0, "devices": 0, "users": 0, "without_user": 0})
        pos.installations = row["installations"]
        pos.devices = row["devices"]
        pos.users = row["users"]
        pos.installations_without_user = row["without_user"]
        if pos.metric == LicenceMetric.PER_CORE:
            pos.cis_missing_cores = missing.get(key3, [])
        pos.consumption = _consumption(pos, row, cores.get(key3, 0))
        result.append(pos)
    result.sort(key=lambda p: (p.organization_id, p.publisher.lower(), p.product.lower(), p.metric))
    return result


def summary(rows: list[Position]) -> dict[str, Any]:
    """Counts per status and the money tied up in unused entitlements, per currency."""
    by_status = {s: 0 for s in STATUS_LABELS}
    unused_cost: dict[str, Decimal] = defaultdict(Decimal)
    for pos in rows:
        by_status[pos.status] += 1
        if pos.unused_cost is not None and pos.currency:
            unused_cost[pos.currency] += pos.unused_cost
    return {
        "products": len(rows),
        "by_status": by_status,
        "unused_cost": dict(sorted(unused_cost.items())),
        "shortfall_units": sum(p.shortfall for p in rows),
        "unused_units": sum(p.unused for p in rows),
    }


@dataclass
class Unlicensed:
    """A product discovery found installed for which the organisation holds no licence."""

    organization_id: int
    publisher: str
    product: str
    installations: int
    devices: int


def unlicensed(
    licences: QuerySet[SoftwareLicence], installations: QuerySet[SoftwareInstallation]
) -> list[Unlicensed]:
    """Installed products with no licence of any metric, most devices first (two queries)."""
    licensed = set(
        licences.order_by()
        .annotate(pub_l=Lower("publisher"), prod_l=Lower("product"))
        .values_list("organization_id", "pub_l", "prod_l")
    )
    rows = (
        installations.order_by()
        .annotate(pub_l=Lower("publisher"), prod_l=Lower("product"))
        .values("organization_id", "pub_l", "prod_l")
        .annotate(
            installations=Count("pk"),
            devices=Count("ci", distinct=True),
            publisher_name=Min("publisher"),
            product_name=Min("product"),
        )
    )
    found = [
        Unlicensed(
            row["organization_id"],
            row["publisher_name"],
            row["product_name"],
            row["installations"],
            row["devices"],
        )
        for row in rows
        if (row["organization_id"], row["pub_l"], row["prod_l"]) not in licensed
    ]
    found.sort(key=lambda u: (-u.devices, u.publisher.lower(), u.product.lower()))
    return found
