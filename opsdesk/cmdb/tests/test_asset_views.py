"""The asset, licence, expiring and health pages: real data, organisation scoping, forms."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from opsdesk.cmdb import asset_actions as actions
from opsdesk.cmdb.models import HardwareAsset, SoftwareLicence
from opsdesk.cmdb.tests.factories import ci

pytestmark = pytest.mark.django_db


@pytest.fixture
def as_admin(client, cast):
    client.force_login(cast.admin)
    return client


def _asset(cast, org=None, **fields):
    org = org or cast.org_a
    user = cast.admin if org == cast.org_a else cast.admin_b
    return actions.create_asset(
        acting_user=user, organization=org, name=fields.pop("name", "Laptop"), **fields
    )


def test_asset_list_shows_only_the_current_organisation(as_admin, cast):
    _asset(cast, name="Acme ThinkPad", vendor="Lenovo", serial_number="PF3ABC12")
    _asset(cast, cast.org_b, name="Borealis EliteBook")
    html = as_admin.get(reverse("cmdb-assets")).content.decode()
    assert "Acme ThinkPad" in html and "PF3ABC12" in html
    assert "Borealis EliteBook" not in html


def test_asset_list_filters(as_admin, cast):
    _asset(cast, name="Dell server", vendor="Dell")
    _asset(cast, name="HPE server", vendor="HPE", lifecycle="in_stock")
    html = as_admin.get(reverse("cmdb-assets"), {"vendor": "Dell"}).content.decode()
    assert "Dell server" in html and "HPE server" not in html
    html = as_admin.get(reverse("cmdb-assets"), {"lifecycle": "in_stock"}).content.decode()
    assert "HPE server" in html and "Dell server" not in html


def test_asset_of_another_organisation_is_404(as_admin, cast):
    other = _asset(cast, cast.org_b, name="B's")
    assert as_admin.get(reverse("cmdb-asset-detail", args=[other.pk])).status_code == 404


def test_create_asset_with_the_form(as_admin, cast):
    server = ci(cast.org_a, "db-01")
    resp = as_admin.post(
        reverse("cmdb-asset-create"),
        {
            "name": "PowerEdge R750",
            "vendor": "Dell",
            "serial_number": "7XK2M93",
            "currency": "USD",
            "cost": "12000.00",
            "purchase_date": "2024-01-10",
            "warranty_end": "2027-01-10",
            "ci": server.pk,
            "assigned_user": cast.agent.pk,
            "lifecycle": "in_use",
        },
    )
    asset = HardwareAsset.objects.get(name="PowerEdge R750")
    assert resp.status_code == 302 and resp["Location"].endswith(f"/cmdb/assets/{asset.pk}/")
    assert asset.ci == server and asset.cost == Decimal("12000.00")
    page = as_admin.get(resp["Location"]).content.decode()
    assert "7XK2M93" in page and "db-01" in page


def test_create_form_reports_an_action_error_on_the_field(as_admin, cast):
    resp = as_admin.post(
        reverse("cmdb-asset-create"),
        {
            "name": "Bad dates",
            "currency": "USD",
            "purchase_date": "2024-05-01",
            "warranty_end": "2023-05-01",
            "lifecycle": "in_use",
        },
    )
    assert resp.status_code == 200
    assert "cannot end before the purchase date" in resp.content.decode()
    assert not HardwareAsset.objects.filter(name="Bad dates").exists()


def test_dispose_with_the_form_needs_a_disposal_record(as_admin, cast):
    asset = _asset(cast, name="Old switch", lifecycle="in_stock")
    actions.change_asset_lifecycle(acting_user=cast.admin, asset=asset, lifecycle="retired")
    url = reverse("cmdb-asset-lifecycle", args=[asset.pk])
    resp = as_admin.post(url, {"lifecycle": "disposed"})
    assert resp.status_code == 422
    assert "Required to dispose" in resp.content.decode()
    today = timezone.localdate().isoformat()
    resp = as_admin.post(
        url,
        {
            "lifecycle": "disposed",
            "disposed_on": today,
            "disposal_method": "Certified recycling",
            "disposal_reference": "WEEE-2291",
        },
    )
    assert resp.status_code == 302
    page = as_admin.get(reverse("cmdb-asset-detail", args=[asset.pk])).content.decode()
    assert "read-only" in page and "WEEE-2291" in page
    assert reverse("cmdb-asset-edit", args=[asset.pk]) not in page


def test_licence_page_highlights_under_licensed_products_in_table_and_chart(as_admin, cast):
    actions.create_licence(
        acting_user=cast.admin,
        organization=cast.org_a,
        publisher="Oracle",
        product="Oracle Database Enterprise",
        metric="per_core",
        entitlements=8,
        cost=Decimal("380000.00"),
    )
    actions.create_licence(
        acting_user=cast.admin,
        organization=cast.org_a,
        publisher="Adobe",
        product="Acrobat Pro",
        metric="per_user",
        entitlements=50,
        cost=Decimal("9000.00"),
    )
    db = ci(cast.org_a, "ora-01", attributes={"cpu_cores": 16})
    actions.record_installation(
        acting_user=cast.admin, ci=db, publisher="oracle", product="Oracle Database Enterprise"
    )
    html = as_admin.get(reverse("cmdb-licences")).content.decode()
    assert 'class="status-row-under_licensed"' in html
    assert "Under-licensed" in html and "Over-licensed" in html
    assert "<svg" in html and 'class="bar-row under_licensed"' in html
    assert "<script" not in html.split("<main", 1)[1]  # the chart needs no script


def test_licence_create_and_edit_forms(as_admin, cast):
    resp = as_admin.post(
        reverse("cmdb-licence-create"),
        {
            "publisher": "Microsoft",
            "product": "Visio",
            "metric": "per_device",
            "entitlements": "5",
            "currency": "USD",
        },
    )
    licence = SoftwareLicence.objects.get(product="Visio")
    assert resp.status_code == 302
    url = reverse("cmdb-licence-detail", args=[licence.pk])
    resp = as_admin.post(
        url,
        {
            "publisher": "Microsoft",
            "product": "Visio",
            "metric": "per_device",
            "entitlements": "7",
            "currency": "usd",
        },
    )
    assert resp.status_code == 422 and "currency" in resp.content.decode()
    resp = as_admin.post(
        url,
        {
            "publisher": "Microsoft",
            "product": "Visio",
            "metric": "per_device",
            "entitlements": "7",
            "currency": "EUR",
        },
    )
    assert resp.status_code == 302
    licence.refresh_from_db()
    assert (licence.entitlements, licence.currency) == (7, "EUR")


def test_expiring_tabs(as_admin, cast):
    # The page counts days in the viewer's time zone (the organisation's here), which is
    # already tomorrow in Johannesburg when it is 22:00 UTC.
    today = timezone.localdate(timezone=ZoneInfo(cast.org_a.time_zone))
    _asset(cast, name="Soon", warranty_end=today + timedelta(days=20))
    _asset(cast, name="Later", warranty_end=today + timedelta(days=75))
    _asset(cast, name="Gone", warranty_end=today - timedelta(days=3))
    _asset(cast, cast.org_b, name="Not ours", warranty_end=today + timedelta(days=5))
    html30 = as_admin.get(reverse("cmdb-expiring"), {"days": 30}).content.decode()
    assert "Soon" in html30 and "Later" not in html30 and "Not ours" not in html30
    assert "expired 3 days ago" in html30
    html90 = as_admin.get(reverse("cmdb-expiring"), {"days": 90}).content.decode()
    assert "Later" in html90


def test_health_page_scores_and_links_offenders(as_admin, cast):
    ok = ci(
        cast.org_a,
        "good-srv",
        attributes={"os": "RHEL 9"},
        owner_team=cast.team_a,
        support_team=cast.team_a,
        country="ZA",
    )
    bad = ci(cast.org_a, "bad-srv")
    ci(cast.org_b, "b-srv")
    html = as_admin.get(reverse("cmdb-health")).content.decode()
    assert f'href="/cmdb/cis/{bad.pk}/"' in html
    assert f'href="/cmdb/cis/{ok.pk}/"' not in html
    assert "b-srv" not in html
    assert "50.0 %" in html  # 4 of 8 server checks pass
    assert "Server" in html


def test_pages_need_login(client):
    for name in ("cmdb-assets", "cmdb-licences", "cmdb-expiring", "cmdb-health"):
        resp = client.get(reverse(name))
        assert resp.status_code == 302 and "login" in resp["Location"]
