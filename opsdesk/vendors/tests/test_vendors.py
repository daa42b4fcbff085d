"""Vendors: actions, API and pages; who may change them and what a UC naming one protects."""

from __future__ import annotations

import pytest

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.sla.definition_actions import create_definition
from opsdesk.vendors import actions
from opsdesk.vendors.models import Vendor

pytestmark = pytest.mark.django_db


def test_managers_and_admins_add_and_change_only_admins_delete(cast):
    with pytest.raises(PermissionDenied):
        actions.create_vendor(acting_user=cast.agent, organization=cast.org_a, name="Fibre")
    vendor = actions.create_vendor(
        acting_user=cast.manager, organization=cast.org_a, name=" Fibre ", country="za"
    )
    assert (vendor.name, vendor.country) == ("Fibre", "ZA")
    assert AuditRecord.objects.filter(object_type="vendors.vendor", action="create").exists()
    actions.update_vendor(acting_user=cast.manager, vendor=vendor, phone="+27 11 000 0000")
    with pytest.raises(PermissionDenied):
        actions.delete_vendor(acting_user=cast.manager, vendor=vendor)
    actions.delete_vendor(acting_user=cast.admin, vendor=vendor)
    assert not Vendor.objects.exists()


def test_rules_name_the_field(cast):
    for fields, field in (
        ({"name": " "}, "name"),
        ({"name": "X", "country": "ZAF"}, "country"),
        ({"name": "X", "email": "not-an-address"}, "email"),
        ({"name": "X", "website": "nope"}, "website"),
    ):
        with pytest.raises(FieldError) as exc:
            actions.create_vendor(acting_user=cast.admin, organization=cast.org_a, **fields)
        assert field in exc.value.errors
    actions.create_vendor(acting_user=cast.admin, organization=cast.org_a, name="Fibre")
    with pytest.raises(FieldError) as exc:
        actions.create_vendor(acting_user=cast.admin, organization=cast.org_a, name="fibre")
    assert "name" in exc.value.errors


def test_a_vendor_named_by_a_uc_cannot_be_deleted(cast):
    vendor = actions.create_vendor(acting_user=cast.admin, organization=cast.org_a, name="Fibre")
    create_definition(
        acting_user=cast.admin,
        organization=cast.org_a,
        name="Fibre UC",
        kind="uc",
        vendor=vendor,
        resolution_minutes={"1": 240},
    )
    with pytest.raises(Conflict) as exc:
        actions.delete_vendor(acting_user=cast.admin, vendor=vendor)
    assert "Fibre UC" in exc.value.detail


def test_api(cast, client):
    api = ApiClient(client, cast.manager)
    resp = api.post(
        "/vendors", {"organization_id": cast.org_a.pk, "name": "Nimbus", "country": "KE"}
    )
    assert resp.status_code == 201, resp.content
    vendor = resp.json()
    assert api.patch(f"/vendors/{vendor['id']}", {"notes": "Cloud"}).json()["notes"] == "Cloud"
    assert_error(api.patch(f"/vendors/{vendor['id']}", {"name": None}), 422, "name")
    assert_error(
        api.post("/vendors", {"organization_id": cast.org_a.pk, "name": "Nimbus"}), 422, "name"
    )
    assert api.get("/vendors", {"q": "nim"}).json()["total"] == 1
    theirs = (
        ApiClient(client, cast.admin_b)
        .post("/vendors", {"organization_id": cast.org_b.pk, "name": "B net"})
        .json()
    )
    agent = ApiClient(client, cast.agent)
    assert agent.get(f"/vendors/{theirs['id']}").status_code == 404
    assert agent.get("/vendors").json()["total"] == 1
    assert_error(agent.delete(f"/vendors/{vendor['id']}"), 403)
    assert ApiClient(client, cast.admin).delete(f"/vendors/{vendor['id']}").status_code == 204


def test_pages(cast, client):
    vendor = actions.create_vendor(acting_user=cast.admin, organization=cast.org_a, name="Fibre")
    create_definition(
        acting_user=cast.admin,
        organization=cast.org_a,
        name="Fibre UC",
        kind="uc",
        vendor=vendor,
        resolution_minutes={"1": 240},
    )
    client.force_login(cast.agent)
    html = client.get("/vendors/").content.decode()
    assert "Fibre" in html and "New vendor" not in html
    detail = client.get(f"/vendors/{vendor.pk}/").content.decode()
    assert "Fibre UC" in detail
    assert client.get("/vendors/new/").status_code == 403
    client.force_login(cast.manager)
    resp = client.post("/vendors/new/", {"name": "Ironbark", "country": "NG", "is_active": "on"})
    assert resp.status_code == 302
    created = Vendor.objects.get(name="Ironbark")
    resp = client.post(f"/vendors/{created.pk}/edit/", {"name": "", "country": "NG"})
    assert resp.status_code == 422 and 'id="error-name"' in resp.content.decode()
    theirs = actions.create_vendor(acting_user=cast.admin_b, organization=cast.org_b, name="B")
    assert client.get(f"/vendors/{theirs.pk}/").status_code == 404
