"""Hardware assets: lifecycle transitions and refusals, disposal record, read-only disposed
assets, references within the organisation; through the actions and the API."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from opsdesk.cmdb import asset_actions as actions
from opsdesk.cmdb.asset_workflows import TRANSITIONS
from opsdesk.cmdb.choices import AssetLifecycle
from opsdesk.cmdb.models import HardwareAsset, SoftwareInstallation
from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


def _asset(cast, **fields):
    return actions.create_asset(
        acting_user=cast.agent, organization=cast.org_a, name=fields.pop("name", "X1"), **fields
    )


def _dispose(cast, asset, **record):
    return actions.change_asset_lifecycle(
        acting_user=cast.agent, asset=asset, lifecycle="disposed", **record
    )


# --- actions -----------------------------------------------------------------------------------


def test_every_declared_transition_is_allowed_and_others_refused(cast):
    for source, targets in TRANSITIONS.items():
        for target in AssetLifecycle.values:
            if source == target or source == "disposed":
                continue
            asset = HardwareAsset.objects.create(
                organization=cast.org_a, name=f"{source}->{target}", lifecycle=source
            )
            record = {}
            if target == "disposed":
                record = {"disposed_on": timezone.localdate(), "disposal_method": "Recycling"}
            if target in targets:
                actions.change_asset_lifecycle(
                    acting_user=cast.agent, asset=asset, lifecycle=target, **record
                )
                asset.refresh_from_db()
                assert asset.lifecycle == target
            else:
                with pytest.raises(FieldError) as exc:
                    actions.change_asset_lifecycle(
                        acting_user=cast.agent, asset=asset, lifecycle=target, **record
                    )
                assert "lifecycle" in exc.value.errors


def test_in_use_and_in_repair_go_back_and_forth(cast):
    asset = _asset(cast)
    for state in ("in_repair", "in_use", "in_repair", "in_use"):
        asset = actions.change_asset_lifecycle(acting_user=cast.agent, asset=asset, lifecycle=state)
    assert asset.lifecycle == "in_use"


def test_disposal_needs_date_and_method(cast):
    asset = _asset(cast, lifecycle="in_stock")
    actions.change_asset_lifecycle(acting_user=cast.agent, asset=asset, lifecycle="retired")
    with pytest.raises(FieldError) as exc:
        _dispose(cast, asset)
    assert set(exc.value.errors) == {"disposed_on", "disposal_method"}
    with pytest.raises(FieldError) as exc:
        _dispose(
            cast,
            asset,
            disposed_on=timezone.localdate() + timedelta(days=3),
            disposal_method="Shredding",
        )
    assert "disposed_on" in exc.value.errors
    asset.refresh_from_db()
    assert asset.lifecycle == "retired" and asset.disposed_on is None


def test_a_disposed_asset_is_read_only_and_keeps_its_record(cast):
    asset = _asset(cast, lifecycle="in_stock", assigned_user=cast.agent)
    actions.change_asset_lifecycle(acting_user=cast.agent, asset=asset, lifecycle="retired")
    asset = _dispose(
        cast,
        asset,
        disposed_on=timezone.localdate(),
        disposal_method="Certified recycling",
        disposal_reference="CERT-77",
    )
    assert asset.assigned_user is None
    with pytest.raises(Conflict):
        actions.update_asset(acting_user=cast.agent, asset=asset, notes="late edit")
    with pytest.raises(Conflict):
        actions.change_asset_lifecycle(acting_user=cast.agent, asset=asset, lifecycle="in_stock")
    with pytest.raises(Conflict):
        actions.delete_asset(acting_user=cast.admin, asset=asset)
    asset.refresh_from_db()
    assert (asset.disposal_method, asset.disposal_reference) == ("Certified recycling", "CERT-77")
    record = AuditRecord.objects.filter(object_id=str(asset.pk), object_type="cmdb.hardwareasset")
    assert record.filter(changes__has_key="disposal_method").exists()


def test_a_disposal_record_only_comes_with_disposal(cast):
    asset = _asset(cast)
    with pytest.raises(FieldError) as exc:
        actions.change_asset_lifecycle(
            acting_user=cast.agent, asset=asset, lifecycle="in_repair", disposal_method="Oops"
        )
    assert "disposal_method" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        actions.update_asset(acting_user=cast.agent, asset=asset, lifecycle="retired")
    assert "lifecycle" in exc.value.errors


def test_a_new_asset_cannot_start_retired(cast):
    with pytest.raises(FieldError) as exc:
        _asset(cast, lifecycle="retired")
    assert "lifecycle" in exc.value.errors


def test_ci_and_assigned_user_must_belong_to_the_organisation(cast):
    with pytest.raises(FieldError) as exc:
        _asset(cast, ci=ci(cast.org_b, "b-srv"))
    assert "ci_id" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        _asset(cast, assigned_user=cast.agent_b)
    assert "assigned_user_id" in exc.value.errors
    asset = _asset(cast, ci=ci(cast.org_a, "a-srv"), assigned_user=cast.manager)
    assert asset.ci.name == "a-srv"


def test_roles(cast):
    with pytest.raises(PermissionDenied):
        actions.create_asset(acting_user=cast.requester, organization=cast.org_a, name="No")
    asset = _asset(cast)
    with pytest.raises(PermissionDenied):
        actions.delete_asset(acting_user=cast.agent, asset=asset)
    actions.delete_asset(acting_user=cast.manager, asset=asset)
    assert not HardwareAsset.objects.filter(pk=asset.pk).exists()


def test_record_installation_is_idempotent(cast):
    server = ci(cast.org_a, "web-01")
    first, created = actions.record_installation(
        acting_user=cast.agent, ci=server, publisher="Red Hat", product="RHEL", version="9.3"
    )
    again, created_again = actions.record_installation(
        acting_user=cast.agent, ci=server, publisher="red hat", product="rhel", version="9.4"
    )
    assert created and not created_again and first.pk == again.pk
    assert SoftwareInstallation.objects.get().version == "9.4"


# --- API ---------------------------------------------------------------------------------------


@pytest.fixture
def api(client, cast):
    return ApiClient(client, cast.agent)


def test_api_create_read_patch_asset(api, cast):
    server = ci(cast.org_a, "srv-9")
    resp = api.post(
        "/assets",
        {
            "organization_id": cast.org_a.pk,
            "name": "ProLiant DL380",
            "vendor": "HPE",
            "serial_number": "CZJ1234ABC",
            "cost": "9800.50",
            "purchase_date": "2023-03-01",
            "warranty_end": "2026-03-01",
            "ci_id": server.pk,
            "assigned_user_id": cast.manager.pk,
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["number"].startswith("AST") and body["ci_name"] == "srv-9"
    assert Decimal(body["cost"]) == Decimal("9800.50")
    assert set(body["allowed_transitions"]) == {"in_stock", "in_repair", "retired"}
    resp = api.patch(f"/assets/{body['id']}", {"location": "JNB1 rack 4", "country": "za"})
    assert resp.status_code == 200 and resp.json()["country"] == "ZA"
    assert api.get(f"/assets/{body['id']}").json()["location"] == "JNB1 rack 4"


def test_api_errors_name_the_field(api, cast):
    org = cast.org_a.pk
    assert_error(api.post("/assets", {"organization_id": org, "name": ""}), 422, "name")
    assert_error(
        api.post("/assets", {"organization_id": org, "name": "A", "cost": "-1"}), 422, "cost"
    )
    assert_error(
        api.post("/assets", {"organization_id": org, "name": "A", "colour": "red"}), 422, "colour"
    )
    b_ci = ci(cast.org_b, "b-srv")
    assert_error(
        api.post("/assets", {"organization_id": org, "name": "A", "ci_id": b_ci.pk}), 422, "ci_id"
    )
    assert_error(
        api.post(
            "/assets", {"organization_id": org, "name": "A", "assigned_user_id": cast.agent_b.pk}
        ),
        422,
        "assigned_user_id",
    )
    assert_error(
        api.post("/assets", {"organization_id": org, "name": "A", "country": "XX"}), 422, "country"
    )
    assert_error(
        api.post("/assets", {"organization_id": org, "name": "A", "lifecycle": "disposed"}),
        422,
        "lifecycle",
    )


def test_api_lifecycle_refusals_and_disposal(api, cast):
    asset = _asset(cast)
    url = f"/assets/{asset.pk}/lifecycle"
    body = assert_error(api.post(url, {"lifecycle": "disposed"}), 422, "lifecycle")
    assert "allowed" in body["errors"][0]["message"]
    assert api.post(url, {"lifecycle": "retired"}).status_code == 200
    body = assert_error(api.post(url, {"lifecycle": "disposed"}), 422, "disposed_on")
    assert "disposal_method" in [e["field"] for e in body["errors"]]
    resp = api.post(
        url,
        {
            "lifecycle": "disposed",
            "disposed_on": timezone.localdate().isoformat(),
            "disposal_method": "Certified recycling",
        },
    )
    assert resp.status_code == 200 and resp.json()["allowed_transitions"] == []
    assert_error(api.patch(f"/assets/{asset.pk}", {"notes": "x"}), 409, "lifecycle")
    assert_error(api.post(url, {"lifecycle": "teleported"}), 422, "lifecycle")


def test_api_list_filters(api, cast):
    _asset(cast, name="Latitude 7440", vendor="Dell")
    _asset(cast, name="Catalyst 9300", vendor="Cisco", lifecycle="in_stock")
    items = api.get("/assets", {"vendor": "cisco"}).json()["items"]
    assert [i["name"] for i in items] == ["Catalyst 9300"]
    items = api.get("/assets", {"lifecycle": "in_use"}).json()["items"]
    assert [i["name"] for i in items] == ["Latitude 7440"]
    assert api.get("/assets", {"q": "latitude"}).json()["total"] == 1
    assert_error(api.get("/assets", {"lifecycle": "lost"}), 422, "lifecycle")


def test_api_delete_needs_a_manager(client, cast):
    asset = _asset(cast)
    assert_error(ApiClient(client, cast.agent).delete(f"/assets/{asset.pk}"), 403)
    assert ApiClient(client, cast.manager).delete(f"/assets/{asset.pk}").status_code == 204


def test_api_licences_and_positions(api, cast):
    resp = api.post(
        "/licences",
        {
            "organization_id": cast.org_a.pk,
            "publisher": "VMware",
            "product": "vSphere Enterprise Plus",
            "metric": "per_core",
            "entitlements": 32,
            "cost": "16000",
            "renewal_date": (timezone.localdate() + timedelta(days=45)).isoformat(),
        },
    )
    assert resp.status_code == 201, resp.content
    licence_id = resp.json()["id"]
    hosts = [ci(cast.org_a, f"esx-{i}", attributes={"cpu_cores": 16}) for i in range(3)]
    for host in hosts:
        resp = api.post(
            "/installations",
            {"ci_id": host.pk, "publisher": "VMware", "product": "vSphere Enterprise Plus"},
        )
        assert resp.status_code == 201
    again = api.post(
        "/installations",
        {"ci_id": hosts[0].pk, "publisher": "vmware", "product": "vsphere enterprise plus"},
    )
    assert again.status_code == 200
    rows = api.get("/licence-positions", {"organization": cast.org_a.pk}).json()["items"]
    (row,) = rows
    assert (row["entitlements"], row["consumption"], row["position"]) == (32, 48, -16)
    assert row["status"] == "under_licensed"
    assert Decimal(row["shortfall_cost"]) == Decimal("8000.00")
    under = api.get("/licence-positions", {"status": "under_licensed"}).json()["total"]
    assert under == 1
    assert api.patch(f"/licences/{licence_id}", {"entitlements": 48}).status_code == 200
    (row,) = api.get("/licence-positions").json()["items"]
    assert row["status"] == "compliant"
    assert_error(api.patch(f"/licences/{licence_id}", {"entitlements": -1}), 422, "entitlements")
    assert_error(api.patch(f"/licences/{licence_id}", {"metric": None}), 422, "metric")
    assert_error(api.patch(f"/licences/{licence_id}", {"metric": "per_cpu"}), 422, "metric")


def test_api_expiring_windows(api, cast):
    today = timezone.localdate()
    for days in (-2, 10, 45, 80, 200):
        _asset(cast, name=f"w{days}", warranty_end=today + timedelta(days=days))
    _asset(cast, name="retired", warranty_end=today + timedelta(days=5), lifecycle="in_stock")
    retired = HardwareAsset.objects.get(name="retired")
    actions.change_asset_lifecycle(acting_user=cast.agent, asset=retired, lifecycle="retired")
    actions.create_licence(
        acting_user=cast.agent,
        organization=cast.org_a,
        publisher="Adobe",
        product="Acrobat",
        metric="per_user",
        entitlements=5,
        renewal_date=today + timedelta(days=25),
    )

    def names(days, **params):
        items = api.get("/expiring", {"days": days, **params}).json()["items"]
        return [(i["name"], i["window"]) for i in items]

    assert names(30) == [
        ("w-2", "expired"),
        ("w10", "30"),
        ("Adobe Acrobat", "30"),
    ]
    assert [n for n, _ in names(60)] == ["w-2", "w10", "Adobe Acrobat", "w45"]
    assert names(90)[-1] == ("w80", "90")
    assert [n for n, _ in names(90, kind="renewal")] == ["Adobe Acrobat"]
    assert [n for n, _ in names(30, include_expired="false")] == ["w10", "Adobe Acrobat"]
    assert_error(api.get("/expiring", {"days": 45}), 422, "days")


def test_api_cmdb_health(api, cast):
    ci(cast.org_a, "srv", attributes={"os": "Windows Server 2022"})
    body = api.get("/cmdb-health", {"organization": cast.org_a.pk}).json()
    rule = next(
        r for r in body["rules"] if r["name"] == "Every server records its operating system"
    )
    assert (rule["applicable"], rule["passing"], rule["failing"]) == (1, 1, 0)
    assert body["classes"][0]["key"] == "server"
    assert 0 <= body["score"] <= 100
    assert_error(api.get("/cmdb-health"), 422, "organization")
    assert_error(
        ApiClient(api.client, cast.requester).get("/cmdb-health", {"organization": cast.org_a.pk}),
        403,
    )


def test_api_installation_errors(api, cast):
    server = ci(cast.org_a, "s")
    assert_error(
        api.post("/installations", {"ci_id": server.pk, "publisher": "", "product": "x"}),
        422,
        "publisher",
    )
    assert_error(
        api.post(
            "/installations",
            {"ci_id": server.pk, "publisher": "p", "product": "x", "user_id": cast.agent_b.pk},
        ),
        422,
        "user_id",
    )
    assert_error(
        api.post("/installations", {"ci_id": 10**6, "publisher": "p", "product": "x"}), 404
    )
