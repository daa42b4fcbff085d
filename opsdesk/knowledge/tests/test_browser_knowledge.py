"""The knowledge base in a real browser (Debian's Chromium through Playwright).

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_an_agent_searches_reads_rates_and_links_an_article(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.core.permissions import Role
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.knowledge.demo import seed_demo
    from opsdesk.knowledge.models import Article, ArticleFeedback, ArticleUse
    from opsdesk.servicedesk.actions import create_incident

    cast = make_cast()
    seed_demo(
        cast.org_a,
        {Role.AGENT: cast.agent, Role.MANAGER: cast.manager, Role.REQUESTER: cast.requester},
    )
    incident = create_incident(
        acting_user=cast.requester,
        organization=cast.org_a,
        title="VPN disconnects every hour when working from home",
    )
    vpn = Article.objects.get(title="Connect to the VPN from home")

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

    # Search as you type: htmx swaps the results, matches are highlighted.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    expect(page.get_by_role("heading", name="Knowledge base", level=1)).to_be_visible()
    # htmx (a deferred script) must have wired the form before the typing starts, or the
    # input events go unheard and the search never runs.
    page.wait_for_load_state()
    page.get_by_label("Search", exact=True).fill("vpn")
    expect(page).to_have_url(re.compile(r"q=vpn"))
    results = page.locator("#kb-results")
    expect(results).to_contain_text("match “vpn”")
    hit = results.locator(".kb-hit", has_text="Connect to the VPN from home")
    expect(hit.locator("mark").first).to_have_text(re.compile("vpn", re.IGNORECASE))
    expect(results).not_to_contain_text("Data protection policy")
    shoot(page, "kb-01-search")

    # The article: rendered Markdown, then "Did this help?".
    hit.get_by_role("link").first.click()
    expect(
        page.get_by_role("heading", level=1, name="Connect to the VPN from home")
    ).to_be_visible()
    expect(page.locator(".kb-body strong").first).to_have_text("GlobalProtect")
    page.get_by_label("Comment (optional)").fill("Clear steps")
    page.get_by_role("button", name="Yes", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="your answer is recorded")).to_be_visible()
    expect(page.get_by_text("You answered yes")).to_be_visible()
    assert ArticleFeedback.objects.get(article=vpn, user=cast.agent).helpful is True
    shoot(page, "kb-02-article")

    # The incident page suggests it; "Used to resolve" links it and comes back.
    page.goto(f"{live_server.url}/desk/incidents/{incident.pk}/")
    panel = page.locator(".kb-panel")
    expect(panel).to_contain_text("Connect to the VPN from home")
    panel.get_by_role("button", name=f"Used {vpn.number} to resolve").click()
    expect(page).to_have_url(re.compile(rf"/desk/incidents/{incident.pk}/$"))
    expect(page.get_by_role("status").filter(has_text="used to resolve")).to_be_visible()
    expect(panel.get_by_role("button", name=f"Unlink {vpn.number}")).to_be_visible()
    assert ArticleUse.objects.filter(article=vpn, incident=incident).exists()
    shoot(page, "kb-03-incident-panel")
    assert not problems, problems
    context.close()
