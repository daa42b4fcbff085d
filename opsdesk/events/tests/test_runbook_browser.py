"""Runbooks in a real browser: a manager writes an approval-gated webhook runbook in the
editor, an alert group matches it, and the manager approves the waiting run on the runs
page (htmx swaps the row); the webhook server on 127.0.0.1 receives the call.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import shoot, sign_in

pytestmark = pytest.mark.browser


def test_write_a_runbook_then_approve_its_run(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium, settings
):
    from playwright.sync_api import expect

    from opsdesk.cmdb.tests.factories import ci
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.events.choices import RunState
    from opsdesk.events.models import Runbook, RunbookRun
    from opsdesk.events.runbooks import consider
    from opsdesk.events.tests.runbook_helpers import alert_group, hook_server

    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "periodic"],
        }
    }
    cast = make_cast()
    org = cast.org_a
    web = ci(org, "web-01")

    context = chromium.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    with hook_server() as hook:
        sign_in(page, live_server.url, cast.manager)
        page.goto(f"{live_server.url}/events/runbooks/")
        expect(page.get_by_role("heading", name="Self-healing runbooks")).to_be_visible()
        page.get_by_role("link", name="New runbook").click()
        page.get_by_label("Name").fill("Clean /var/log via AWX")
        page.get_by_label("CI classes").select_option("server")
        page.get_by_label("Title contains").fill("disk")
        page.get_by_label("Labels").fill("alertname=DiskFull")
        page.get_by_label("URL").fill("ftp://awx.example/launch")
        page.get_by_label("Body").fill('{"limit": "{ci}", "incident": "{incident}"}')
        page.get_by_label("Dry run").uncheck()
        page.get_by_label("Requires approval").check()
        page.get_by_role("button", name="Save runbook").click()
        # The action's refusal lands on the URL field.
        expect(page.locator(".field-error")).to_contain_text("http:// or https:// URL")
        page.get_by_label("URL").fill(hook.url + "/api/v2/job_templates/7/launch/")
        page.get_by_role("button", name="Save runbook").click()
        row = page.locator("tr", has_text="Clean /var/log via AWX")
        expect(row).to_contain_text("alertname=DiskFull")
        expect(row).to_contain_text("Approval")
        shoot(page, "events-runbooks-list")

        book = Runbook.objects.get(organization=org)
        group = alert_group(org, [web])
        (run,) = consider(group)
        assert run.state == RunState.AWAITING_APPROVAL and run.runbook == book

        page.goto(f"{live_server.url}/events/runbooks/runs/?tab=waiting")
        run_row = page.locator(f"#run-{run.pk}")
        expect(run_row).to_contain_text("Awaiting approval")
        expect(run_row).to_contain_text(group.number)
        shoot(page, "events-runbook-runs-waiting")
        run_row.get_by_role("button", name="Approve").click()
        # htmx swapped the row; the task ran on commit and the run now verifies.
        expect(page.locator(f"#run-{run.pk} [data-state]")).not_to_have_attribute(
            "data-state", "awaiting_approval"
        )
        assert len(hook.received) == 1
        assert hook.received[0].json() == {"limit": "web-01", "incident": group.incident.number}
        page.goto(f"{live_server.url}/events/runbooks/runs/")
        expect(page.locator(f"#run-{run.pk}")).to_contain_text("Verifying")
        page.get_by_role("link", name=f"#{run.pk}").click()
        expect(page.get_by_role("heading", name="Response")).to_be_visible()
        shoot(page, "events-runbook-run")
    assert RunbookRun.objects.get(pk=run.pk).state == RunState.VERIFYING
    assert problems == []
    context.close()
