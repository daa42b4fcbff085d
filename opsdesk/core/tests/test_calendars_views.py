"""The calendar pages: list and create, the editor (weekly ranges, holidays, members,
default), exceptions, iCalendar export and import, the preview; admins edit, everyone else
reads, other organisations get nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from opsdesk.core import calendar_actions as actions
from opsdesk.core.models import BusinessCalendar
from opsdesk.core.views_calendars import parse_ranges_text
from opsdesk.sla.models import Definition

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_compiled_calendars():
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    yield
    calendars._COMPILED.clear()


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def _office(cast, name="Johannesburg office"):
    return actions.create_calendar(
        acting_user=cast.admin,
        organization=cast.org_a,
        name=name,
        time_zone="Africa/Johannesburg",
        holiday_country="ZA",
    )


def _edit_data(calendar, **changes):
    data = {
        "name": calendar.name,
        "description": "",
        "time_zone": calendar.time_zone,
        "holiday_country": calendar.holiday_country,
        "holiday_subdivision": "",
        "combine_mode": "",
        "country": "",
        **{d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "sat": "",
        "sun": "",
    }
    data.update(changes)
    return data


def test_ranges_text():
    assert parse_ranges_text("08:00-12:00, 13:00 - 17:00") == [
        ["08:00", "12:00"],
        ["13:00", "17:00"],
    ]
    assert parse_ranges_text("") == []
    for bad in ("8-", "17:00-08:00", "08:00-12:00, 11:00-13:00", "noon"):
        with pytest.raises(ValueError):
            parse_ranges_text(bad)


def test_list_and_create(cast):
    _office(cast)
    BusinessCalendar.objects.create(organization=cast.org_b, name="B's secret hours")
    agent = client_for(cast.agent)
    page = text(agent.get("/calendars/"))
    assert "Johannesburg office" in page and "Mon-Fri 08:00-17:00" in page
    assert "B&#x27;s secret" not in page and "Create calendar" not in page
    assert agent.post("/calendars/", {"name": "Mine", "time_zone": "UTC"}).status_code == 403
    admin = client_for(cast.admin)
    resp = admin.post(
        "/calendars/", {"name": "Berlin", "time_zone": "Europe/Berlin", "holiday_country": "DE"}
    )
    made = BusinessCalendar.objects.get(name="Berlin")
    assert resp.status_code == 302 and resp["Location"] == f"/calendars/{made.pk}/"


def test_detail_shows_holidays_preview_and_readers_get_no_forms(cast):
    calendar = _office(cast)
    agent = client_for(cast.agent)
    page = text(
        agent.get(
            f"/calendars/{calendar.pk}/",
            {"year": 2026, "start": "2026-11-20T15:00", "hours": "8"},
        )
    )
    assert "National Women&#x27;s Day (observed)" in page
    assert "is due at <strong>Mon 23 Nov 2026, 14:00</strong>" in page
    assert 'class="cal-seg cal-seg-working"' in page
    assert "Edit calendar" not in page and "Add exception" not in page
    assert agent.post(f"/calendars/{calendar.pk}/edit/", _edit_data(calendar)).status_code == 403
    b_admin = client_for(cast.admin_b)
    assert b_admin.get(f"/calendars/{calendar.pk}/").status_code == 404


def test_admin_edits_hours_members_and_default(cast):
    calendar = _office(cast)
    other = _office(cast, "Durban")
    admin = client_for(cast.admin)
    resp = admin.post(
        f"/calendars/{calendar.pk}/edit/",
        _edit_data(calendar, mon="07:00-12:00, 13:00-18:00", sat="09:00-12:00", is_default="on"),
    )
    assert resp.status_code == 302
    calendar.refresh_from_db()
    assert calendar.working_hours["mon"] == [["07:00", "12:00"], ["13:00", "18:00"]]
    assert calendar.working_hours["sat"] == [["09:00", "12:00"]]
    assert calendar.is_default and calendar.version == 2
    # Bad input comes back as a message naming the field; nothing changes.
    resp = admin.post(
        f"/calendars/{calendar.pk}/edit/",
        _edit_data(calendar, holiday_subdivision="QQ"),
        follow=True,
    )
    assert "holiday subdivision: &#x27;QQ&#x27; is not a subdivision of ZA" in text(resp)
    resp = admin.post(
        f"/calendars/{calendar.pk}/edit/", _edit_data(calendar, tue="17-8"), follow=True
    )
    assert "Tuesday:" in text(resp)
    calendar.refresh_from_db()
    assert calendar.version == 2
    combined = actions.create_calendar(
        acting_user=cast.admin, organization=cast.org_a, name="Both", time_zone="UTC"
    )
    admin.post(
        f"/calendars/{combined.pk}/edit/",
        _edit_data(combined, combine_mode="union", members=[str(calendar.pk), str(other.pk)]),
    )
    assert set(combined.members.all()) == {calendar, other}


def test_exceptions_export_import_and_delete(cast):
    calendar = _office(cast)
    admin = client_for(cast.admin)
    admin.post(
        f"/calendars/{calendar.pk}/exceptions/",
        {"date": "2026-12-24", "name": "Christmas Eve", "hours": "08:00-12:00"},
    )
    row = calendar.exceptions.get()
    assert row.hours == [["08:00", "12:00"]]
    page = text(admin.get(f"/calendars/{calendar.pk}/"))
    assert "Christmas Eve" in page and "08:00-12:00" in page
    export = admin.get(f"/calendars/{calendar.pk}/export.ics", {"from_year": 2026})
    assert export["Content-Type"].startswith("text/calendar")
    ics = export.content
    admin.post(f"/calendars/{calendar.pk}/exceptions/{row.pk}/remove/")
    assert not calendar.exceptions.exists()
    upload = SimpleUploadedFile("office.ics", ics, content_type="text/calendar")
    resp = admin.post(f"/calendars/{calendar.pk}/import/", {"file": upload}, follow=True)
    assert "Imported office.ics: 1 created, 0 updated" in text(resp)
    assert calendar.exceptions.get().hours == [["08:00", "12:00"]]
    Definition.objects.create(organization=cast.org_a, name="Gold", calendar=calendar)
    resp = admin.post(f"/calendars/{calendar.pk}/delete/", follow=True)
    assert "service-level definition(s) Gold" in text(resp)
    Definition.objects.all().delete()
    resp = admin.post(f"/calendars/{calendar.pk}/delete/")
    assert resp.status_code == 302 and not BusinessCalendar.objects.filter(pk=calendar.pk).exists()
