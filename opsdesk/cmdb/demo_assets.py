"""Demo hardware assets, software licences and installations for one organisation.

Called by the CMDB demo loader with the servers and end-user devices it created. Idempotent:
assets are found again by serial number, licences by publisher + product + contract
reference, installations by CI + product, so running it twice adds nothing. Deterministic:
every "random" choice comes from a generator seeded with the organisation's slug.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from opsdesk.accounts.models import Membership, User
from opsdesk.cmdb import asset_actions as actions
from opsdesk.cmdb.models import (
    ConfigurationItem,
    HardwareAsset,
    SoftwareInstallation,
    SoftwareLicence,
)
from opsdesk.core.models import Organization

#: (vendor, model, serial prefix, cost)
SERVER_MODELS = [
    ("Dell", "PowerEdge R750", "DL", Decimal("14200.00")),
    ("Dell", "PowerEdge R650", "DL", Decimal("9800.00")),
    ("HPE", "ProLiant DL380 Gen10 Plus", "CZJ", Decimal("12650.00")),
    ("HPE", "ProLiant DL360 Gen11", "CZJ", Decimal("10900.00")),
    ("Lenovo", "ThinkSystem SR650 V2", "J30", Decimal("11400.00")),
]
DEVICE_MODELS = [
    ("Lenovo", "ThinkPad T14 Gen 4", "PF", Decimal("1450.00")),
    ("Lenovo", "ThinkPad X1 Carbon Gen 11", "PF", Decimal("2150.00")),
    ("Dell", "Latitude 7440", "DL", Decimal("1620.00")),
    ("HPE", "EliteBook 840 G10", "5CG", Decimal("1580.00")),
]
NETWORK_GEAR = [
    ("Cisco", "Catalyst 9300-48P", "FCW", Decimal("8900.00"), "Core switch"),
    ("Cisco", "Catalyst 9200L-24P", "FCW", Decimal("3100.00"), "Access switch"),
    ("Cisco", "ISR 4331", "FDO", Decimal("4200.00"), "Branch router"),
    ("Cisco", "Firepower 2130", "JAD", Decimal("21500.00"), "Perimeter firewall"),
]

#: (publisher, product, metric, installed on ("servers"|"devices"|share), entitlement ratio,
#:  cost per entitlement, renewal in days) — ratio < 1 makes the product under-licensed.
LICENCES = [
    ("Microsoft", "Microsoft 365 E3", "per_user", "devices", 1.3, Decimal("432.00"), 75),
    (
        "Microsoft",
        "Windows Server 2022 Datacenter",
        "per_core",
        "windows",
        0.8,
        Decimal("385.00"),
        200,
    ),
    ("Red Hat", "Red Hat Enterprise Linux", "subscription", "linux", 1.05, Decimal("799.00"), 28),
    (
        "Oracle",
        "Oracle Database Enterprise Edition",
        "per_core",
        "oracle",
        0.5,
        Decimal("23750.00"),
        340,
    ),
    ("Adobe", "Acrobat Pro", "per_user", "some_devices", 2.0, Decimal("239.88"), 55),
    ("VMware", "vSphere Enterprise Plus", "per_core", "hypervisors", 1.0, Decimal("350.00"), 14),
]


def _rng(seed: str) -> random.Random:
    """Demo data only: a seeded generator so that every run makes the same data."""
    return random.Random(seed)  # noqa: S311


def _serial(rng: random.Random, prefix: str) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(10 - len(prefix)))


def _warranty(rng: random.Random, today: date, i: int) -> date:
    """Spread warranty ends so that some fall within 30, 60 and 90 days and a few passed."""
    offsets = [12, 41, 77, -20, 400, 700, 900, 250, 1100, 500]
    return today + timedelta(days=offsets[i % len(offsets)] + rng.randint(0, 6))


def load_assets_demo(
    *,
    organization: Organization,
    acting_user: Any,
    servers: list[ConfigurationItem],
    end_user_devices: list[ConfigurationItem],
) -> None:
    rng = _rng(f"assets-{organization.slug}")
    today = timezone.localdate()
    members = list(
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .order_by("user__email")
        .values_list("user", flat=True)
    )
    users = list(User.objects.filter(pk__in=members).order_by("email"))
    known_serials = set(
        HardwareAsset.objects.filter(organization=organization).values_list(
            "serial_number", flat=True
        )
    )

    def make(name: str, vendor: str, model: str, prefix: str, cost: Decimal, i: int, **extra: Any):
        serial = extra.pop("serial", None) or _serial(rng, prefix)
        purchase = today - timedelta(days=rng.randint(200, 1500))
        warranty = _warranty(rng, today, i)
        if serial in known_serials:
            return
        known_serials.add(serial)
        actions.create_asset(
            acting_user=acting_user,
            organization=organization,
            name=name,
            vendor=vendor,
            model=model,
            serial_number=serial,
            purchase_date=purchase,
            warranty_end=max(warranty, purchase + timedelta(days=30)),
            cost=cost,
            currency="USD",
            **extra,
        )

    # Physical servers: one asset per server CI that is not virtual.
    for i, server in enumerate(servers):
        if (server.attributes or {}).get("virtual"):
            continue
        vendor, model, prefix, cost = SERVER_MODELS[i % len(SERVER_MODELS)]
        serial = (server.attributes or {}).get("serial_number") or None
        make(
            server.name,
            vendor,
            model,
            prefix,
            cost,
            i,
            ci=server,
            serial=serial,
            location=server.location,
            country=server.country,
        )
    # Laptops for the end-user devices, assigned to members in turn.
    for i, device in enumerate(end_user_devices):
        vendor, model, prefix, cost = DEVICE_MODELS[i % len(DEVICE_MODELS)]
        serial = (device.attributes or {}).get("serial_number") or None
        make(
            device.name,
            vendor,
            model,
            prefix,
            cost,
            i + 3,
            ci=device,
            serial=serial,
            assigned_user=users[i % len(users)] if users else None,
            location=device.location,
            country=device.country,
        )
    # Network gear and spares without a CI, in various lifecycle states.
    for i, (vendor, model, prefix, cost, role) in enumerate(NETWORK_GEAR):
        make(f"{role} {i + 1:02d}", vendor, model, prefix, cost, i + 1)
    spare_serial = _serial(_rng(f"spare-{organization.slug}"), "PF")
    make(
        "Spare laptop",
        "Lenovo",
        "ThinkPad T14 Gen 4",
        "PF",
        Decimal("1450.00"),
        5,
        serial=spare_serial,
        lifecycle="in_stock",
    )
    ordered_serial = _serial(_rng(f"ordered-{organization.slug}"), "DL")
    make(
        "Replacement DB host",
        "Dell",
        "PowerEdge R760",
        "DL",
        Decimal("16800.00"),
        4,
        serial=ordered_serial,
        lifecycle="ordered",
    )
    _retired_and_disposed(organization, acting_user, today)
    _licences(organization, acting_user, servers, end_user_devices, users, rng, today)


def _retired_and_disposed(organization: Organization, acting_user: Any, today: date) -> None:
    serial = _serial(_rng(f"old-{organization.slug}"), "CZJ")
    if HardwareAsset.objects.filter(organization=organization, serial_number=serial).exists():
        return
    old = actions.create_asset(
        acting_user=acting_user,
        organization=organization,
        name="Old file server",
        vendor="HPE",
        model="ProLiant DL380 Gen9",
        serial_number=serial,
        purchase_date=today - timedelta(days=2900),
        warranty_end=today - timedelta(days=1100),
        cost=Decimal("8700.00"),
        lifecycle="in_stock",
    )
    old = actions.change_asset_lifecycle(acting_user=acting_user, asset=old, lifecycle="retired")
    actions.change_asset_lifecycle(
        acting_user=acting_user,
        asset=old,
        lifecycle="disposed",
        disposed_on=today - timedelta(days=30),
        disposal_method="Certified recycling (WEEE)",
        disposal_reference=f"WEEE-{organization.pk:03d}-0192",
    )


def _cores(ci: ConfigurationItem) -> int:
    value = (ci.attributes or {}).get("cpu_cores")
    return value if isinstance(value, int) and value > 0 else 0


def _licences(
    organization: Organization,
    acting_user: Any,
    servers: list[ConfigurationItem],
    devices: list[ConfigurationItem],
    users: list[Any],
    rng: random.Random,
    today: date,
) -> None:
    def os_of(ci: ConfigurationItem) -> str:
        return str((ci.attributes or {}).get("os", "")).lower()

    windows = [s for s in servers if "windows" in os_of(s)] or servers[::3]
    linux = [s for s in servers if s not in windows]
    groups = {
        "devices": devices,
        "some_devices": devices[::3],
        "windows": windows,
        "linux": linux,
        "oracle": linux[:2],
        "hypervisors": [s for s in servers if not (s.attributes or {}).get("virtual")][:4],
    }
    existing = {
        (lic.publisher, lic.product, lic.contract_reference)
        for lic in SoftwareLicence.objects.filter(organization=organization)
    }
    for n, (publisher, product, metric, group, ratio, unit, renewal) in enumerate(LICENCES):
        cis = groups[group]
        if not cis:
            continue
        for i, target in enumerate(cis):
            user = users[i % len(users)] if metric == "per_user" and users else None
            if not SoftwareInstallation.objects.filter(
                ci=target, publisher__iexact=publisher, product__iexact=product
            ).exists():
                actions.record_installation(
                    acting_user=acting_user,
                    ci=target,
                    publisher=publisher,
                    product=product,
                    version=rng.choice(["", "2023", "2024", "9.4", "19c"]),
                    user=user,
                    source="demo-discovery",
                )
        if metric == "per_core":
            consumption = sum(_cores(c) for c in cis) or len(cis) * 8
        elif metric == "per_user":
            consumption = len({users[i % len(users)].pk for i in range(len(cis))}) if users else 0
        else:
            consumption = len(cis)
        entitlements = max(1, round(consumption * ratio))
        reference = f"DEMO-{organization.slug[:10].upper()}-{n + 1:02d}"
        if (publisher, product, reference) in existing:
            continue
        actions.create_licence(
            acting_user=acting_user,
            organization=organization,
            publisher=publisher,
            product=product,
            metric=metric,
            entitlements=entitlements,
            cost=(unit * entitlements).quantize(Decimal("0.01")),
            currency="USD",
            renewal_date=today + timedelta(days=renewal),
            contract_reference=reference,
        )
    # Software discovery found that nobody bought: shown as "installed without any licence".
    for publisher, product, targets in (
        ("win.rar GmbH", "WinRAR", devices[1::4]),
        ("Tableau", "Tableau Desktop", devices[2::9]),
    ):
        for target in targets:
            if not SoftwareInstallation.objects.filter(
                ci=target, publisher__iexact=publisher, product__iexact=product
            ).exists():
                actions.record_installation(
                    acting_user=acting_user,
                    ci=target,
                    publisher=publisher,
                    product=product,
                    source="demo-discovery",
                )
