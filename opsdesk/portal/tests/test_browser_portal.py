"""The issue's "Done when" for requests, in a real browser: a requester orders from the
portal, their manager approves, an agent fulfils the task, the requester rates it.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/; with
UPDATE_DOC_SCREENSHOTS=1 the pictures docs/img/portal-*.png are refreshed too.
"""

from __future__ import annotations

from typing import Any

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def _login(chromium: Any, base: str, user: Any, problems: list[str]) -> Any:
    from playwright.sync_api import expect

    from opsdesk.core.testing.factories import PASSWORD

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSPDEBUG ' + e.sourceFile + ':' + e.lineNumber + ' ' + e.sample + ' ' + location.href))"
    )
    page.goto(f"{base}/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_request_ordered_approved_fulfilled_and_rated(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.accounts.models import Team
    from opsdesk.catalog.models import ServiceRequest
    from opsdesk.catalog.tests.factories import LAPTOP_FORM, catalog_item
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.portal.models import Survey

    cast = make_cast()
    sales = Team.objects.create(
        organization=cast.org_a, name="Sales", slug="sales", manager=cast.manager
    )
    sales.members.add(cast.requester)
    catalog_item(
        cast.org_a,
        "New laptop",
        description="A standard or developer laptop, imaged and ready to use.",
        form=LAPTOP_FORM,
        approval_steps=[{"kind": "manager"}],
        tasks=[{"title": "Image and hand over the laptop", "team_id": cast.team_a.pk}],
        delivery_days=3,
    )
    catalog_item(cast.org_a, "VPN access", category="Access", form=[], delivery_days=1)
    problems: list[str] = []

    # The requester orders a laptop from the portal.
    page = _login(chromium, live_server.url, cast.requester, problems)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Portal").click()
    expect(page.get_by_role("heading", name="Hello Rita, how can we help?")).to_be_visible()
    shoot(page, "portal-home-empty", "portal-home.png")
    page.get_by_role("link", name="Request something").first.click()
    page.get_by_role("link", name="New laptop").click()
    expect(page.get_by_role("heading", name="New laptop")).to_be_visible()
    page.get_by_label("Model").select_option("Developer")
    page.get_by_role("button", name="Submit request").click()
    # The missing date is named next to its field; what was chosen is kept.
    expect(page.locator("#f-1-start_date-error")).to_have_text("Required.")
    expect(page.get_by_label("Model")).to_have_value("Developer")
    shoot(page, "portal-order-errors", "portal-order.png")
    page.get_by_label("Needed from").fill("2031-03-02")
    page.get_by_label("Why").fill("My old laptop cannot run the build anymore.")
    page.get_by_role("button", name="Submit request").click()
    expect(page.get_by_role("status").filter(has_text="has been submitted")).to_be_visible()
    expect(page.get_by_text("Waiting for approval from Mandla Manager.")).to_be_visible()
    req = ServiceRequest.objects.get()
    shoot(page, "portal-request-waiting")
    page.context.close()

    # Their manager approves from "My approvals".
    page = _login(chromium, live_server.url, cast.manager, problems)
    page.goto(f"{live_server.url}/catalog/approvals/")
    card = page.locator(".sd-approval").filter(has_text=req.number)
    expect(card).to_contain_text("My old laptop cannot run the build anymore.")
    shoot(page, "portal-approvals", "portal-approvals.png")
    card.get_by_label("Comment").fill("Approved, the build matters.")
    card.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status").filter(has_text="Approved:")).to_be_visible()
    expect(page.get_by_text("Nothing is waiting for your approval.")).to_be_visible()
    page.context.close()

    # An agent of the fulfilling team completes the task from the queue.
    page = _login(chromium, live_server.url, cast.agent, problems)
    page.goto(f"{live_server.url}/catalog/tasks/")
    row = page.locator("tr").filter(has_text="Image and hand over the laptop")
    expect(row).to_contain_text(req.number)
    row.get_by_role("button", name="Start").click()
    row = page.locator("tr").filter(has_text="Image and hand over the laptop")
    expect(row).to_contain_text("In progress")
    expect(row).to_contain_text("Alex Agent")
    row.get_by_role("button", name="Complete").click()
    expect(page.get_by_text("No tasks here.")).to_be_visible()
    page.goto(f"{live_server.url}/catalog/requests/{req.pk}/")
    expect(page.locator(".page-header")).to_contain_text("Fulfilled")
    shoot(page, "portal-agent-request", "portal-agent-request.png")
    page.context.close()

    # The requester is asked how it went and rates it.
    page = _login(chromium, live_server.url, cast.requester, problems)
    page.goto(f"{live_server.url}/portal/")
    page.get_by_role("link", name="How did we do with").click()
    expect(page.get_by_role("heading", name="How did we do?")).to_be_visible()
    page.locator(".portal-rating label").filter(has_text="Very happy").click()
    page.get_by_label("Anything to add?").fill("Fast and friendly, thank you!")
    shoot(page, "portal-survey", "portal-survey.png")
    page.get_by_role("button", name="Send my rating").click()
    expect(page.get_by_text("You rated this 5/5")).to_be_visible()
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("rated it 5/5")
    expect(timeline).to_contain_text("Approved, the build matters.")
    expect(timeline).not_to_contain_text("Image and hand over")  # tasks are internal
    shoot(page, "portal-request-done", "portal-request.png")
    page.context.close()

    survey = Survey.objects.get()
    assert (survey.rating, survey.comment) == (5, "Fast and friendly, thank you!")
    # The order form answered 422 once, on purpose (the missing date): nothing else failed.
    unexpected = [p for p in problems if "status of 422" not in p]
    assert not unexpected, unexpected


def test_catalogue_editor_checks_and_previews_while_typing(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.catalog.models import CatalogItem
    from opsdesk.core.testing.cast import make_cast

    cast = make_cast()
    problems: list[str] = []
    page = _login(chromium, live_server.url, cast.admin, problems)
    page.goto(f"{live_server.url}/catalog/items/")
    page.get_by_role("link", name="New item").click()
    page.get_by_label("Name", exact=True).fill("VPN access")
    page.get_by_label("Category").fill("Access")
    page.get_by_label("Form (JSON list of fields)").fill(
        '[{"name": "until", "label": "Needed until", "type": "dat"}]'
    )
    checks = page.locator("#checks")
    expect(checks).to_contain_text("form.0.type")
    page.get_by_label("Form (JSON list of fields)").fill(
        '[{"name": "until", "label": "Needed until", "type": "date"},\n'
        ' {"name": "accept", "label": "I accept the remote-access policy",'
        ' "type": "checkbox", "required": true}]'
    )
    expect(checks).to_contain_text("The definition is valid.")
    expect(checks.get_by_label("Needed until")).to_be_visible()
    page.get_by_label("Approval steps (JSON list, in order)").fill('[{"kind": "manager"}]')
    page.get_by_label("Fulfilment tasks (JSON list)").fill(
        f'[{{"title": "Add to the VPN group", "team_id": {cast.team_a.pk}}}]'
    )
    expect(checks).to_contain_text("The definition is valid.")
    shoot(page, "portal-catalogue-editor", "portal-catalogue-editor.png")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="“VPN access” saved.")).to_be_visible()
    item = CatalogItem.objects.get()
    assert item.approval_steps == [{"kind": "manager"}] and len(item.form) == 2
    page.context.close()
    assert not problems, problems
