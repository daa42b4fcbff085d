"""Issue 6, "done when", in a real browser: a change manager's normal change goes from request
through risk, approval, scheduling (with a conflict caught), implementation and review; a
pipeline's deployment shows up as a closed standard change and the gate says no during a
freeze; a change-induced incident is suggested on the incident page and confirmed.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import pytest

from opsdesk.core.testing.browser import shoot, sign_in

pytestmark = pytest.mark.browser


def test_a_change_from_request_to_review_a_pipeline_and_an_induced_incident(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium, client
):
    from django.utils import timezone
    from playwright.sync_api import expect

    from opsdesk.changes import actions
    from opsdesk.changes.choices import ChangeState, ChangeType, CloseCode, InducedState
    from opsdesk.changes.integration_actions import create_integration
    from opsdesk.changes.models import Change, Deployment, InducedLink
    from opsdesk.changes.tests.factories import template, topology, when
    from opsdesk.changes.window_actions import create_window
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.servicedesk import actions as desk

    cast = make_cast()
    cis = topology(cast.org_a)
    zone = zoneinfo.ZoneInfo(cast.org_a.time_zone)
    start = when(4, hour=8)
    # Already scheduled in the same window: a standard change on the application that depends
    # on the database our change touches.
    patching = template(cast, name="Patch the banking app", risk_class="low")
    other = actions.create_change(
        acting_user=cast.agent,
        organization=cast.org_a,
        template=patching,
        cis=[cis["app"]],
        planned_start=start,
        planned_end=start + timedelta(hours=2),
    )
    actions.transition_change(acting_user=cast.agent, change=other, name="schedule")

    context = chromium.new_context(viewport={"width": 1400, "height": 1100}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=45_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type == "error" else None,
    )

    # 1. The agent raises the change with its plan and its CI, and starts the assessment.
    sign_in(page, live_server.url, cast.agent)
    page.goto(f"{live_server.url}/changes/new/")
    page.get_by_label("Title").fill("Upgrade the banking database to 16.4")
    page.get_by_label("Implementation plan").fill("Fail over to the replica, upgrade, fail back.")
    page.get_by_label("Back-out plan").fill("Restore the snapshot taken before the upgrade.")
    local = start.astimezone(zone)
    page.get_by_label("Planned start").fill(local.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Planned end").fill((local + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Change manager").select_option(label=str(cast.manager))
    page.get_by_label("Find a CI in the CMDB").fill("bank-d")
    page.get_by_role("button", name="Add bank-db").click()
    expect(page.locator("#chosen-cis").get_by_label("bank-db")).to_be_checked()
    page.get_by_label("Find a CI in the CMDB").fill("")
    page.get_by_role("button", name="Raise change").click()
    expect(page.get_by_role("heading", name="Upgrade the banking database to 16.4")).to_be_visible()
    change = Change.objects.get(title="Upgrade the banking database to 16.4")
    workflow = page.locator(".chg-workflow")
    workflow.get_by_role("button", name="Start assessment").click()
    expect(page.get_by_text(f"{change.number} moved to Assess.")).to_be_visible()

    # 2. Asking for authorisation scores the risk from the CMDB and catches the conflict.
    workflow.get_by_role("button", name="Request authorisation").click()
    expect(page.get_by_text(f"{change.number} moved to Authorise.")).to_be_visible()
    change.refresh_from_db()
    assert change.risk_class, "the risk is assessed before authorisation"
    assert any(c["kind"] == "dependent_ci" for c in change.conflicts), change.conflicts
    main = page.locator("main")
    expect(main).to_contain_text("Online Banking")  # the blast radius names the service
    expect(main).to_contain_text(other.number)  # the conflicting change is named
    expect(main).to_contain_text("depends on bank-db")
    shoot(page, "changes-e2e-authorise", doc_name="changes-change.png")

    # 3. The change manager approves; the approvals engine schedules the change.
    sign_in(page, live_server.url, cast.manager)
    page.goto(f"{live_server.url}/changes/{change.pk}/")
    page.get_by_placeholder("Comment (optional)").fill("Plan and back-out reviewed.")
    page.get_by_role("button", name="Approve").click()
    change.refresh_from_db()
    assert change.state == ChangeState.SCHEDULED
    expect(page.locator(".chg-badges")).to_contain_text("Scheduled")

    # 4. Implementation and review, then closure.
    sign_in(page, live_server.url, cast.agent)
    page.goto(f"{live_server.url}/changes/{change.pk}/")
    workflow.get_by_role("button", name="Start implementation").click()
    expect(page.get_by_text(f"{change.number} moved to Implement.")).to_be_visible()
    done = page.locator("details.chg-transition", has_text="Implementation finished")
    done.get_by_label("Close code").select_option(CloseCode.SUCCESSFUL)
    done.get_by_role("button", name="Implementation finished").click()
    expect(page.get_by_text(f"{change.number} moved to Review.")).to_be_visible()
    closing = page.locator("details.chg-transition", has_text="Close notes")
    closing.get_by_label("Close notes").fill("Upgraded; replication and smoke tests green.")
    closing.get_by_role("button", name="Close").click()
    expect(page.get_by_text(f"{change.number} moved to Closed.")).to_be_visible()
    change.refresh_from_db()
    assert (change.state, change.close_code) == (ChangeState.CLOSED, CloseCode.SUCCESSFUL)
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("approved")
    shoot(page, "changes-e2e-closed")

    # 5. A pipeline deploys the banking app: a standard change that opens and closes itself.
    deploy = template(
        cast, name="Deploy bank-app", cis=[cis["app"]], match_cis=[cis["app"]], risk_class="low"
    )
    integration, token, _secret = create_integration(
        acting_user=cast.manager,
        organization=cast.org_a,
        name="Release pipeline: bank-app",
        source="generic",
    )
    now = timezone.now()
    resp = client.post(
        "/api/v1/deployments",
        {
            "external_id": "run-4211",
            "ci": "bank-app",
            "environment": "production",
            "version": "3.2.0",
            "outcome": "success",
            "started_at": (now - timedelta(minutes=12)).isoformat(),
            "finished_at": (now - timedelta(minutes=2)).isoformat(),
            "url": "https://github.com/acme/bank-app/actions/runs/4211",
        },
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert resp.status_code in (200, 201, 202), resp.content
    deployment = Deployment.objects.get(integration=integration, external_id="run-4211")
    assert deployment.change is not None
    assert deployment.change.template == deploy
    assert deployment.change.change_type == ChangeType.STANDARD
    assert deployment.change.state == ChangeState.CLOSED
    page.goto(f"{live_server.url}/changes/deployments/")
    expect(page.locator("main")).to_contain_text(deployment.change.number)
    expect(page.locator("main")).to_contain_text("3.2.0")

    # 6. A freeze on Online Banking: the gate now says no and names the window.
    create_window(
        acting_user=cast.manager,
        organization=cast.org_a,
        kind="freeze",
        name="Quarter-end freeze",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(days=2),
        services=[cis["banking"]],
    )
    gate = client.get(
        f"/api/v1/changes/gate?ci={cis['app'].pk}", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert gate.status_code == 200, gate.content
    assert gate.json()["allowed"] is False
    assert "Quarter-end freeze" in " ".join(gate.json()["reasons"])

    # 7. An incident on the changed database: suggested as change-induced, confirmed.
    incident = desk.create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="Banking database refuses connections",
        ci=cis["db"],
    )
    link = InducedLink.objects.get(incident=incident, change=change)
    assert link.state == InducedState.SUGGESTED
    page.goto(f"{live_server.url}/desk/incidents/{incident.pk}/")
    panel = page.get_by_role("region", name="Possibly caused by a change")
    expect(panel).to_contain_text(change.number)
    # The pipeline's change on the application that depends on the database is suggested too,
    # lower; the agent confirms the database upgrade.
    panel.get_by_role("button", name=f"Confirm {change.number} caused {incident.number}").click()
    expect(panel).to_contain_text("Confirmed")
    link.refresh_from_db()
    assert link.state == InducedState.CONFIRMED
    shoot(page, "changes-e2e-induced")
    assert not [p for p in problems if "Content Security Policy" in p or "Uncaught" in p], problems
    context.close()
