"""Windows API, a change's conflicts, the change calendar, the iCalendar feed and the calendar
pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from opsdesk.changes import window_actions
from opsdesk.changes.choices import WindowKind
from opsdesk.changes.models import ChangeWindow
from opsdesk.changes.tests import factories
from opsdesk.changes.tests.factories import topology, when
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.core.testing.factories import token_for

pytestmark = pytest.mark.django_db


def iso(dt: datetime) -> str:
    return dt.isoformat()


def freeze(cast, org=None, **fields):  # type: ignore[no-untyped-def]
    org = org or cast.org_a
    fields.setdefault("name", "Quarter-end freeze")
    fields.setdefault("starts_at", when(2, hour=0))
    fields.setdefault("ends_at", fields["starts_at"] + timedelta(days=3))
    fields.setdefault("kind", WindowKind.FREEZE)
    user = cast.manager if org == cast.org_a else cast.admin_b
    return window_actions.create_window(acting_user=user, organization=org, **fields)


# --- Windows ----------------------------------------------------------------------------------


def test_manager_creates_lists_patches_and_retires_windows(cast, client):
    cis = topology(cast.org_a)
    api = ApiClient(client, cast.manager)
    start = datetime(2026, 1, 4, 2, 0, tzinfo=UTC)
    body = {
        "organization_id": cast.org_a.pk,
        "name": "Sunday patching",
        "starts_at": iso(start),
        "ends_at": iso(start + timedelta(hours=4)),
        "rrule": "FREQ=WEEKLY;BYDAY=SU",
        "service_ids": [cis["banking"].pk],
    }
    resp = api.post("/maintenance-windows", body)
    assert resp.status_code == 201, resp.content
    made = resp.json()
    assert made["kind"] == "maintenance" and made["services"][0]["name"] == "Online Banking"
    # Not a freeze window: the freeze path does not know it.
    assert_error(api.get(f"/freeze-windows/{made['id']}"), 404)
    listed = api.get(
        "/maintenance-windows",
        {
            "organization_id": cast.org_a.pk,
            "from": "2026-02-01T00:00:00Z",
            "to": "2026-02-08T00:00:00Z",
        },
    ).json()
    assert [w["id"] for w in listed["items"]] == [made["id"]]
    # A period before it started has no occurrence.
    empty = api.get(
        "/maintenance-windows", {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}
    )
    assert empty.json()["items"] == []
    resp = api.patch(
        f"/maintenance-windows/{made['id']}", {"name": "Sunday window", "service_ids": []}
    )
    assert resp.status_code == 200 and resp.json()["name"] == "Sunday window"
    assert resp.json()["services"] == []
    resp = api.delete(f"/maintenance-windows/{made['id']}")
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    assert api.get("/maintenance-windows").json()["items"] == []
    assert len(api.get("/maintenance-windows", {"include_retired": True}).json()["items"]) == 1
    assert_error(api.patch(f"/maintenance-windows/{made['id']}", {"name": "x"}), 409)


def test_window_bad_input_names_the_field(cast, client):
    cis = topology(cast.org_a)
    api = ApiClient(client, cast.manager)
    start = when(2)
    base = {
        "organization_id": cast.org_a.pk,
        "name": "Freeze",
        "starts_at": iso(start),
        "ends_at": iso(start + timedelta(hours=1)),
    }
    assert_error(api.post("/freeze-windows", {**base, "ends_at": iso(start)}), 422, "ends_at")
    assert_error(api.post("/freeze-windows", {**base, "rrule": "FREQ=SOMETIMES"}), 422, "rrule")
    assert_error(
        api.post("/freeze-windows", {**base, "service_ids": [cis["app_srv"].pk]}),
        422,
        "service_ids",
    )
    assert_error(api.post("/freeze-windows", {**base, "service_ids": [999999]}), 422, "service_ids")
    assert_error(api.post("/freeze-windows", {**base, "name": ""}), 422, "name")
    assert_error(
        api.get("/freeze-windows", {"from": iso(start), "to": iso(start - timedelta(days=1))}),
        422,
        "to",
    )
    # Agents read windows but do not write them.
    agent = ApiClient(client, cast.agent)
    assert_error(agent.post("/freeze-windows", base), 403)
    assert agent.get("/freeze-windows").status_code == 200


def test_windows_of_another_organisation_are_invisible(cast, client):
    b_window = freeze(cast, org=cast.org_b, name="B freeze")
    freeze(cast, name="A freeze")
    api = ApiClient(client, cast.admin)
    names = [w["name"] for w in api.get("/freeze-windows").json()["items"]]
    assert names == ["A freeze"]
    assert_error(api.get(f"/freeze-windows/{b_window.pk}"), 404)
    assert_error(api.patch(f"/freeze-windows/{b_window.pk}", {"name": "mine"}), 404)
    assert_error(api.delete(f"/freeze-windows/{b_window.pk}"), 404)
    b_window.refresh_from_db()
    assert b_window.is_active and b_window.name == "B freeze"
    body = {
        "organization_id": cast.org_b.pk,
        "name": "Intruder",
        "starts_at": iso(when(1)),
        "ends_at": iso(when(2)),
    }
    assert_error(api.post("/freeze-windows", body), 404)
    assert not ChangeWindow.objects.filter(name="Intruder").exists()


# --- Conflicts and the calendar ---------------------------------------------------------------


def test_conflicts_of_a_change_are_computed_live(cast, client):
    cis = topology(cast.org_a)
    other = factories.change(cast, title="Reboot the app server", cis=[cis["app_srv"]])
    c = factories.change(cast, cis=[cis["app"]])
    f = freeze(cast, name="Quarter-end freeze", starts_at=when(3, hour=0), ends_at=when(4, hour=0))
    api = ApiClient(client, cast.agent)
    body = api.get(f"/changes/{c.pk}/conflicts").json()
    kinds = {x["kind"]: x for x in body["conflicts"]}
    assert kinds["dependent_ci"]["change_number"] == other.number
    assert "bank-app runs on app-srv-01" in kinds["dependent_ci"]["reason"]
    assert kinds["freeze"]["window_id"] == f.pk
    assert [x["name"] for x in body["freezes"]] == ["Quarter-end freeze"]
    assert body["in_maintenance_window"] is None
    b_change = factories.change(cast, org=cast.org_b)
    assert_error(api.get(f"/changes/{b_change.pk}/conflicts"), 404)


def test_change_calendar_lists_changes_and_window_occurrences(cast, client):
    cis = topology(cast.org_a)
    c = factories.change(cast, cis=[cis["db"]], planned_start=when(3), planned_end=when(3, hour=12))
    start = when(0, hour=1)
    window_actions.create_window(
        acting_user=cast.manager,
        organization=cast.org_a,
        kind=WindowKind.MAINTENANCE,
        name="Nightly",
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        rrule="FREQ=DAILY",
    )
    factories.change(cast, org=cast.org_b, planned_start=when(3), planned_end=when(3, hour=12))
    api = ApiClient(client, cast.agent)
    params = {
        "organization_id": cast.org_a.pk,
        "from": iso(when(0, hour=0)),
        "to": iso(when(7, hour=0)),
    }
    body = api.get("/change-calendar", params).json()
    assert [x["number"] for x in body["changes"]] == [c.number]
    assert body["changes"][0]["cis"] == ["bank-db"]
    assert [w["name"] for w in body["windows"]] == ["Nightly"] * 7
    assert body["windows"][0]["recurring"] is True and body["from"] and body["to"]
    assert_error(api.get("/change-calendar", {**params, "organization_id": cast.org_b.pk}), 404)
    assert_error(api.get("/change-calendar", {**params, "to": iso(when(500))}), 422, "to")
    assert_error(api.get("/change-calendar", {"organization_id": cast.org_a.pk}), 422)


# --- The iCalendar feed -----------------------------------------------------------------------


def test_the_feed_is_authenticated_by_token_and_parses_back(cast, client):
    cis = topology(cast.org_a)
    c = factories.change(cast, cis=[cis["db"], cis["db_srv"]])
    start = datetime(2026, 1, 4, 1, 0, tzinfo=UTC)
    window_actions.create_window(
        acting_user=cast.manager,
        organization=cast.org_a,
        kind=WindowKind.MAINTENANCE,
        name="Sunday patching",
        starts_at=start,
        ends_at=start + timedelta(hours=4),
        rrule="FREQ=WEEKLY;BYDAY=SU",
    )
    freeze(cast, name="Quarter-end freeze")
    factories.change(cast, org=cast.org_b, title="B's secret change")
    url = f"/changes/calendar/feed/{cast.org_a.slug}.ics"

    assert client.get(url).status_code == 401
    assert client.get(url, {"token": "opsd_not-a-token"}).status_code == 401
    resp = client.get(url, {"token": token_for(cast.agent)})
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(resp.content)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    event = events[f"change-{c.pk}@{cast.org_a.slug}.opsdesk"]
    assert str(event["SUMMARY"]) == f"{c.number} {c.title}"
    assert event.decoded("DTSTART") == c.planned_start
    description = str(event["DESCRIPTION"])
    assert "Type: Normal" in description and "State: New" in description
    assert "CIs: bank-db, db-srv-01" in description and "Risk: " in description
    assert str(event["STATUS"]) == "TENTATIVE"
    weekly = next(
        e for e in events.values() if str(e["SUMMARY"]) == "Maintenance window: Sunday patching"
    )
    assert weekly["RRULE"]["FREQ"] == ["WEEKLY"] and weekly["RRULE"]["BYDAY"] == ["SU"]
    assert "Freeze: Quarter-end freeze" in {str(e["SUMMARY"]) for e in events.values()}
    assert "B's secret" not in resp.content.decode()
    # Another organisation's slug: 404, the same as one that does not exist.
    assert (
        client.get(
            f"/changes/calendar/feed/{cast.org_b.slug}.ics", {"token": token_for(cast.agent)}
        ).status_code
        == 404
    )
    assert (
        client.get(
            "/changes/calendar/feed/nowhere.ics", {"token": token_for(cast.agent)}
        ).status_code
        == 404
    )
    # A browser session may download it without a token.
    client.force_login(cast.manager)
    assert client.get(url).status_code == 200


def test_a_revoked_token_no_longer_opens_the_feed(cast, client):
    from opsdesk.accounts.actions import create_api_token, revoke_api_token

    token, raw = create_api_token(acting_user=cast.agent, name="feed")
    url = f"/changes/calendar/feed/{cast.org_a.slug}.ics"
    assert client.get(url, {"token": raw}).status_code == 200
    revoke_api_token(acting_user=cast.agent, token=token)
    assert client.get(url, {"token": raw}).status_code == 401


# --- Pages ------------------------------------------------------------------------------------


def test_month_and_week_pages_show_changes_and_windows(cast, client):
    cis = topology(cast.org_a)
    c = factories.change(cast, title="Patch the DB server", cis=[cis["db_srv"]])
    freeze(cast, name="Quarter-end freeze")
    client.force_login(cast.agent)
    month = f"{c.planned_start:%Y-%m}"
    page = client.get("/changes/calendar/", {"month": month}).content.decode()
    assert c.number in page and f'href="/changes/{c.pk}/"' in page
    assert "Quarter-end freeze" in page and "cal-frozen" in page
    week = client.get("/changes/calendar/week/", {"week": c.planned_start.date().isoformat()})
    assert week.status_code == 200 and c.number in week.content.decode()
    # Garbage navigation falls back to today.
    assert client.get("/changes/calendar/", {"month": "nope"}).status_code == 200


def test_managers_edit_windows_in_the_page_and_agents_only_read(cast, client):
    cis = topology(cast.org_a)
    client.force_login(cast.manager)
    resp = client.post(
        "/changes/calendar/windows/",
        {
            "kind": "freeze",
            "name": "Year-end freeze",
            "starts_at": "2030-12-20T18:00",
            "ends_at": "2030-12-20T17:00",
            "services": [cis["banking"].pk],
        },
    )
    assert resp.status_code == 422 and "must end after it starts" in resp.content.decode()
    resp = client.post(
        "/changes/calendar/windows/",
        {
            "kind": "freeze",
            "name": "Year-end freeze",
            "starts_at": "2030-12-20T18:00",
            "ends_at": "2031-01-02T06:00",
            "services": [cis["banking"].pk],
        },
    )
    assert resp.status_code == 302
    w = ChangeWindow.objects.get(name="Year-end freeze")
    # Entered in the organisation's time zone (Africa/Johannesburg, UTC+2).
    assert w.starts_at == datetime(2030, 12, 20, 16, 0, tzinfo=UTC)
    assert list(w.services.all()) == [cis["banking"]]
    page = client.get("/changes/calendar/windows/").content.decode()
    assert "Year-end freeze" in page and "Online Banking" in page
    resp = client.post(f"/changes/calendar/windows/{w.pk}/retire/")
    assert resp.status_code == 302
    w.refresh_from_db()
    assert not w.is_active
    client.force_login(cast.agent)
    assert (
        client.post("/changes/calendar/windows/", {"kind": "freeze", "name": "x"}).status_code
        == 403
    )
    assert "New window" not in client.get("/changes/calendar/windows/").content.decode()
    other = freeze(cast, name="Other freeze")
    assert client.get(f"/changes/calendar/windows/{other.pk}/").status_code == 404
    assert client.post(f"/changes/calendar/windows/{other.pk}/retire/").status_code == 404
    b_window = freeze(cast, org=cast.org_b, name="B freeze")
    client.force_login(cast.manager)
    assert client.get(f"/changes/calendar/windows/{b_window.pk}/").status_code == 404
    page = client.get(f"/changes/calendar/windows/{other.pk}/")
    assert page.status_code == 200 and "Other freeze" in page.content.decode()
    resp = client.post(
        f"/changes/calendar/windows/{other.pk}/",
        {
            "kind": "freeze",
            "name": "Other freeze",
            "starts_at": "2030-12-20T18:00",
            "ends_at": "2030-12-21T06:00",
            "rrule": "FREQ=HOURLY",
        },
    )
    assert resp.status_code == 422 and "FREQ must be one of" in resp.content.decode()


def test_the_subscribe_link_carries_a_new_personal_token(cast, client):
    client.force_login(cast.agent)
    page = client.post("/changes/calendar/feed-token/").content.decode()
    assert f"/changes/calendar/feed/{cast.org_a.slug}.ics?token=opsd_" in page
    raw = page.split("?token=")[1].split("<")[0]
    client.logout()
    assert (
        client.get(f"/changes/calendar/feed/{cast.org_a.slug}.ics", {"token": raw}).status_code
        == 200
    )


def test_the_change_page_lists_conflicts_and_windows(cast, client):
    from opsdesk.changes.sections import sections_for

    cis = topology(cast.org_a)
    other = factories.change(cast, title="Reboot the app server", cis=[cis["app_srv"]])
    c = factories.change(cast, cis=[cis["app"]])
    freeze(cast, name="Quarter-end freeze", starts_at=when(3, hour=0), ends_at=when(4, hour=0))
    section = next(s for s in sections_for(cast.agent, c) if s.title.startswith("Conflicts"))
    assert section.title == "Conflicts and windows (2)" and section.order == 30
    client.force_login(cast.agent)
    page = client.get(f"/changes/{c.pk}/").content.decode()
    assert "Conflicts and windows (2)" in page
    assert "bank-app runs on app-srv-01, changed by" in page and other.number in page
    assert "Quarter-end freeze" in page
    # No planned window: the section says so instead of inventing conflicts.
    from opsdesk.changes import actions

    bare = actions.create_change(acting_user=cast.agent, organization=cast.org_a, title="Idea")
    section = next(s for s in sections_for(cast.agent, bare) if s.title.startswith("Conflicts"))
    assert section.context["has_plan"] is False
