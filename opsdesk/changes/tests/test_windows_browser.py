"""The change calendar in a real browser: a month with a freeze window and two conflicting
changes, the week view, and a click through to the change.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_month_view_with_a_freeze_and_a_conflicting_change(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.changes import actions, window_actions, windows
    from opsdesk.changes.choices import WindowKind
    from opsdesk.changes.tests import factories
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD

    cast = make_cast()
    org = cast.org_a
    cis = factories.topology(org)
    zone = windows.zone_of(org)
    today = datetime.now(zone).date()
    # Two days of the current month, late enough that the month view shows both.
    day = today.replace(day=12)

    def at(d: int, hour: int) -> datetime:
        return datetime.combine(day + timedelta(days=d), datetime.min.time(), tzinfo=zone).replace(
            hour=hour
        )

    window_actions.create_window(
        acting_user=cast.manager,
        organization=org,
        kind=WindowKind.FREEZE,
        name="Month-end freeze",
        starts_at=at(5, 0),
        ends_at=at(12, 0),
        services=[cis["banking"]],
    )
    window_actions.create_window(
        acting_user=cast.manager,
        organization=org,
        kind=WindowKind.MAINTENANCE,
        name="Sunday patching",
        starts_at=at(-day.weekday() - 1, 2),
        ends_at=at(-day.weekday() - 1, 6),
        rrule="FREQ=WEEKLY",
    )
    server = factories.change(
        cast,
        title="Reboot the app server",
        cis=[cis["app_srv"]],
        change_manager=cast.manager,
        planned_start=at(0, 9),
        planned_end=at(0, 11),
    )
    app = factories.change(
        cast,
        title="Deploy bank-app 4.2",
        cis=[cis["app"]],
        change_manager=cast.manager,
        planned_start=at(0, 10),
        planned_end=at(0, 12),
    )
    actions.transition_change(acting_user=cast.agent, change=app, name="assess")
    actions.transition_change(acting_user=cast.agent, change=app, name="request_authorisation")
    app.refresh_from_db()
    # The app rests on the server changed at the same time; Sunday patching is org-wide.
    assert [c["kind"] for c in app.conflicts] == ["dependent_ci", "outside_maintenance"]

    context = chromium.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(f"{live_server.url}/login/", timeout=60_000)
    page.get_by_label("Email").fill(cast.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/changes/calendar/?month={day:%Y-%m}")
    expect(page.get_by_role("heading", name=f"{day:%B %Y}")).to_be_visible()
    frozen = page.locator("td.cal-frozen")
    expect(frozen).to_have_count(7)  # the 17th to the 23rd (it ends at 00:00 on the 24th)
    expect(frozen.first).to_contain_text("Month-end freeze")
    chip = page.locator(f'a.cal-chip[href="/changes/{app.pk}/"]')
    expect(chip).to_contain_text(app.number)
    expect(chip.locator(".cal-conflict-mark")).to_be_visible()
    expect(page.locator(f'a.cal-chip[href="/changes/{server.pk}/"]')).to_be_visible()
    expect(page.locator(".cal-maint-label").first).to_contain_text("Sunday patching")
    shoot(page, "changes-calendar-month")

    page.goto(f"{live_server.url}/changes/calendar/week/?week={day.isoformat()}")
    expect(page.locator(f'.cal-week a.cal-chip[href="/changes/{app.pk}/"]')).to_be_visible()
    shoot(page, "changes-calendar-week")

    page.get_by_role("link", name="Next →").click()
    expect(page.locator("rect.cal-band-freeze").first).to_be_attached()
    shoot(page, "changes-calendar-week-next")
    page.get_by_role("link", name="Today").click()
    expect(page.locator(".cal-today")).to_have_count(1)

    page.goto(f"{live_server.url}/changes/calendar/?month={day:%Y-%m}")
    page.locator(f'a.cal-chip[href="/changes/{app.pk}/"]').click()
    page.wait_for_url(f"**/changes/{app.pk}/")
    assert not problems, problems
    context.close()
