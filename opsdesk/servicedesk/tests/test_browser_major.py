"""A major incident in a real browser: the list, then the page where the manager attaches a
child, logs a customer update and writes the review with an action."""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_a_manager_runs_a_major_incident(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from opsdesk.cmdb.tests.factories import ci
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.servicedesk import actions
    from opsdesk.servicedesk.models import Activity, Incident

    cast = make_cast()
    payroll = ci(cast.org_a, "Payroll", "business_service")
    parent = actions.create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="Payroll cannot reach its database",
        service=payroll,
        impact=1,
        urgency=1,
        assignment_group=cast.team_a,
    )
    assert parent.is_major  # a P1 is declared automatically
    child = actions.create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="My payslip does not load"
    )

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
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
    page.get_by_label("Email").fill(cast.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/desk/major/")
    expect(page.get_by_role("heading", name="Major incidents")).to_be_visible()
    page.get_by_role("link", name=parent.number).click()
    expect(page.get_by_role("heading", name=re.compile(parent.title))).to_be_visible()

    # Take the manager role.
    page.locator("#manager").get_by_label("Manager").select_option(label=cast.manager.full_name)
    page.get_by_role("button", name="Change manager").click()
    expect(page.locator(".major-manager")).to_contain_text(cast.manager.full_name)

    # Attach the requester's incident by its number.
    page.get_by_label("Incident number").fill(child.number)
    page.get_by_role("button", name="Attach").click()
    expect(page.locator("#children")).to_contain_text("My payslip does not load")

    # A customer update.
    comms = page.locator("#communications")
    comms.get_by_label("Audience").select_option("customers")
    comms.get_by_label("Channel").fill("status page")
    comms.get_by_label("Update").fill("Payslips are delayed; we expect a fix by 14:00.")
    comms.get_by_role("button", name="Log update").click()
    expect(page.locator(".comm-log")).to_contain_text("Payslips are delayed")

    # The review: a draft with a summary, then an action with an owner.
    review = page.locator("#review")
    review.get_by_label("Summary").fill("The database failed over to a replica without storage.")
    review.get_by_label("Root cause").fill("Replica provisioned with a 10 GB volume.")
    review.get_by_role("button", name="Save review").click()
    expect(page.get_by_role("status").filter(has_text="Review saved")).to_be_visible()
    review = page.locator("#review")
    review.get_by_label("Action").fill("Size replicas like the primary")
    review.get_by_label("Owner").select_option(label=cast.agent.full_name)
    review.get_by_role("button", name="Add action").click()
    expect(page.locator("#review table")).to_contain_text("Size replicas like the primary")

    shoot(page, "major-incident")
    assert problems == [], problems

    assert Incident.objects.get(pk=child.pk).parent_id == parent.pk
    update = Activity.objects.get(subject_id=parent.pk, kind="communication")
    assert update.public  # customers: on the requester's timeline
    context.close()
