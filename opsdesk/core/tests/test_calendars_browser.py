"""The calendar editor in a real browser: an admin changes the weekly hours (two ranges on a
day), adds a closed day, and previews the Thursday-before-Easter example with its timeline.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/ (and with
UPDATE_DOC_SCREENSHOTS=1 to docs/img/sla-calendar.png).
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_an_admin_edits_a_calendar_and_previews_a_due_time(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.core import calendar_actions as actions
    from opsdesk.core.models import BusinessCalendar
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.sla import calendars

    calendars._COMPILED.clear()
    cast = make_cast()
    calendar = actions.create_calendar(
        acting_user=cast.admin,
        organization=cast.org_a,
        name="Johannesburg office",
        description="Service desk hours in South Africa.",
        time_zone="Africa/Johannesburg",
        holiday_country="ZA",
        country="ZA",
        is_default=True,
    )

    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(cast.admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/calendars/")
    page.get_by_role("link", name="Johannesburg office").click()
    expect(page.get_by_role("heading", name="Johannesburg office", level=1)).to_be_visible()

    # Two ranges on Monday (a lunch break); the hours are saved and the version bumped.
    editor = page.get_by_role("region", name="Edit calendar")
    editor.get_by_label("Monday").fill("08:00-12:00, 13:00-17:00")
    editor.get_by_role("button", name="Save calendar").click()
    expect(page.get_by_role("status").filter(has_text="saved (version 2)")).to_be_visible()
    week = page.get_by_role("region", name="Working week")
    expect(week).to_contain_text("08:00-12:00, 13:00-17:00")

    # A closed day.
    exceptions = page.get_by_role("region", name="Exceptions")
    exceptions.get_by_label("Date").fill("2026-12-24")
    exceptions.get_by_label("Reason").fill("Christmas Eve")
    exceptions.get_by_role("button", name="Add exception").click()
    expect(page.get_by_role("status").filter(has_text="Exception added")).to_be_visible()
    expect(page.get_by_role("region", name="Exceptions")).to_contain_text("Christmas Eve")

    # The preview: Thursday before Easter, 15:00, 8 business hours -> Tuesday 14:00.
    preview = page.get_by_role("region", name="Preview")
    preview.get_by_label("Business hours of work").fill("8")
    preview.get_by_label(re.compile("Starting at")).fill("2026-04-02T15:00")
    preview.get_by_role("button", name="Compute due time").click()
    preview = page.get_by_role("region", name="Preview")
    expect(preview).to_contain_text("is due at Tue 7 Apr 2026, 14:00")
    expect(preview).to_contain_text("Good Friday")
    expect(preview).to_contain_text("Family Day")
    expect(preview.get_by_role("img", name=re.compile("Timeline"))).to_be_visible()
    expect(page.get_by_role("region", name=re.compile("Public holidays"))).to_contain_text(
        "Freedom Day"
    )
    page.get_by_role("heading", name="Johannesburg office", level=1).scroll_into_view_if_needed()
    shoot(page, "sla-calendar", "sla-calendar.png")

    calendar = BusinessCalendar.objects.get(pk=calendar.pk)
    assert calendar.working_hours["mon"] == [["08:00", "12:00"], ["13:00", "17:00"]]
    assert calendar.version == 3
    assert not problems, problems
    context.close()
