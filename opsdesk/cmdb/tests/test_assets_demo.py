"""The assets demo: believable, covers every report, idempotent."""

from __future__ import annotations

import pytest

from opsdesk.cmdb import licensing
from opsdesk.cmdb.asset_selectors import expiring, installations_for_user, licences_for_user
from opsdesk.cmdb.demo_assets import load_assets_demo
from opsdesk.cmdb.models import HardwareAsset, SoftwareInstallation, SoftwareLicence
from opsdesk.cmdb.tests.factories import ci

pytestmark = pytest.mark.django_db


def _load(cast, servers, devices):
    load_assets_demo(
        organization=cast.org_a, acting_user=cast.admin, servers=servers, end_user_devices=devices
    )


def test_demo_covers_the_reports_and_is_idempotent(cast):
    servers = [
        ci(
            cast.org_a,
            f"srv-{i:02d}",
            attributes={
                "os": "Windows Server 2022" if i % 3 == 0 else "Red Hat Enterprise Linux 9",
                "cpu_cores": 16 if i % 2 else 32,
                "virtual": i >= 8,
            },
        )
        for i in range(12)
    ]
    devices = [ci(cast.org_a, f"LT-{i:03d}", "end_user_device") for i in range(15)]
    _load(cast, servers, devices)
    counts = (
        HardwareAsset.objects.filter(organization=cast.org_a).count(),
        SoftwareLicence.objects.filter(organization=cast.org_a).count(),
        SoftwareInstallation.objects.filter(organization=cast.org_a).count(),
    )
    assert counts[0] >= 8 + 15 + 4 and counts[1] == 6 and counts[2] > 20
    _load(cast, servers, devices)
    assert counts == (
        HardwareAsset.objects.filter(organization=cast.org_a).count(),
        SoftwareLicence.objects.filter(organization=cast.org_a).count(),
        SoftwareInstallation.objects.filter(organization=cast.org_a).count(),
    )
    vendors = set(HardwareAsset.objects.values_list("vendor", flat=True))
    assert {"Dell", "HPE", "Lenovo", "Cisco"} <= vendors
    assert HardwareAsset.objects.filter(lifecycle="disposed").exclude(disposal_method="").exists()

    rows = licensing.positions(licences_for_user(cast.admin), installations_for_user(cast.admin))
    statuses = {p.product: p.status for p in rows}
    assert statuses["Oracle Database Enterprise Edition"] == licensing.UNDER
    assert statuses["Windows Server 2022 Datacenter"] == licensing.UNDER
    assert statuses["Acrobat Pro"] == licensing.OVER
    windows = {i.window for i in expiring(cast.admin, organization=cast.org_a.pk, days=90)}
    assert {"expired", "30", "60", "90"} <= windows
