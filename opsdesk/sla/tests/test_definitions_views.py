"""Definition pages: the list grouped by kind, a definition's page, the editor (admins only)
saving through the actions, and its preview."""

from __future__ import annotations

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.models import BusinessCalendar
from opsdesk.sla import definition_actions as actions
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


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def login(client, user):  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


def office(org):  # type: ignore[no-untyped-def]
    return BusinessCalendar.objects.create(
        organization=org,
        name="Johannesburg office",
        time_zone="Africa/Johannesburg",
        working_hours={d: [["08:00", "17:00"]] for d in WEEKDAYS},
        holiday_country="ZA",
        is_default=True,
    )


def form_data(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "name": "Gold",
        "kind": "sla",
        "is_active": "on",
        "response_2_h": "0",
        "response_2_m": "30",
        "resolution_2_h": "8",
        "warning_thresholds": "50, 75, 90",
        "pause_when": ["on_hold:awaiting_requester"],
        "stop_when": ["resolved", "closed", "cancelled"],
        "cond-0-field": "",
        "cond-0-op": "eq",
        "cond-0-value": "",
        "esc-0-at": "90",
        "esc-0-action": "notify",
        "esc-0-to": "group_manager",
        "esc-0-team": "",
    }
    data.update(overrides)
    return data


def test_list_groups_by_kind_with_targets(cast, client):
    vendor = create_vendor(acting_user=cast.admin, organization=cast.org_a, name="Fibre Co")
    for name, kind, extra in (
        ("Gold", "sla", {}),
        ("Desk OLA", "ola", {"team": cast.team_a}),
        ("Fibre UC", "uc", {"vendor": vendor}),
    ):
        actions.create_definition(
            acting_user=cast.admin,
            organization=cast.org_a,
            name=name,
            kind=kind,
            response_minutes={"1": 15},
            resolution_minutes={"1": 240},
            **extra,
        )
    actions.create_definition(
        acting_user=cast.admin_b,
        organization=cast.org_b,
        name="B's secret SLA",
        resolution_minutes={"1": 60},
    )
    page = login(client, cast.agent).get("/sla/definitions/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in (
        "Service level agreements",
        "Operational level agreements",
        "Underpinning contracts",
    ):
        assert text in html
    assert "Gold" in html and "Desk OLA" in html and "Fibre UC" in html
    assert "15 min" in html and "4 h" in html
    assert "B&#x27;s secret SLA" not in html and "B's secret SLA" not in html
    assert "New definition" not in html  # agents read only


def test_detail_shows_rules_clocks_and_recomputations(cast, client):
    definition = actions.create_definition(
        acting_user=cast.admin,
        organization=cast.org_a,
        name="Gold",
        resolution_minutes={"2": 480},
        escalations=[{"at": 100, "action": "reassign", "team": cast.team_a.pk}],
    )
    page = login(client, cast.manager).get(f"/sla/definitions/{definition.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "reassign to Service Desk A" in html
    assert "SLA &#x27;Gold&#x27; added (version 1)" in html
    assert "<svg" in html
    other = actions.create_definition(
        acting_user=cast.admin_b, organization=cast.org_b, name="B", resolution_minutes={"1": 5}
    )
    assert client.get(f"/sla/definitions/{other.pk}/").status_code == 404


def test_only_admins_edit(cast, client):
    login(client, cast.manager)
    assert client.get("/sla/definitions/new/").status_code == 403
    assert client.post("/sla/definitions/new/", form_data()).status_code == 403
    assert not Definition.objects.exists()


def test_the_editor_creates_and_updates(cast, client):
    office(cast.org_a)
    mail = ci(cast.org_a, "Mail", "business_service")
    login(client, cast.admin)
    assert client.get("/sla/definitions/new/").status_code == 200
    resp = client.post("/sla/definitions/new/", form_data(services=[str(mail.pk)]))
    assert resp.status_code == 302, resp.content.decode()[-3000:]
    definition = Definition.objects.get(name="Gold")
    assert definition.response_minutes == {"2": 30}
    assert definition.resolution_minutes == {"2": 480}
    assert definition.escalations == [{"at": 90, "action": "notify", "to": "group_manager"}]
    assert list(definition.services.all()) == [mail]
    page = client.get(f"/sla/definitions/{definition.pk}/edit/")
    html = page.content.decode()
    assert page.status_code == 200 and 'value="480"' not in html and 'value="8"' in html
    resp = client.post(
        f"/sla/definitions/{definition.pk}/edit/",
        form_data(resolution_2_h="16", services=[str(mail.pk)], **{"esc-0-action": ""}),
    )
    assert resp.status_code == 302
    definition.refresh_from_db()
    assert definition.version == 2 and definition.resolution_minutes == {"2": 960}
    assert definition.escalations == []
    assert "resolution_minutes, escalations" in Recompute.objects.order_by("-at", "-pk")[0].reason


def test_the_editor_shows_errors_by_field(cast, client):
    login(client, cast.admin)
    resp = client.post(
        "/sla/definitions/new/", form_data(kind="ola", resolution_2_h="", response_2_m="")
    )
    assert resp.status_code == 422
    html = resp.content.decode()
    assert 'id="error-team"' in html
    assert not Definition.objects.exists()
    resp = client.post("/sla/definitions/new/", form_data(response_2_m="0"))
    assert 'id="error-response_minutes"' in resp.content.decode()


def test_preview_of_the_edited_definition(cast, client):
    office(cast.org_a)
    login(client, cast.admin)
    data = form_data(preview_priority="2", preview_opened_at="2026-11-20T15:00")
    resp = client.post("/sla/definitions/preview/", data)
    html = resp.content.decode()
    assert resp.status_code == 200
    assert "Johannesburg office" in html
    assert "This ticket would be due at <strong>Mon 23 Nov 2026 14:00</strong>" in html
    assert "Fri 20 Nov 2026 15:30" in html  # the response target
    resp = client.post("/sla/definitions/preview/", form_data(kind="uc"))
    assert (
        "vendor" in resp.content.decode() and "Not yet a valid definition" in resp.content.decode()
    )
    resp = client.post(
        "/sla/definitions/preview/",
        form_data(preview_priority="4", preview_opened_at="2026-11-20T15:00"),
    )
    assert "no resolution target for P4" in resp.content.decode()
