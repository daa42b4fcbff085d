"""The web shell in a real browser: Debian's Chromium driven by Playwright.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/; with
UPDATE_DOC_SCREENSHOTS=1 the README's pictures in docs/img/ are refreshed too.
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def realistic_data():  # type: ignore[no-untyped-def]
    """The cast plus a person who works for both organisations, and a week's worth of teams."""
    from opsdesk.accounts import actions
    from opsdesk.core.permissions import Role
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import MembershipFactory, member

    cast = make_cast()
    dana = member(cast.org_a, Role.ADMIN, email="dana.dlamini@acme.test", full_name="Dana Dlamini")
    MembershipFactory(user=dana, organization=cast.org_b, role=Role.AUDITOR)
    noc = member(cast.org_a, Role.AGENT, email="thabo@acme.test", full_name="Thabo Nkosi")
    dba = member(cast.org_a, Role.AGENT, email="wanjiru@acme.test", full_name="Wanjiru Kamau")
    teams = [
        ("Network Operations", "Core, WAN and branch networks; first line for outages.", [noc]),
        ("Platform Engineering", "Kubernetes, CI runners and the build farm.", [cast.agent]),
        ("Database Administration", "PostgreSQL and Oracle estates, backups.", [dba]),
        ("Application Support", "Line-of-business applications and integrations.", [dba, noc]),
        ("Security Operations", "SOC triage, vulnerability management.", [cast.manager]),
    ]
    for name, description, members in teams:
        actions.create_team(
            acting_user=dana,
            organization=cast.org_a,
            name=name,
            description=description,
            email=f"{name.lower().replace(' ', '-')}@acme.test",
            manager=cast.manager,
            members=[dana, *members],
        )
    cast.team_a.members.add(dana)
    actions.update_team(
        acting_user=dana,
        team=cast.team_a,
        description="Single point of contact for all users; open 24x7 for P1 incidents.",
        email="servicedesk@acme.test",
    )
    actions.update_team(
        acting_user=cast.admin,
        team=cast.team_a,
        description="Single point of contact for all users; open 24x7 for P1 and P2.",
    )
    actions.create_team(
        acting_user=cast.admin_b,
        organization=cast.org_b,
        name="Rechenzentrum Frankfurt",
        description="Data-centre operations.",
    )
    actions.update_team(acting_user=cast.admin_b, team=cast.team_b, description="Tier 1, EU")
    return cast, dana


def test_a_person_of_two_organisations_works_through_the_shell(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.core.testing.factories import PASSWORD

    cast, dana = realistic_data()
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="en-GB")
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

    # Sign in: the home page sends a stranger to the login form.
    page.goto(f"{live_server.url}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill(dana.email)
    page.get_by_label("Password").fill(PASSWORD)
    shoot(page, "01-login")
    page.get_by_role("button", name="Sign in").click()

    # Home: organisations with roles, teams, recent changes of the current organisation.
    expect(page.get_by_role("heading", name="Welcome, Dana Dlamini")).to_be_visible()
    orgs = page.locator("section", has=page.get_by_role("heading", name="My organisations"))
    expect(orgs).to_contain_text("Acme Africa")
    expect(orgs).to_contain_text("Borealis Europe")
    expect(orgs).to_contain_text("Auditor")
    teams = page.locator("section", has=page.get_by_role("heading", name="My teams"))
    expect(teams).to_contain_text("Network Operations")
    recent = page.locator("section", has=page.get_by_role("heading", name=re.compile("Recent")))
    expect(recent).to_contain_text("Service Desk A")
    expect(page.locator("#org-switcher")).to_have_value(str(cast.org_a.pk))
    shoot(page, "02-home", "home.png")

    # The skip link is the first thing the keyboard reaches.
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")

    # Switch organisation: choosing it in the switcher is enough (app.js submits the form).
    page.locator("#org-switcher").select_option(label="Borealis Europe")
    expect(
        page.get_by_role("status").filter(has_text="Now working in Borealis Europe.")
    ).to_be_visible()
    expect(page.locator("#org-switcher")).to_have_value(str(cast.org_b.pk))
    expect(page.get_by_text("Working in Borealis Europe as auditor")).to_be_visible()
    shoot(page, "03-switched")

    # Audit log of Borealis: its own records only.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    results = page.locator("#audit-results")
    expect(results).to_contain_text("Rechenzentrum Frankfurt")
    expect(results).not_to_contain_text("Network Operations")

    # Widen to all my organisations, then filter by action: htmx swaps the results in place
    # and puts the filters into the address bar.
    page.get_by_label("Scope").select_option("all")
    expect(results).to_contain_text("Network Operations")
    expect(page).to_have_url(re.compile(r"scope=all"))
    page.get_by_label("Action").select_option("update")
    expect(page).to_have_url(re.compile(r"action=update"))
    expect(results.locator("tbody tr").first).to_contain_text("Updated")
    expect(results.locator("tbody")).not_to_contain_text("Created")
    search = page.get_by_label("Object", exact=True)
    search.press_sequentially("service desk a")  # typing: keyup, then 400 ms
    expect(page).to_have_url(re.compile(r"q=service(%20|\+)desk(%20|\+)a"))
    expect(results).to_contain_text("Showing 1\N{EN DASH}4 of 4 records")
    expect(results).not_to_contain_text("Rechenzentrum")

    page.get_by_label("Action").select_option("")
    search.select_text()
    search.press("Backspace")
    expect(page).to_have_url(re.compile(r"q=&"))
    expect(results).to_contain_text("Created")
    search.blur()
    shoot(page, "04-audit-log", "audit-log.png")

    # The filtered view survives a reload (the URL carries the filters).
    page.get_by_label("Action").select_option("update")
    expect(page).to_have_url(re.compile(r"action=update"))
    page.reload()
    expect(page.get_by_label("Action")).to_have_value("update")
    expect(page.get_by_label("Scope")).to_have_value("all")

    # Open a record: its metadata and a before/after table of the change.
    results.get_by_role("link", name="Service Desk A").first.click()
    expect(page.get_by_role("heading", name=re.compile("Service Desk A"))).to_be_visible()
    expect(page.get_by_text("admin@a.test")).to_be_visible()
    diff = page.locator("table.diff")
    expect(diff).to_contain_text("description")
    expect(diff.locator("td.before")).to_contain_text("open 24x7 for P1 incidents")
    expect(diff.locator("td.after")).to_contain_text("open 24x7 for P1 and P2")
    shoot(page, "05-audit-detail")

    # Teams of the current organisation (Borealis) only.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Teams").click()
    expect(page.get_by_role("heading", name="Teams")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Rechenzentrum Frankfurt")
    expect(page.locator("main")).not_to_contain_text("Network Operations")
    shoot(page, "06-teams")

    # Profile: a new API token is shown once.
    page.locator("details.menu > summary").click()
    page.get_by_role("link", name="Profile and API tokens").click()
    page.get_by_label("Token name").fill("Grafana")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token")).to_contain_text("opsd_")
    expect(page.get_by_role("cell", name="Grafana", exact=True)).to_be_visible()
    shoot(page, "07-profile")
    page.goto(f"{live_server.url}/profile/")
    expect(page.locator("#new-token")).to_have_count(0)

    # Phone width: the page still fits without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("heading", name="Welcome, Dana Dlamini")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    shoot(page, "08-home-phone")

    # The user menu opens from the keyboard and logs out.
    page.locator("details.menu > summary").focus()
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    csp = [p for p in problems if "Content Security Policy" in p or "Content-Security-Policy" in p]
    assert csp == [], csp
    assert [p for p in problems if "Uncaught" in p] == []
    context.close()
