"""Change risk in a real browser: a change manager reads the live estimate of a change, answers
the questionnaire (htmx swaps the section in place), then tunes a weight on the settings page
and sees the preview re-class that change.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_a_manager_answers_the_questionnaire_and_tunes_a_weight(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.changes.tests.factories import change, topology
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.problems.tests.factories import incident

    cast = make_cast()
    cis = topology(cast.org_a)
    inc = incident(cast, title="Banking logins slow", ci=cis["db_srv"], impact=1, urgency=2)
    c = change(cast, user=cast.manager, cis=[cis["db_srv"], cis["mail_srv"]])

    context = chromium.new_context(viewport={"width": 1280, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=60_000)
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

    page.goto(f"{live_server.url}/changes/risk/{c.pk}/")
    expect(page.get_by_role("heading", name=f"Risk of {c.number}")).to_be_visible()
    section = page.locator(f"#risk-section-{c.pk}")
    expect(section).to_contain_text("live estimate")
    factors = page.get_by_role("table", name=f"Risk factors of {c.number}")
    expect(factors.get_by_role("row")).to_have_count(11)  # header, nine factors, total
    expect(factors).to_contain_text("Online Banking (tier 1)")
    expect(factors).to_contain_text(inc.number)
    expect(
        page.get_by_role("img", name=f"Contributions to the risk score of {c.number}")
    ).to_be_visible()

    page.get_by_label("Has this change been done before?").select_option("no")
    page.get_by_label("Can it be backed out in under an hour?").select_option("no")
    page.get_by_label("Is there an outage during implementation?").select_option("full")
    page.get_by_label("Was it tested in a non-production environment?").select_option("partly")
    page.get_by_role("button", name="Assess risk").click()
    expect(section.get_by_role("status")).to_have_text("Assessment saved")
    expect(section.get_by_role("button", name="Re-assess risk")).to_be_visible()
    expect(page.get_by_label("Is there an outage during implementation?")).to_have_value("full")
    c.refresh_from_db()
    assert c.risk_answers["outage"] == "full" and c.risk_class
    expect(section.locator(".risk-badge")).to_have_text(f"{c.get_risk_class_display()} risk")
    shoot(page, "change-risk-section")

    page.goto(f"{live_server.url}/changes/risk/")
    expect(page.get_by_role("heading", name="Change risk settings")).to_be_visible()
    preview = page.get_by_role("table", name="Recent changes re-classed")
    expect(preview).to_contain_text(c.number)
    for label in (
        "Questionnaire",
        "Failure history",
        "Open incidents and problems",
        "Freeze windows",
        "Conflicts with other changes",
    ):
        page.get_by_role("spinbutton", name=label, exact=True).fill("0")
    page.get_by_role("spinbutton", name="Blast radius", exact=True).fill("100")
    expect(preview.locator(".risk-moved")).to_have_count(1)
    expect(preview).to_contain_text("higher")
    shoot(page, "change-risk-settings")
    assert problems == []
    context.close()
