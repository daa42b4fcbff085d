"""Notifications in a real browser: the template editor's live preview, webhooks, mail in.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_an_admin_edits_a_template_with_a_live_preview_and_reviews_mail(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.notify.inbound import receive
    from opsdesk.notify.models import NotificationTemplate

    cast = make_cast()
    receive(b"To: help@acme.test\r\nSubject: Printer jams\r\n\r\nNo sender here.")
    from opsdesk.notify.models import InboundMail

    InboundMail.objects.update(organization=cast.org_a)  # reached A, kept for review
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
    page.get_by_label("Email").fill(cast.admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/notifications/")
    expect(page.get_by_role("heading", name="My notifications")).to_be_visible()
    page.get_by_label("Assigned by email").uncheck()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status").filter(has_text="preferences are saved")).to_be_visible()
    expect(page.get_by_label("Assigned by email")).not_to_be_checked()

    page.get_by_role("navigation", name="Notifications").get_by_role(
        "link", name="Templates"
    ).click()
    row = page.get_by_role("row").filter(has_text="Resolved").filter(has_text="Email")
    row.get_by_role("link", name="Edit").click()
    preview = page.locator("#preview")
    expect(preview).to_contain_text("INC0000042")
    # htmx re-renders the preview as the admin types (no inline script: CSP holds).
    page.get_by_label("Subject").fill("Fixed for you, {{ recipient }}: {{ title|upper }}")
    expect(preview).to_contain_text("Fixed for you, Rita Requester: PRINTER ON FLOOR 3")
    page.get_by_label("Body").fill("{% if %}")
    expect(preview).to_contain_text("does not render")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#error-body")).to_contain_text("does not render")
    assert not NotificationTemplate.objects.exists()
    page.get_by_label("Body").fill("Resolved: {{ resolution }}")
    expect(preview).to_contain_text("Resolved: Restarted the print spooler.")
    expect(preview).not_to_contain_text("does not render")
    shoot(page, "notify-template-editor")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Template saved")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Resolved").first).to_contain_text("Your own")

    page.get_by_role("navigation", name="Notifications").get_by_role("link", name="Mail in").click()
    page.get_by_label("Status").select_option("review")
    page.get_by_role("link", name="Printer jams").click()
    expect(page.get_by_text("No sender here.", exact=True)).to_be_visible()
    shoot(page, "notify-mail-in")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_role("status").filter(has_text="Message dismissed")).to_be_visible()
    assert InboundMail.objects.get().status == "dismissed"
    # The refused template answered 422 on purpose; anything else (CSP, script errors) fails.
    assert [p for p in problems if "status of 422" not in p] == [], problems
