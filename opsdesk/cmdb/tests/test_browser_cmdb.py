"""The CMDB in a real browser: Debian's Chromium driven by Playwright.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/; with
UPDATE_DOC_SCREENSHOTS=1 the README's pictures docs/img/cmdb-*.png are refreshed too.
"""

from __future__ import annotations

import io
import re

import pytest

from opsdesk.core.testing.browser import demo_cmdb, shoot

pytestmark = pytest.mark.browser

CSV = (
    "class,name,status,environment,criticality,country,owner_team,attr:os,attr:fqdn,rel:runs_on\n"
    "server,jnb-batch-01,operational,production,3,ZA,Platform,Ubuntu,jnb-batch-01.acme.test,\n"
    "server,jnb-batch-02,operational,production,3,ZA,Platform,Ubuntu,jnb-batch-02.acme.test,\n"
    "application,month-end-batch,operational,production,2,ZA,Application Support,,,"
    "jnb-batch-01;jnb-batch-02\n"
)


def run_queued_tasks() -> None:
    """What `opsdesk worker` does, in the test's thread."""
    from django.core.management import call_command

    call_command("worker", "--batch", stdout=io.StringIO(), stderr=io.StringIO())


def test_an_agent_finds_a_server_sees_its_impact_and_imports_a_file(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.cmdb.models import ConfigurationItem, ImportJob
    from opsdesk.core.testing.factories import PASSWORD

    cast = demo_cmdb()
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    # A busy 2-core CI machine: waits (not timing assertions) get room to finish.
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

    # The CI list, from the main navigation.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="CMDB").click()
    expect(page.get_by_role("heading", name="Configuration items")).to_be_visible()
    results = page.locator("#ci-results")
    expect(results).to_contain_text(re.compile(r"of \d{3} CIs"))

    # Filter: htmx swaps the results and puts the filter words in the address bar.
    page.get_by_label("Class").select_option(label="Server")
    expect(page).to_have_url(re.compile(r"class=server"))
    expect(results.locator("tbody tr").first).to_contain_text("Server")
    page.get_by_label("Criticality").select_option("1")
    expect(page).to_have_url(re.compile(r"criticality=1"))
    expect(results).to_contain_text("jnb-dbs-07")
    expect(results).not_to_contain_text("jnb-esx-01")  # tier 2
    page.get_by_label("Filter name").fill("Tier-1 servers")
    page.get_by_label("Share with the organisation").check()
    page.get_by_role("button", name="Save filter").click()
    expect(
        page.get_by_role("status").filter(has_text="Filter “Tier-1 servers” saved")
    ).to_be_visible()
    expect(page.locator(".chip.is-current")).to_contain_text("Tier-1 servers")
    shoot(page, "cmdb-01-ci-list", "cmdb-ci-list.png")

    # Open the database server: the graph draws, the affected services are listed.
    results.get_by_role("link", name="jnb-dbs-07").click()
    expect(page.get_by_role("heading", level=1, name="jnb-dbs-07")).to_be_visible()
    graph = page.locator("#impact-graph")
    expect(graph).to_have_attribute("data-node-count", re.compile(r"\d+"))
    assert int(graph.get_attribute("data-node-count")) > 1
    assert graph.locator("canvas").count() > 0
    expect(page.locator("#impact-graph-status")).to_contain_text("business services affected")
    services = page.locator("#impact-services")
    expect(services).to_contain_text("Online banking")
    expect(services).to_contain_text("Payments")
    banking = services.locator("li", has_text="Online banking").first
    expect(banking).to_contain_text("Tier 1")
    expect(banking).to_contain_text(re.compile(r"jnb-dbs-07\s*→\s*corebank-db"))
    page.locator("#impact-heading").scroll_into_view_if_needed()
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "cmdb-02-ci-page", "cmdb-ci.png")

    # A shallower walk: fewer services, and the graph is redrawn.
    before = int(graph.get_attribute("data-node-count"))
    page.get_by_label("Depth").select_option("2")
    expect(services).to_contain_text("No business service depends on jnb-dbs-07 within 2 steps")
    expect(graph).not_to_have_attribute("data-node-count", str(before))
    page.get_by_label("Depth").select_option("6")
    expect(services).to_contain_text("Online banking")

    # Clicking a node opens its page.
    db = ConfigurationItem.objects.get(organization=cast.org_a, name="corebank-db")
    expect(graph).to_have_attribute("data-node-count", str(before))
    page.evaluate(
        "id => document.getElementById('impact-graph')._cy.getElementById(String(id)).emit('tap')",
        db.pk,
    )
    expect(page).to_have_url(re.compile(rf"/cmdb/cis/{db.pk}/$"))
    expect(page.get_by_role("heading", level=1, name="corebank-db")).to_be_visible()

    # The import wizard: upload, preview, run, progress to the end.
    page.locator(".cmdb-tabs").get_by_role("link", name="Imports").click()
    page.get_by_role("link", name="New import").first.click()
    page.get_by_label("File").set_input_files(
        files=[{"name": "batch-servers.csv", "mimeType": "text/csv", "buffer": CSV.encode()}]
    )
    page.get_by_label("Format").select_option("csv")
    page.get_by_label("Source").fill("cmdb-sheet")
    page.get_by_role("button", name="Preview").click()
    progress = page.locator("#import-progress")
    expect(progress).to_have_attribute("data-status", "pending")
    run_queued_tasks()  # the page keeps polling and picks up the result
    expect(progress).to_have_attribute("data-status", "succeeded")
    expect(progress.locator('[data-count="created"]')).to_have_text("3")
    expect(progress).to_contain_text("month-end-batch")
    shoot(page, "cmdb-03-import-preview")
    assert not ConfigurationItem.objects.filter(name="jnb-batch-01").exists()

    page.get_by_role("button", name="Run the import").click()
    expect(
        page.get_by_role("heading", name=re.compile(r"IMP\d+ · batch-servers.csv"))
    ).to_be_visible()
    job = ImportJob.objects.filter(dry_run=False).get()
    expect(progress).to_have_attribute("data-status", "pending")
    run_queued_tasks()
    expect(progress).to_have_attribute("data-status", "succeeded")
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    expect(progress).to_contain_text("3 of 3 rows")
    expect(progress.locator('[data-count="created"]')).to_have_text("3")
    expect(progress).to_contain_text("Added 2 relationships")
    shoot(page, "cmdb-04-import-done", "cmdb-import.png")
    assert ConfigurationItem.objects.filter(organization=cast.org_a, name="jnb-batch-01").exists()
    assert job.number in page.locator("h1").inner_text()

    # Stale CIs: nothing is stale yet.
    page.locator(".cmdb-tabs").get_by_role("link", name="Stale CIs").click()
    expect(page.get_by_role("heading", name="Stale configuration items")).to_be_visible()

    csp = [p for p in problems if "Content Security Policy" in p or "Content-Security-Policy" in p]
    assert csp == [], csp
    assert [p for p in problems if "Uncaught" in p] == []
    context.close()
