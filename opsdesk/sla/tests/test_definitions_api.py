"""The definitions API: create/read/update/delete with errors naming the field, filters,
tenancy, and the preview on an incident or a hypothetical ticket."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.models import BusinessCalendar
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.problems.tests.factories import incident
from opsdesk.sla.models import Definition, Recompute
from opsdesk.vendors.actions import create_vendor

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_calendars():  # type: ignore[no-untyped-def]
    """Compiled calendars are cached by (id, version); a rolled-back test's ids come back."""
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


JHB = ZoneInfo("Africa/Johannesburg")


@pytest.fixture
def api(cast, client):  # type: ignore[no-untyped-def]
    return ApiClient(client, cast.admin)


def office(org):  # type: ignore[no-untyped-def]
    return BusinessCalendar.objects.create(
        organization=org,
        name="Johannesburg office",
        time_zone="Africa/Johannesburg",
        working_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        holiday_country="ZA",
        is_default=True,
    )


def body(cast, **fields):  # type: ignore[no-untyped-def]
    data = {
        "organization_id": cast.org_a.pk,
        "name": "Gold",
        "response_minutes": {"2": 30},
        "resolution_minutes": {"2": 480},
    }
    data.update(fields)
    return data


def test_create_read_update_delete(cast, api):
    mail = ci(cast.org_a, "Mail", "business_service")
    calendar = office(cast.org_a)
    resp = api.post("/sla-definitions", body(cast, service_ids=[mail.pk], calendar_id=calendar.pk))
    assert resp.status_code == 201, resp.content
    created = resp.json()
    assert created["services"] == [{"id": mail.pk, "name": "Mail"}]
    assert created["calendar"] == {"id": calendar.pk, "name": "Johannesburg office"}
    assert created["version"] == 1 and created["kind"] == "sla"
    url = f"/sla-definitions/{created['id']}"
    assert api.get(url).json()["name"] == "Gold"
    changed = api.patch(url, {"resolution_minutes": {"2": 240}, "service_ids": []}).json()
    assert changed["version"] == 2 and changed["services"] == []
    assert changed["resolution_minutes"] == {"2": 240}
    reason = Recompute.objects.order_by("-at", "-pk")[0].reason
    assert reason == "SLA 'Gold' changed: resolution_minutes, services (version 2)"
    assert api.delete(url).status_code == 204
    assert not Definition.objects.exists()


def test_errors_name_the_field(cast, api):
    vendor_b = create_vendor(acting_user=cast.admin_b, organization=cast.org_b, name="B net")
    server = ci(cast.org_a, "srv-01", "server")
    cases = [
        (body(cast, kind="ola"), "team"),
        (body(cast, kind="uc", vendor_id=vendor_b.pk), "vendor_id"),
        (body(cast, service_ids=[server.pk]), "services"),
        (body(cast, resolution_minutes={"9": 5}), "resolution_minutes"),
        (body(cast, pause_when=["asleep"]), "pause_when"),
        (body(cast, escalations=[{"at": 33, "action": "notify", "to": "group"}]), "escalations"),
        (body(cast, priorities=[7]), "priorities.0"),
        (body(cast, surprise=1), None),
    ]
    for data, field in cases:
        assert_error(api.post("/sla-definitions", data), 422, field)
    assert not Definition.objects.exists()
    assert api.post("/sla-definitions", body(cast)).status_code == 201
    assert_error(api.post("/sla-definitions", body(cast)), 422, "name")


def test_only_admins_write_and_other_organisations_are_invisible(cast, client):
    admin_b = ApiClient(client, cast.admin_b)
    theirs = admin_b.post("/sla-definitions", body(cast, organization_id=cast.org_b.pk)).json()
    agent = ApiClient(client, cast.agent)
    assert agent.get(f"/sla-definitions/{theirs['id']}").status_code == 404
    assert agent.get("/sla-definitions", {"organization": cast.org_b.pk}).json()["total"] == 0
    assert_error(agent.post("/sla-definitions", body(cast)), 403)
    admin = ApiClient(client, cast.admin)
    mine = admin.post("/sla-definitions", body(cast)).json()
    assert_error(agent.patch(f"/sla-definitions/{mine['id']}", {"name": "x"}), 403)
    assert_error(admin.patch(f"/sla-definitions/{theirs['id']}", {"name": "x"}), 404)
    requester = ApiClient(client, cast.requester)
    assert requester.get(f"/sla-definitions/{mine['id']}").status_code == 404


def test_filters(cast, api):
    vendor = create_vendor(acting_user=cast.admin, organization=cast.org_a, name="Fibre")
    api.post("/sla-definitions", body(cast))
    api.post("/sla-definitions", body(cast, name="Fibre UC", kind="uc", vendor_id=vendor.pk))
    api.post("/sla-definitions", body(cast, name="Old", is_active=False))
    names = lambda params: [d["name"] for d in api.get("/sla-definitions", params).json()["items"]]  # noqa: E731
    assert names({"kind": "uc"}) == ["Fibre UC"]
    assert names({"active": False}) == ["Old"]
    assert names({"organization": cast.org_a.pk, "kind": "sla", "active": True}) == ["Gold"]
    assert_error(api.get("/sla-definitions", {"kind": "xla"}), 422)


def test_preview_a_hypothetical_ticket(cast, api):
    office(cast.org_a)
    created = api.post("/sla-definitions", body(cast)).json()
    resp = api.post(
        f"/sla-definitions/{created['id']}/preview",
        {"priority": 2, "opened_at": "2026-11-20T15:00:00+02:00"},
    )
    assert resp.status_code == 200, resp.content
    result = resp.json()
    assert result["calendar"] == "Johannesburg office" and result["applies"]
    response, resolution = result["metrics"]
    assert datetime.fromisoformat(response["due_at"]) == datetime(2026, 11, 20, 15, 30, tzinfo=JHB)
    assert datetime.fromisoformat(resolution["due_at"]) == datetime(2026, 11, 23, 14, 0, tzinfo=JHB)
    assert sum(s["counted_seconds"] for s in resolution["segments"]) == 8 * 3600
    p4 = api.post(f"/sla-definitions/{created['id']}/preview", {"priority": 4}).json()
    assert p4["metrics"][1]["applies"] is False
    assert p4["metrics"][1]["reasons"] == ["no resolution target for P4"]
    assert_error(api.post(f"/sla-definitions/{created['id']}/preview", {}), 422, "priority")
    assert_error(
        api.post(f"/sla-definitions/{created['id']}/preview", {"priority": 2, "service_id": 10**9}),
        422,
        "service_id",
    )


def test_preview_an_incident(cast, api):
    BusinessCalendar.objects.create(
        organization=cast.org_a, name="24x7", always_open=True, is_default=True
    )
    created = api.post(
        "/sla-definitions", body(cast, resolution_minutes=dict.fromkeys("12345", 600))
    ).json()
    ticket = incident(cast, title="Printer jammed")
    resp = api.post(f"/sla-definitions/{created['id']}/preview", {"incident_id": ticket.pk})
    result = resp.json()
    assert result["ticket"] == ticket.number
    resolution = result["metrics"][1]
    assert resolution["applies"] and resolution["status"] == "running"
    due = datetime.fromisoformat(resolution["due_at"])
    assert abs(due - (ticket.opened_at + timedelta(hours=10))) < timedelta(seconds=1)
    theirs = incident(cast, org=cast.org_b, title="B's")
    assert_error(
        api.post(f"/sla-definitions/{created['id']}/preview", {"incident_id": theirs.pk}), 404
    )
    assert_error(
        api.post(
            f"/sla-definitions/{created['id']}/preview", {"incident_id": ticket.pk, "priority": 1}
        ),
        422,
        "priority",
    )
