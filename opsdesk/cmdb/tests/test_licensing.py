"""The compliance position: consumption per metric, entitlements adding up, shortfalls,
unused licences and their cost."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb import asset_actions as actions
from opsdesk.cmdb import licensing
from opsdesk.cmdb.asset_selectors import installations_for_user, licences_for_user
from opsdesk.cmdb.tests.factories import ci

pytestmark = pytest.mark.django_db


def _licence(cast, product, metric, entitlements, publisher="Microsoft", **fields):
    return actions.create_licence(
        acting_user=cast.admin,
        organization=cast.org_a,
        product=product,
        publisher=publisher,
        metric=metric,
        entitlements=entitlements,
        **fields,
    )


def _install(cast, target, product, publisher="Microsoft", user=None):
    return actions.record_installation(
        acting_user=cast.agent, ci=target, publisher=publisher, product=product, user=user
    )[0]


def _positions(user):
    rows = licensing.positions(licences_for_user(user), installations_for_user(user))
    return {(p.product, p.metric): p for p in rows}


def test_per_device_counts_distinct_cis_and_matches_case_insensitively(cast):
    _licence(cast, "Visio", "per_device", 2, cost=Decimal("300.00"))
    laptops = [ci(cast.org_a, f"lt-{i}", "end_user_device") for i in range(3)]
    _install(cast, laptops[0], "Visio")
    _install(cast, laptops[1], "VISIO", publisher="microsoft")  # same product, other case
    _install(cast, laptops[2], "Visio Viewer")  # another product: not consumption
    pos = _positions(cast.admin)[("Visio", "per_device")]
    assert (pos.entitlements, pos.consumption, pos.position) == (2, 2, 0)
    assert pos.status == licensing.COMPLIANT


def test_under_licensed_product_shows_the_shortfall_and_its_cost(cast):
    _licence(cast, "Project", "per_device", 2, cost=Decimal("1000.00"))
    for i in range(5):
        _install(cast, ci(cast.org_a, f"pc-{i}", "end_user_device"), "Project")
    pos = _positions(cast.admin)[("Project", "per_device")]
    assert pos.consumption == 5
    assert pos.position == -3
    assert pos.shortfall == 3
    assert pos.unused == 0
    assert pos.status == licensing.UNDER
    assert pos.shortfall_cost == Decimal("1500.00")  # 3 x (1000 / 2)


def test_several_licences_of_a_product_add_up(cast):
    _licence(cast, "Microsoft 365 E3", "per_user", 10, cost=Decimal("3600.00"))
    _licence(cast, "microsoft 365 e3", "per_user", 10, cost=Decimal("3600.00"))  # true-up
    device = ci(cast.org_a, "shared-pc", "end_user_device")
    _install(cast, device, "Microsoft 365 E3", user=cast.agent)
    pos = _positions(cast.admin)[("Microsoft 365 E3", "per_user")]
    assert pos.entitlements == 20
    assert len(pos.licence_ids) == 2
    assert pos.consumption == 1
    assert pos.unused == 19
    assert pos.status == licensing.OVER
    assert pos.unused_cost == Decimal("6840.00")  # 19 x 7200 / 20


def test_per_user_counts_distinct_users_and_reports_installations_without_one(cast):
    _licence(cast, "Acrobat Pro", "per_user", 3, publisher="Adobe")
    devices = [ci(cast.org_a, f"d-{i}", "end_user_device") for i in range(4)]
    _install(cast, devices[0], "Acrobat Pro", "Adobe", user=cast.agent)
    _install(cast, devices[1], "Acrobat Pro", "Adobe", user=cast.agent)  # same person, 2nd PC
    _install(cast, devices[2], "Acrobat Pro", "Adobe", user=cast.manager)
    _install(cast, devices[3], "Acrobat Pro", "Adobe")  # nobody known
    pos = _positions(cast.admin)[("Acrobat Pro", "per_user")]
    assert pos.consumption == 2
    assert pos.installations == 4
    assert pos.installations_without_user == 1
    assert not pos.consumption_complete
    # One unused entitlement of three is more than the 10 % headroom.
    assert pos.status == licensing.OVER


def test_per_core_sums_cores_and_reports_missing_core_counts(cast):
    _licence(cast, "Windows Server Datacenter", "per_core", 32, cost=Decimal("6400.00"))
    a = ci(cast.org_a, "hv-01", "server", attributes={"cpu_cores": 16})
    b = ci(cast.org_a, "hv-02", "server", attributes={"cpu_cores": 24})
    c = ci(cast.org_a, "hv-03", "server", attributes={})
    for server in (a, b, c):
        _install(cast, server, "Windows Server Datacenter")
    pos = _positions(cast.admin)[("Windows Server Datacenter", "per_core")]
    assert pos.consumption == 40
    assert pos.shortfall == 8
    assert pos.status == licensing.UNDER
    assert [m["name"] for m in pos.cis_missing_cores] == ["hv-03"]
    assert not pos.consumption_complete


def test_subscription_counts_installations(cast):
    _licence(cast, "Red Hat Enterprise Linux", "subscription", 10, publisher="Red Hat")
    for i in range(9):
        _install(cast, ci(cast.org_a, f"rhel-{i}"), "Red Hat Enterprise Linux", "Red Hat")
    pos = _positions(cast.admin)[("Red Hat Enterprise Linux", "subscription")]
    assert (pos.consumption, pos.unused) == (9, 1)
    assert pos.status == licensing.COMPLIANT  # 1 spare of 10 is headroom


def test_another_organisations_installations_never_count(cast):
    _licence(cast, "Visio", "per_device", 1)
    _install(cast, ci(cast.org_a, "a-pc", "end_user_device"), "Visio")
    b_pc = ci(cast.org_b, "b-pc", "end_user_device")
    actions.record_installation(
        acting_user=cast.admin_b, ci=b_pc, publisher="Microsoft", product="Visio"
    )
    pos = _positions(cast.admin)[("Visio", "per_device")]
    assert pos.consumption == 1
    assert pos.status == licensing.COMPLIANT


def test_queries_do_not_grow_with_installations(cast):
    _licence(cast, "SQL Server", "per_core", 100)
    _licence(cast, "Visio", "per_device", 100)
    servers = [ci(cast.org_a, f"sql-{i}", attributes={"cpu_cores": 4}) for i in range(30)]
    for server in servers:
        _install(cast, server, "SQL Server")
        _install(cast, server, "Visio")
    with CaptureQueriesContext(connection) as ctx:
        rows = _positions(cast.admin)
    assert rows[("SQL Server", "per_core")].consumption == 120
    assert len(ctx.captured_queries) <= 4


def test_products_installed_without_any_licence_are_listed(cast, client):
    _licence(cast, "Visio", "per_device", 5)
    pcs = [ci(cast.org_a, f"ws-{i}", "end_user_device") for i in range(3)]
    for pc in pcs:
        _install(cast, pc, "Visio")
        _install(cast, pc, "WinRAR", publisher="win.rar GmbH")
    _install(cast, pcs[0], "winrar", publisher="WIN.RAR GMBH")  # same product, other case
    _install(cast, pcs[1], "Oracle Database", publisher="Oracle")
    rows = licensing.unlicensed(licences_for_user(cast.admin), installations_for_user(cast.admin))
    assert [(r.product, r.devices) for r in rows] == [("WinRAR", 3), ("Oracle Database", 1)]
    # other organisations' installations never show
    other = ci(cast.org_b, "b-ws", "end_user_device")
    actions.record_installation(
        acting_user=cast.admin_b, ci=other, publisher="B Soft", product="Tool"
    )
    rows = licensing.unlicensed(licences_for_user(cast.admin), installations_for_user(cast.admin))
    assert "Tool" not in {r.product for r in rows}
    # the API and the licence page say the same
    from opsdesk.core.testing.api import ApiClient

    body = ApiClient(user=cast.agent).get("/unlicensed-software").json()
    assert [(i["product"], i["devices"]) for i in body["items"]] == [
        ("WinRAR", 3),
        ("Oracle Database", 1),
    ]
    client.force_login(cast.agent)
    page = client.get("/cmdb/licences/").content.decode()
    assert "Installed without any licence" in page and "Oracle Database" in page
