"""Deployments in a real browser: a manager reads the list (a deployment closed as a
standard change, one during a freeze, one without a template), filters it, opens one, and
creates an integration whose token is shown once.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_a_manager_reads_the_deployments_list(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from django.utils import timezone
    from playwright.sync_api import expect

    from opsdesk.changes import deployments
    from opsdesk.changes.integration_actions import create_integration
    from opsdesk.changes.models import ChangeWindow
    from opsdesk.changes.pipelines import normalised
    from opsdesk.changes.tests.factories import template, topology
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD

    cast = make_cast()
    cis = topology(cast.org_a)
    template(cast, name="Deploy banking app", match_cis=[cis["app"], cis["email"]])
    pipe, _, _ = create_integration(
        acting_user=cast.admin, organization=cast.org_a, name="GitHub banking", source="github"
    )
    now = timezone.now()
    closed, _ = deployments.record_deployment(
        integration=pipe,
        data=normalised(
            external_id="deployment:1",
            ci="bank-app",
            environment="production",
            version="2.4.1",
            outcome="success",
            started_at=now - timedelta(days=2),
            finished_at=now - timedelta(days=2) + timedelta(minutes=6),
            pipeline_url="https://github.com/acme/bank/actions/runs/1",
        ),
    )
    freeze = ChangeWindow.objects.create(
        organization=cast.org_a,
        kind="freeze",
        name="Month-end freeze",
        starts_at=now - timedelta(hours=3),
        ends_at=now + timedelta(hours=3),
    )
    freeze.services.set([cis["email"]])
    deployments.record_deployment(
        integration=pipe,
        data=normalised(
            external_id="deployment:2",
            service="Email",
            environment="production",
            version="9.0",
            outcome="success",
            started_at=now - timedelta(minutes=30),
        ),
    )
    deployments.record_deployment(
        integration=pipe,
        data=normalised(
            external_id="deployment:3",
            ci="bank-db",
            environment="staging",
            version="0.9",
            outcome="failure",
            started_at=now - timedelta(hours=5),
        ),
    )

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.goto(f"{live_server.url}/login/", timeout=60_000)
    page.get_by_label("Email").fill(cast.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/changes/deployments/")
    expect(page.get_by_role("heading", name="Deployments", exact=True)).to_be_visible()
    table = page.get_by_role("region", name="Deployments list")
    expect(table.get_by_role("row")).to_have_count(4)
    frozen = table.get_by_role("row").filter(has_text="9.0")
    expect(frozen).to_contain_text("During freeze")
    expect(frozen).to_contain_text("Deployed during freeze Month-end freeze.")
    done = table.get_by_role("row").filter(has_text="2.4.1")
    expect(done).to_contain_text(closed.change.number)
    expect(done).to_contain_text("Closed")
    expect(table.get_by_role("row").filter(has_text="0.9")).to_contain_text("No change")
    shoot(page, "changes-deployments-list")

    page.get_by_label("Flag").select_option(label="During a freeze")
    page.get_by_role("button", name="Filter").click()
    expect(table.get_by_role("row")).to_have_count(2)
    table.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Email 9.0 to production")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("Deployed during freeze Month-end freeze.")

    page.goto(f"{live_server.url}/changes/deployments/integrations/")
    page.get_by_label("Name").fill("GitLab payments")
    page.get_by_label("Source").select_option(label="GitLab")
    page.get_by_role("button", name="Create integration").click()
    expect(page.get_by_role("status")).to_contain_text("GitLab payments created.")
    expect(page.locator("#new-token")).to_contain_text("opsdi_")
    shoot(page, "changes-deployments-integrations")
    assert not problems, problems
