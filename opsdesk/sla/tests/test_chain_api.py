"""The chain's API, pages and incident-page panel: who sees what, and what they see."""

from __future__ import annotations

import pytest
from django.test import Client

from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.sla.tests.test_chain import World, breached_ticket, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast) -> World:
    return build_world(cast)


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


# --- API ------------------------------------------------------------------------------------


def test_chain_api_lists_each_service_and_priority(world, client):
    api = ApiClient(client, world.cast.agent)
    resp = api.get("/sla/chain", {"organization": world.cast.org_a.pk})
    assert resp.status_code == 200, resp.content
    rows = {(r["service_name"], r["priority"]): r for r in resp.json()}
    assert set(rows) == {
        ("Email", 2),
        ("Payroll", 2),
        ("Telephony", 2),
        ("Trading", 2),
        ("Warehouse", 2),
    }
    telephony = rows[("Telephony", 2)]
    # Independent of today's date: Telco's UC alone is longer than the SLA from a Monday.
    assert telephony["verdict"] == "does_not_fit"
    assert telephony["reasons"][0].startswith("UC Telco P2 10 h (24x7) ends Mon ")
    [telco] = telephony["suppliers"]
    assert (telco["name"], telco["fits"], telco["calendar"]) == ("Telco", False, "24x7")
    assert [w["reference"] for w in telephony["walks"]] == ["Monday 09:00", "Friday 16:00"]
    filtered = api.get(
        "/sla/chain",
        {"organization": world.cast.org_a.pk, "service": world.payroll.pk, "priority": 2},
    )
    assert [r["service_name"] for r in filtered.json()] == ["Payroll"]


def test_chain_api_refuses_requesters_other_organisations_and_bad_filters(world, client):
    org_a = world.cast.org_a.pk
    assert_error(
        ApiClient(client, world.cast.requester).get("/sla/chain", {"organization": org_a}), 403
    )
    assert_error(
        ApiClient(client, world.cast.agent_b).get("/sla/chain", {"organization": org_a}), 404
    )
    agent = ApiClient(client, world.cast.agent)
    assert_error(agent.get("/sla/chain", {"organization": org_a, "priority": 9}), 422, "priority")
    assert_error(agent.get("/sla/chain", {"organization": org_a, "service": "x"}), 422, "service")
    from opsdesk.cmdb.tests.factories import ci

    b_service = ci(world.cast.org_b, "B service", "business_service")
    assert_error(
        agent.get("/sla/chain", {"organization": org_a, "service": b_service.pk}), 422, "service"
    )
    assert_error(agent.get("/sla/chain", {}), 422, "organization")


def test_attribution_api(world, client):
    incident = breached_ticket(world)
    resp = ApiClient(client, world.cast.agent).get(f"/incidents/{incident.pk}/sla/attribution")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["number"] == incident.number
    [clock] = [c for c in body["clocks"] if c["metric"] == "resolution"]
    assert clock["breached"] is True
    assert clock["culprit"] == "Network" and clock["first_over"] == "Network"
    assert clock["summary"] == (
        "Network held it 6 h 10 min of the 8 h; its OLA of 4 h was breached by 2 h 10 min."
    )
    network = next(s for s in clock["shares"] if s["name"] == "Network")
    assert (network["team"], network["over_seconds"]) == (world.network.pk, 130 * 60)
    assert network["agreement_name"] == "Network repairs"
    fibre = next(s for s in clock["shares"] if s["kind"] == "supplier")
    assert (fibre["vendor_id"], fibre["seconds"]) == (world.fibreco.pk, 7200)


def test_attribution_api_is_404_for_requesters_and_other_organisations(world, client):
    incident = breached_ticket(world)
    incident.requester = world.cast.requester
    incident.save()
    path = f"/incidents/{incident.pk}/sla/attribution"
    # The requester may see the ticket itself, not who consumed its time.
    assert (
        ApiClient(client, world.cast.requester).get(f"/incidents/{incident.pk}").status_code == 200
    )
    assert_error(ApiClient(client, world.cast.requester).get(path), 404)
    assert_error(ApiClient(client, world.cast.agent_b).get(path), 404)
    assert_error(
        ApiClient(client, world.cast.agent).get("/incidents/999999999/sla/attribution"), 404
    )


# --- pages ----------------------------------------------------------------------------------


def test_matrix_page_and_detail(world):
    client = client_for(world.cast.manager)
    page = client.get("/sla/chain/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Services \u00d7 priorities" in html
    assert f'href="/sla/chain/{world.email.pk}/p2/"' in html
    assert "no OLA: Database" in html
    detail = client.get(f"/sla/chain/{world.payroll.pk}/p2/")
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "Does not fit" in html
    assert "Service Desk A → Network" in html
    assert 'class="chart chain-chart chain-late"' in html
    assert "SLA due" in html
    filtered = client.get("/sla/chain/", {"service": world.email.pk, "priority": 2})
    html = filtered.content.decode()
    assert f'href="/sla/chain/{world.email.pk}/p2/"' in html
    assert f'href="/sla/chain/{world.payroll.pk}/p2/"' not in html
    assert client.get("/sla/chain/", {"priority": "x"}).status_code == 400
    assert client.get(f"/sla/chain/{world.payroll.pk}/p1/").status_code == 404
    assert client.get("/sla/chain/all/p2/").status_code == 404


def test_pages_are_not_for_requesters_or_other_organisations(world):
    assert client_for(world.cast.requester).get("/sla/chain/").status_code == 403
    b = client_for(world.cast.agent_b)
    assert b.get(f"/sla/chain/{world.payroll.pk}/p2/").status_code == 404


def test_incident_panel_shows_where_the_time_went(world):
    incident = breached_ticket(world)
    html = client_for(world.cast.agent).get(f"/desk/incidents/{incident.pk}/").content.decode()
    assert "Where the time went" in html
    assert (
        "Network held it 6 h 10 min of the 8 h; its OLA of 4 h was breached by 2 h 10 min." in html
    )
    assert "First to exceed its own target: Network" in html


def test_no_panel_for_a_ticket_within_its_sla(world):
    from opsdesk.sla.clocks import recompute_incidents
    from opsdesk.sla.tests.test_chain import NOW, _handled

    incident = _handled(world, world.email, world.desk)
    recompute_incidents([incident], now=NOW, live=False)
    html = client_for(world.cast.agent).get(f"/desk/incidents/{incident.pk}/").content.decode()
    assert "Where the time went" not in html
