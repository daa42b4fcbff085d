"""Problem management in a real browser: raise a problem from two incidents, analyse and
resolve it together with its incidents, record a known error from it.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import demo_cmdb, shoot

pytestmark = pytest.mark.browser


def test_an_agent_raises_resolves_and_records_a_known_error(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.problems.models import KnownError, Problem
    from opsdesk.problems.tests.factories import incident
    from opsdesk.servicedesk.models import Incident

    cast = demo_cmdb()
    db = ConfigurationItem.objects.get(organization=cast.org_a, name="corebank-db")
    first = incident(cast, title="Online banking times out", ci=db, impact=1, urgency=1)
    second = incident(cast, title="Transfers stuck in pending", ci=db, impact=2, urgency=1)

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
    page.get_by_label("Email").fill(cast.agent.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    # Raise a problem from the two incidents (the link an incident page's panel offers).
    page.goto(f"{live_server.url}/problems/new/?incidents={first.pk},{second.pk}")
    expect(page.get_by_role("heading", name="Raise a problem")).to_be_visible()
    expect(page.get_by_role("textbox", name="Incidents")).to_have_value(
        f"{first.number}, {second.number}"
    )
    page.get_by_label("Title").fill("Core banking database stalls")
    page.get_by_role("button", name="Raise problem").click()
    expect(page.get_by_role("status").filter(has_text="raised with 2 incidents")).to_be_visible()
    problem = Problem.objects.get(title="Core banking database stalls")
    expect(page).to_have_url(re.compile(rf"/problems/{problem.pk}/$"))
    linked = page.get_by_role("region", name="Linked incidents")
    expect(linked).to_contain_text(first.number)
    expect(linked).to_contain_text(second.number)

    # RCA notes and a workaround, then the workflow.
    edit = page.get_by_role("region", name="Edit")
    edit.get_by_label("Root-cause analysis notes").fill("ORA-00257 at every month end.")
    edit.get_by_label("Workaround").fill("Purge archived logs already backed up.")
    edit.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="saved")).to_be_visible()
    page.get_by_role("button", name="Start root-cause analysis").click()
    expect(page.locator(".badge.state-root_cause_analysis").first).to_be_visible()

    workflow = page.get_by_role("region", name="Workflow")
    resolve = workflow.locator("details", has=page.locator("#resolve-notes"))
    resolve.get_by_label("Root cause (required)").fill("Archive log destination too small.")
    resolve.get_by_label("Resolution notes (required)").fill("Destination moved to a 2 TB LUN.")
    expect(
        workflow.get_by_label(re.compile("Also resolve the 2 open linked incidents"))
    ).to_be_checked()
    workflow.get_by_role("button", name="Resolve").click()
    expect(
        page.get_by_role("status").filter(has_text="2 linked incidents resolved")
    ).to_be_visible()
    assert set(Incident.objects.values_list("state", flat=True)) == {"resolved"}
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text(f"resolved {first.number}")
    shoot(page, "problem-resolved")

    # A known error from the problem: root cause and workaround are copied.
    page.get_by_text("Create known error from this problem").click()
    page.get_by_role("button", name="Create known error").click()
    expect(page.get_by_role("heading", name=re.compile(r"KE\d+ · Core banking"))).to_be_visible()
    expect(page.get_by_role("region", name="Configuration items")).to_contain_text("corebank-db")
    expect(page.get_by_role("region", name="Workaround")).to_contain_text("Purge archived logs")
    assert KnownError.objects.get().problem == problem
    shoot(page, "known-error")
    assert not problems, problems
    context.close()
