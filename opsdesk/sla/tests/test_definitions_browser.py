"""The definition editor in a real browser: an administrator writes an SLA as a person would
(targets in a per-priority grid, states as checkboxes, escalations as rows), watches the live
preview say when a Friday-afternoon P2 would be due, changes a target, sees the preview
follow, and saves.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_an_admin_writes_an_sla_with_the_live_preview(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.cmdb.tests.factories import ci
    from opsdesk.core.models import BusinessCalendar
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.sla import calendars
    from opsdesk.sla.models import Definition

    calendars._COMPILED.clear()
    cast = make_cast()
    BusinessCalendar.objects.create(
        organization=cast.org_a,
        name="Johannesburg office",
        time_zone="Africa/Johannesburg",
        working_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        holiday_country="ZA",
        country="ZA",
        is_default=True,
    )
    ci(cast.org_a, "Online banking", "business_service")
    ci(cast.org_a, "Payments", "business_service")

    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=45_000)
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

    page.goto(f"{live_server.url}/sla/definitions/")
    expect(page.get_by_role("heading", name="Service level agreements")).to_be_visible()
    page.get_by_role("link", name="New definition").click()
    expect(page.get_by_role("heading", name="New service-level definition")).to_be_visible()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("Not yet a valid definition")  # nothing filled in yet

    page.get_by_label("Name", exact=True).fill("Business services")
    page.get_by_label("Customer").fill("Retail bank")
    page.get_by_role("checkbox", name="P2", exact=True).check()
    page.get_by_role("checkbox", name="Online banking").check()
    page.get_by_label("P2 response m (minutes)").fill("30")
    page.get_by_label("P2 resolution h (hours)").fill("8")
    page.get_by_role("group", name="Pauses while").get_by_role(
        "checkbox", name="On hold: awaiting vendor"
    ).check()
    page.get_by_label("Escalation 1 at %").fill("75")
    page.get_by_label("Escalation 1 action").select_option("notify")
    page.get_by_label("Escalation 1 notifies").select_option("group_manager")

    page.get_by_label("Priority", exact=True).select_option("2")
    page.get_by_label("Opened at").fill("2026-11-20T15:00")
    page.get_by_label("Service", exact=True).select_option(label="Online banking")
    expect(preview).to_contain_text("This ticket would be due at Fri 20 Nov 2026 15:30")
    expect(preview).to_contain_text("This ticket would be due at Mon 23 Nov 2026 14:00")
    expect(preview).to_contain_text("Johannesburg office")

    # Twice the resolution target: Friday 2 h, Monday 9 h, Tuesday 5 h.
    page.get_by_label("P2 resolution h (hours)").fill("16")
    expect(preview).to_contain_text("This ticket would be due at Tue 24 Nov 2026 13:00")
    preview.get_by_text("segments walked").last.click()
    expect(preview.locator("table.sld-segments").last).to_contain_text("Outside working hours")
    # A ticket of another service: the definition would not apply.
    page.get_by_label("Service", exact=True).select_option(label="Payments")
    expect(preview).to_contain_text("is not one the definition covers")
    page.get_by_label("Service", exact=True).select_option(label="Online banking")
    expect(preview).to_contain_text("Tue 24 Nov 2026 13:00")
    preview.get_by_text("segments walked").last.click()
    expect(preview.locator("table.sld-segments").last).to_contain_text("Mon 23 Nov")
    page.mouse.wheel(0, -10_000)
    shoot(page, "sla-definition-editor", "sla-definition.png")

    page.get_by_role("button", name="Save").click()
    definition = Definition.objects.get(name="Business services")
    expect(page).to_have_url(re.compile(rf"/sla/definitions/{definition.pk}/$"))
    expect(page.get_by_role("status").filter(has_text="added")).to_be_visible()
    assert definition.resolution_minutes == {"2": 960}
    assert definition.response_minutes == {"2": 30}
    assert definition.priorities == [2]
    assert "on_hold:awaiting_vendor" in definition.pause_when
    assert definition.escalations == [{"at": 75, "action": "notify", "to": "group_manager"}]
    expect(page.get_by_role("region", name="Targets (business time)")).to_contain_text("16 h")
    shoot(page, "sla-definition-detail")
    assert not problems, problems
    context.close()
