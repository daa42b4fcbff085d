"""A change in a real browser: an agent raises a normal change, picks its CI from the CMDB
with the search, starts the assessment and reads the change page (plan, CI, badges, the
next steps, the timeline in sentences).

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_an_agent_raises_and_assesses_a_normal_change(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.changes.models import Change
    from opsdesk.changes.tests.factories import topology, when
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD

    cast = make_cast()
    topology(cast.org_a)
    start = when(4).astimezone(__import__("zoneinfo").ZoneInfo(cast.org_a.time_zone or "UTC"))

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
    page.get_by_label("Email").fill(cast.agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Changes").click()
    expect(page.get_by_role("heading", name="Changes", exact=True)).to_be_visible()
    page.get_by_role("link", name="New change").click()
    expect(page.get_by_role("heading", name="New change")).to_be_visible()

    page.get_by_label("Title").fill("Upgrade the banking database to version 16")
    page.get_by_label("Description").fill("Engine upgrade with a fail-over.")
    page.get_by_label("Implementation plan").fill("Fail over to the replica, upgrade, fail back.")
    page.get_by_label("Back-out plan").fill("Restore the snapshot taken before.")
    page.get_by_label("Planned start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Planned end").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Team").select_option(label=cast.team_a.name)
    # The CI picker asks the CMDB as one types; "Add" puts the CI among the chosen ones.
    page.get_by_label("Find a CI in the CMDB").fill("bank-d")
    page.get_by_role("button", name="Add bank-db").click()
    expect(page.locator("#chosen-cis").get_by_label("bank-db")).to_be_checked()
    page.get_by_label("Find a CI in the CMDB").fill("")
    shoot(page, "changes-new")
    page.get_by_role("button", name="Raise change").click()

    expect(
        page.get_by_role("heading", name="Upgrade the banking database to version 16")
    ).to_be_visible()
    change = Change.objects.get(title="Upgrade the banking database to version 16")
    assert [ci.name for ci in change.cis.all()] == ["bank-db"]
    expect(page.locator(".chg-badges")).to_contain_text("Normal")
    expect(page.locator(".chg-badges")).to_contain_text("New")
    expect(page.get_by_role("link", name="bank-db")).to_have_attribute(
        "href", f"/cmdb/cis/{change.cis.get().pk}/"
    )

    page.get_by_role("button", name="Start assessment").click()
    expect(page.get_by_text(f"{change.number} moved to Assess.")).to_be_visible()
    expect(page.locator(".chg-badges")).to_contain_text("Assess")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("raised it as a normal change for bank-db")
    expect(timeline).to_contain_text("started the assessment (New → Assess)")
    # Only the transitions allowed from assess are offered.
    workflow = page.locator(".chg-workflow")
    expect(workflow.get_by_role("button", name="Request authorisation")).to_be_visible()
    expect(workflow.get_by_role("button", name="Start assessment")).to_have_count(0)
    expect(workflow.get_by_role("button", name="Start implementation")).to_have_count(0)

    page.get_by_role("textbox", name="Work note").fill("DBA team confirmed the maintenance slot.")
    page.get_by_role("button", name="Add note").click()
    expect(timeline).to_contain_text("DBA team confirmed the maintenance slot.")
    shoot(page, "changes-detail", doc_name="changes.png")
    change.refresh_from_db()
    assert change.state == "assess"
    assert not [p for p in problems if "Content Security Policy" in p or "Uncaught" in p], problems
    context.close()
