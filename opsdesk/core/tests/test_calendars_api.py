"""The business-calendar API: CRUD with errors naming the field, exceptions, preview with the
worked examples, holidays with observed days, iCalendar export and import."""

from __future__ import annotations

import pytest

from opsdesk.core.models import BusinessCalendar
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.sla.models import Definition, Recompute

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_compiled_calendars():
    """Compiled calendars are cached by (id, version); test databases reuse both."""
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


OFFICE = {d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def admin(cast, client):
    return ApiClient(client, cast.admin)


def _create(api, cast, **fields):
    body = {
        "organization_id": cast.org_a.pk,
        "name": "Johannesburg office",
        "time_zone": "Africa/Johannesburg",
        "holiday_country": "ZA",
        "working_hours": OFFICE,
        **fields,
    }
    resp = api.post("/calendars", body)
    assert resp.status_code == 201, resp.content
    return resp.json()


def test_create_read_change_delete(cast, admin):
    made = _create(admin, cast, is_default=True, country="ZA")
    assert made["version"] == 1
    assert made["working_hours"]["mon"] == [["08:00", "17:00"]]
    assert made["is_default"] and made["member_ids"] == []
    path = f"/calendars/{made['id']}"
    assert admin.get(path).json()["name"] == "Johannesburg office"
    changed = admin.patch(
        path, {"working_hours": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]]}}
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["working_hours"] == {
        "mon": [["09:00", "12:00"], ["13:00", "17:00"]],
        "tue": [],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [],
        "sun": [],
    }
    assert changed.json()["version"] == 2
    assert Recompute.objects.latest("pk").reason.startswith(
        "Calendar 'Johannesburg office' changed: working hours changed"
    )
    assert admin.delete(path).status_code == 204
    assert_error(admin.get(path), 404)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"time_zone": "Mars/Base"}, "time_zone"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_country": "DE", "holiday_subdivision": "QQ"}, "holiday_subdivision"),
        ({"working_hours": {"mon": [["17:00", "08:00"]]}}, "working_hours"),
        ({"working_hours": {"mon": [["08:00"]]}}, "working_hours.mon.0"),
        ({"member_ids": [999999]}, "member_ids"),
        ({"combine_mode": "union"}, "member_ids"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(cast, admin, fields, field):
    body = {"organization_id": cast.org_a.pk, "name": "X", **fields}
    assert_error(admin.post("/calendars", body), 422, field)


def test_members_and_defaults(cast, admin):
    a = _create(admin, cast, name="A", is_default=True)
    b = _create(
        admin,
        cast,
        name="B",
        time_zone="Europe/Berlin",
        holiday_country="DE",
        holiday_subdivision="BY",
    )
    both = _create(
        admin,
        cast,
        name="Both",
        combine_mode="union",
        member_ids=[a["id"], b["id"]],
        working_hours=None,
        is_default=True,
    )
    assert both["member_ids"] == sorted([a["id"], b["id"]])
    assert admin.get(f"/calendars/{a['id']}").json()["is_default"] is False
    # A member's change bumps the combination's version too.
    before = admin.get(f"/calendars/{both['id']}").json()["version"]
    admin.patch(f"/calendars/{b['id']}", {"holiday_subdivision": "BE"})
    assert admin.get(f"/calendars/{both['id']}").json()["version"] == before + 1
    assert_error(
        admin.patch(f"/calendars/{a['id']}", {"combine_mode": "union", "member_ids": [both["id"]]}),
        422,
        "member_ids",
    )
    # B of another organisation is not a member candidate.
    b_cal = BusinessCalendar.objects.create(organization=cast.org_b, name="B's")
    assert_error(
        admin.patch(f"/calendars/{both['id']}", {"member_ids": [b_cal.pk]}), 422, "member_ids"
    )
    # Deleting a member is refused, naming the combination.
    body = assert_error(admin.delete(f"/calendars/{a['id']}"), 409)
    assert "Both" in body["detail"]


def test_deleting_a_calendar_of_a_definition_is_a_409_naming_it(cast, admin):
    made = _create(admin, cast)
    Definition.objects.create(organization=cast.org_a, name="Gold support", calendar_id=made["id"])
    body = assert_error(admin.delete(f"/calendars/{made['id']}"), 409, "calendar_id")
    assert "Gold support" in body["detail"]


def test_readers_read_and_only_admins_write(cast, client, admin):
    made = _create(admin, cast)
    agent = ApiClient(client, cast.agent)
    assert agent.get(f"/calendars/{made['id']}").status_code == 200
    assert [c["id"] for c in agent.get("/calendars").json()["items"]] == [made["id"]]
    assert_error(agent.patch(f"/calendars/{made['id']}", {"name": "Mine"}), 403)
    assert_error(
        agent.post(f"/calendars/{made['id']}/exceptions", {"date": "2026-12-24", "name": "x"}),
        403,
    )
    assert_error(agent.post("/calendars", {"organization_id": cast.org_a.pk, "name": "Y"}), 403)


def test_exceptions_add_change_remove(cast, admin):
    made = _create(admin, cast)
    path = f"/calendars/{made['id']}/exceptions"
    resp = admin.post(path, {"date": "2026-12-24", "name": "Christmas Eve"})
    assert resp.status_code == 201
    assert resp.json()["closed"] is True
    resp = admin.post(
        path, {"date": "2026-12-24", "name": "Christmas Eve", "hours": [["08:00", "12:00"]]}
    )
    assert resp.status_code == 200
    assert resp.json()["hours"] == [["08:00", "12:00"]] and not resp.json()["closed"]
    assert_error(
        admin.post(path, {"date": "2026-12-31", "name": "x", "hours": [["9", "8"]]}), 422, "hours"
    )
    listed = admin.get(path).json()
    assert [e["date"] for e in listed] == ["2026-12-24"]
    assert admin.get(f"/calendars/{made['id']}").json()["version"] == 3
    assert admin.delete(f"{path}/{listed[0]['id']}").status_code == 204
    assert admin.get(path).json() == []


def test_preview_gives_the_worked_examples_with_the_segments(cast, admin):
    made = _create(admin, cast)
    path = f"/calendars/{made['id']}/preview"
    friday = admin.get(path, {"start": "2026-11-20T15:00:00+02:00", "hours": 8}).json()
    assert friday["due_local"] == "2026-11-23T14:00:00+02:00"
    labels = [(s["kind"], s["label"]) for s in friday["segments"]]
    assert labels == [
        ("working", "Working time"),
        ("outside_hours", "Outside working hours"),  # Friday evening
        ("outside_hours", "Non-working day"),  # the weekend
        ("outside_hours", "Outside working hours"),  # Monday before 08:00
        ("working", "Working time"),
    ]
    assert sum(s["seconds"] for s in friday["segments"] if s["kind"] == "working") == 8 * 3600
    easter = admin.get(path, {"start": "2026-04-02T15:00:00+02:00", "hours": 8}).json()
    assert easter["due_local"] == "2026-04-07T14:00:00+02:00"
    holidays = [s["label"] for s in easter["segments"] if s["kind"] == "holiday"]
    assert holidays == ["Good Friday", "Family Day"]
    assert_error(admin.get(path, {"hours": -1}), 422, "hours")
    assert_error(admin.get(path, {"start": "yesterday"}), 422, "start")


def test_a_calendar_without_working_time_previews_as_a_422(cast, admin):
    made = _create(admin, cast, working_hours={})
    assert_error(admin.get(f"/calendars/{made['id']}/preview", {"hours": 1}), 422, "hours")


def test_holidays_include_observed_days(cast, admin):
    made = _create(admin, cast)
    items = admin.get(f"/calendars/{made['id']}/holidays", {"year": 2026}).json()
    by_date = {h["date"]: h for h in items}
    assert by_date["2026-08-09"]["weekday"] == "Sunday"
    assert by_date["2026-08-10"]["observed"] is True
    assert by_date["2026-08-10"]["name"] == "National Women's Day (observed)"
    assert all(h["date"].startswith("2026-") for h in items)
    assert_error(admin.get(f"/calendars/{made['id']}/holidays", {"year": 99999}), 422, "year")


def test_list_filters_by_organisation(cast, client, admin):
    _create(admin, cast)
    BusinessCalendar.objects.create(organization=cast.org_b, name="B's")
    items = admin.get("/calendars").json()["items"]
    assert {c["organization_id"] for c in items} == {cast.org_a.pk}
    assert admin.get("/calendars", {"organization": cast.org_b.pk}).json()["items"] == []
    b_items = ApiClient(client, cast.admin_b).get("/calendars").json()["items"]
    assert [c["name"] for c in b_items] == ["B's"]


def test_ical_export_and_import(cast, admin):
    made = _create(admin, cast)
    admin.post(f"/calendars/{made['id']}/exceptions", {"date": "2026-12-24", "name": "Eve"})
    resp = admin.get(f"/calendars/{made['id']}/ical", {"from_year": 2026, "to_year": 2026})
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/calendar")
    text = resp.content.decode()
    assert "X-WR-TIMEZONE:Africa/Johannesburg" in text
    assert "SUMMARY:National Women's Day (observed)" in text
    assert_error(
        admin.get(f"/calendars/{made['id']}/ical", {"from_year": 2026, "to_year": 2040}),
        422,
        "to_year",
    )
    other = _create(admin, cast, name="Copy")
    report = admin.post(f"/calendars/{other['id']}/ical", {"ics": text}).json()
    assert [c["date"] for c in report["created"]] == ["2026-12-24"]
    assert all("public holiday" in s["reason"] for s in report["skipped"])
    again = admin.post(f"/calendars/{other['id']}/ical", {"ics": text}).json()
    assert again["created"] == [] and again["updated"] == []
    assert_error(admin.post(f"/calendars/{other['id']}/ical", {"ics": "nonsense"}), 422, "ics")
