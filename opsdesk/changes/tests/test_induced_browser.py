"""A change-induced incident in a real browser: the incident page suggests the change that
touched its database server 40 minutes before it opened, and an agent confirms it.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_an_agent_confirms_a_suggested_change_induced_incident(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from datetime import timedelta

    from django.utils import timezone
    from playwright.sync_api import expect

    from opsdesk.changes.models import InducedLink
    from opsdesk.changes.tests.factories import topology
    from opsdesk.changes.tests.induced_helpers import implemented_change
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.servicedesk import actions as desk
    from opsdesk.servicedesk.models import Activity

    cast = make_cast()
    cmdb = topology(cast.org_a)
    now = timezone.now()
    change = implemented_change(
        cast, [cmdb["db_srv"]], now - timedelta(minutes=40), title="Patch db-srv-01 kernel"
    )
    # A transactional test: the after-commit receiver runs as in production.
    incident = desk.create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="Online banking returns errors",
        ci=cmdb["app"],
        impact=1,
        urgency=1,
    )
    link = InducedLink.objects.get(incident=incident)

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

    page.goto(f"{live_server.url}/desk/incidents/{incident.pk}/")
    panel = page.get_by_role("region", name="Possibly caused by a change")
    expect(panel).to_contain_text(change.number)
    expect(panel).to_contain_text("40 min before the incident opened")
    expect(panel).to_contain_text("the incident's CI bank-app depends on it through bank-db")
    shoot(page, "induced-suggested")

    panel.get_by_role("button", name=f"Confirm {change.number} caused {incident.number}").click()
    expect(panel.get_by_role("status")).to_contain_text(
        f"{change.number} confirmed as the cause of {incident.number}"
    )
    expect(panel.locator(".badge", has_text="Confirmed")).to_be_visible()
    link.refresh_from_db()
    assert link.state == "confirmed" and link.decided_by == cast.agent
    assert Activity.objects.filter(
        subject_type="change", subject_id=change.pk, kind="link"
    ).exists()
    page.reload()
    timeline = page.get_by_role("region", name="Timeline", exact=True)
    expect(timeline).to_contain_text(change.number)
    panel.scroll_into_view_if_needed()
    shoot(page, "induced-confirmed")
    # The impact graph of the incident page (cytoscape) warns about its wheel sensitivity.
    assert not [p for p in problems if "wheel sensitivity" not in p], problems
    context.close()
