"""The ticket-facing SLA in a real browser (Debian's Chromium driven by Playwright): the
clock panel of an incident, the explanation of its clocks, the likely-to-breach queue and
the SLA column of the desk queue.

Screenshots go to test-artifacts/screenshots/; with UPDATE_DOC_SCREENSHOTS=1 also
docs/img/sla-panel.png, sla-explain.png and sla-queue.png.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsdesk.core.testing.browser import DOC_IMG, shoot

pytestmark = pytest.mark.browser

JHB = ZoneInfo("Africa/Johannesburg")


def _setup():  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from opsdesk.core.models import BusinessCalendar
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.sla import calendars
    from opsdesk.sla.models import Clock, Definition
    from opsdesk.sla.tests.test_clocks_explain import incident_with_history, world

    calendars._COMPILED.clear()
    cast = make_cast()
    world(cast)
    Definition.objects.create(
        organization=cast.org_a,
        name="Service Desk OLA",
        kind="ola",
        team=cast.team_a,
        resolution_minutes={"1": 120, "2": 240, "3": 480},
    )
    # The worked example, resolved: Thursday before Easter, a pause, an answer, resolved on
    # the Tuesday after Family Day.
    day = datetime(2026, 4, 2, tzinfo=JHB)
    easter = incident_with_history(
        cast,
        day.replace(hour=15),
        [
            (
                day.replace(hour=15, minute=20),
                "state",
                {"to": "on_hold", "hold_reason": "awaiting_requester"},
            ),
            (
                day.replace(hour=15, minute=30),
                "assigned",
                {"group_id": cast.team_a.pk, "assignee_id": cast.agent.pk},
            ),
            (day.replace(hour=15, minute=50), "state", {"to": "in_progress"}),
            (datetime(2026, 4, 7, 11, 0, tzinfo=JHB), "state", {"to": "resolved"}),
        ],
        now=datetime(2026, 4, 8, 12, 0, tzinfo=JHB),
        title="Core banking batch overran",
    )
    now = timezone.now()
    office = BusinessCalendar.objects.get(organization=cast.org_a, is_default=True).compiled()

    def business_ago(hours: float) -> datetime:
        """The moment `hours` of office time before now (whatever day the test runs)."""
        moment = now
        while office.business_seconds(moment, now) < hours * 3600:
            moment -= timedelta(minutes=15)
        return moment

    live = []
    for title, hours, prob, assignee in (
        ("Branch VPN drops every hour", 30, None, None),
        ("Payroll export fails", 3, 0.82, cast.agent),
        ("Outlook asks for password", 1.5, 0.35, None),
        ("Printer on floor 3 jams", 0.25, None, None),
    ):
        incident = incident_with_history(
            cast,
            business_ago(hours),
            now=now,
            title=title,
            assignment_group=cast.team_a,
            assignee=assignee,
        )
        if prob is not None:
            Clock.objects.filter(subject_id=incident.pk, metric="resolution", kind="sla").update(
                breach_probability=prob, predicted_at=now
            )
        live.append(incident)
    return cast, easter, live


def _shot_of(locator, name: str) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("UPDATE_DOC_SCREENSHOTS") == "1":
        DOC_IMG.mkdir(parents=True, exist_ok=True)
        locator.screenshot(path=str(DOC_IMG / name))


def test_panel_explain_and_queue(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from opsdesk.core.testing.factories import PASSWORD

    cast, easter, live = _setup()
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=30_000)
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Email").fill(cast.agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # The desk queue: an SLA column with the most urgent clock of each incident.
    page.goto(f"{live_server.url}/desk/?tab=open")
    results = page.locator("#queue-results")
    expect(results.get_by_role("columnheader", name="SLA")).to_be_visible()
    vpn = results.locator("tr", has_text="Branch VPN drops every hour")
    expect(vpn.locator(".sla-badge")).to_have_class("sla-badge sla-breached")
    expect(vpn.locator(".sla-badge")).to_contain_text("breached")

    # The incident's panel: every clock, business time left, no wall-clock countdown.
    payroll = live[1]
    page.goto(f"{live_server.url}/desk/incidents/{payroll.pk}/")
    panel = page.locator("#sla-panel")
    expect(panel).to_contain_text("Standard support")
    expect(panel).to_contain_text("Service Desk OLA")
    expect(panel.locator(".sla-risk")).to_have_text("Breach risk 82 %")
    expect(panel.locator("[data-sla-due]")).to_have_count(0)
    expect(panel.locator(".sla-bar")).to_have_count(3)
    panel.scroll_into_view_if_needed()
    shoot(page, "sla-panel")
    _shot_of(page.locator("section.side-panel", has=panel), "sla-panel.png")

    # Explain: the clocks replayed segment by segment.
    panel.get_by_role("link", name="Explain").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(payroll.number)
    expect(page.locator(".sla-timeline").first).to_be_visible()

    page.goto(f"{live_server.url}/sla/clocks/incident/{easter.pk}/explain")
    resolution = page.locator("section.sla-explain[id$='-resolution']").first
    expect(resolution.locator("[data-sla-summary]")).to_contain_text(
        "Good Friday and Family Day skipped"
    )
    expect(resolution).to_contain_text("paused 30 min (on hold - awaiting requester)")
    expect(resolution).to_contain_text("met: stopped Tue 7 Apr 11:00")
    expect(resolution.locator(".sla-seg-holiday").first).to_be_attached()
    shoot(page, "sla-explain")
    resolution.scroll_into_view_if_needed()
    _shot_of(resolution, "sla-explain.png")

    # The likely-to-breach queue, from the panel's link.
    page.goto(f"{live_server.url}/desk/incidents/{payroll.pk}/")
    page.get_by_role("link", name="Clocks likely to breach").click()
    expect(page.get_by_role("heading", level=1, name="Clocks likely to breach")).to_be_visible()
    breached = page.locator("#sla-breached")
    expect(breached).to_contain_text("Branch VPN drops every hour")
    risk = page.locator("#sla-risk tbody tr")
    expect(risk.first).to_contain_text("Payroll export fails")
    expect(risk.first).to_contain_text("82 %")
    page.get_by_label("Kind").select_option("ola")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#sla-risk tbody tr").first).to_contain_text("Service Desk OLA")
    page.goto(f"{live_server.url}/sla/clocks/")
    shoot(page, "sla-queue", "sla-queue.png")

    assert not problems, problems
    context.close()
