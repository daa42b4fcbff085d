"""An agent's day in a real browser (Debian's Chromium driven by Playwright): the queue and
its keyboard, taking, starting, commenting on, linking and resolving an incident, a bulk
assignment, and the dashboard's chart.

Screenshots go to test-artifacts/screenshots/; with UPDATE_DOC_SCREENSHOTS=1 also
docs/img/desk-queue.png, desk-incident.png and desk-dashboard.png.
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import demo_cmdb, shoot

pytestmark = pytest.mark.browser


def _incidents(cast):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.servicedesk import actions

    def ci(name):  # type: ignore[no-untyped-def]
        return ConfigurationItem.objects.get(organization=cast.org_a, name=name)

    now = timezone.now()
    rows = [
        ("Core banking database slow", 1, 1, "jnb-dbs-07", None, 3),
        ("VPN drops every hour", 1, 2, None, None, 30),
        ("Printer on floor 3 jams", 3, 3, None, cast.manager, 50),
        ("Outlook asks for password", 2, 1, None, None, 70),
        ("New laptop for Thandi", 3, 3, None, None, 200),
    ]
    made = []
    for title, impact, urgency, ci_name, assignee, hours in rows:
        made.append(
            actions.create_incident(
                acting_user=cast.agent,
                organization=cast.org_a,
                title=title,
                description=f"{title}. Reported by phone.",
                requester=cast.requester,
                channel="phone",
                impact=impact,
                urgency=urgency,
                ci=ci(ci_name) if ci_name else None,
                assignment_group=cast.team_a,
                assignee=assignee,
                opened_at=now - timedelta(hours=hours),
            )
        )
    return made


def test_an_agents_day(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.problems.models import KnownError
    from opsdesk.servicedesk.models import Activity, Incident

    cast = demo_cmdb()
    made = _incidents(cast)
    known = KnownError.objects.create(
        organization=cast.org_a,
        title="Database statistics go stale after the nightly load",
        symptoms="Slow queries on core banking",
        workaround="Run ANALYZE on the hot tables.",
    )
    context = chromium.new_context(viewport={"width": 1360, "height": 900}, locale="en-GB")
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

    # The queue, from the main navigation: every open incident, highest priority first.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Service desk").click()
    expect(page.get_by_role("heading", level=1, name="Incidents")).to_be_visible()
    page.wait_for_load_state()  # the deferred scripts (the shortcuts among them) have run
    results = page.locator("#queue-results")
    expect(results).to_contain_text("of 5 incidents")
    first = results.locator("tbody tr").first
    expect(first).to_contain_text("Core banking database slow")
    expect(first.locator(".prio")).to_have_text("P1")

    # Keyboard: j/k move, x ticks, / searches, ? shows the help.
    page.locator("body").press("j")
    page.keyboard.press("j")
    expect(results.locator("tbody tr").nth(1)).to_have_class(re.compile("is-selected"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile("is-selected"))
    page.keyboard.press("x")
    expect(first.locator("input[type=checkbox]")).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 selected")
    page.keyboard.press("x")
    expect(first.locator("input[type=checkbox]")).not_to_be_checked()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    page.keyboard.press("/")
    expect(page.get_by_label("Search")).to_be_focused()
    page.keyboard.type("vpn")  # typing in the box is not a shortcut
    expect(page).to_have_url(re.compile(r"q=vpn"))
    expect(results.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Reset").click()
    expect(results).to_contain_text("of 5 incidents")

    # Filter by tab, save the view, sort by a column.
    page.locator(".queue-tabs").get_by_role("link", name="Unassigned").click()
    expect(results.locator("tbody tr")).to_have_count(4)
    page.get_by_label("Priority").select_option("2")
    expect(page).to_have_url(re.compile(r"priority=2"))
    expect(results.locator("tbody tr")).to_have_count(2)
    page.get_by_placeholder("Name this view…").fill("Unassigned P2")
    page.get_by_role("button", name="Save this view").click()
    expect(page.locator(".chip.is-current")).to_contain_text("Unassigned P2")
    page.get_by_role("link", name="Reset").click()
    results.get_by_role("link", name="Age").click()
    expect(page).to_have_url(re.compile(r"sort=opened"))
    expect(results.locator("tbody tr").first).to_contain_text("New laptop for Thandi")
    page.get_by_role("link", name="Reset").click()
    expect(results.locator("tbody tr").first).to_contain_text("Core banking database slow")
    shoot(page, "desk-01-queue", "desk-queue.png")

    # Open the P1 with the keyboard.
    page.locator("body").press("j")
    page.keyboard.press("o")
    p1 = made[0]
    expect(page).to_have_url(re.compile(rf"/desk/incidents/{p1.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Core banking database slow")
    page.wait_for_load_state()  # the deferred scripts (the shortcuts among them) have run

    # Take it (a = assign to me), start it.
    page.locator("body").press("a")
    expect(page.get_by_role("status").filter(has_text="assigned to")).to_be_visible()
    expect(page.locator("#assignment")).to_contain_text("Alex Agent")
    page.get_by_role("button", name="Start work").click()
    expect(page.locator("[data-state]")).to_have_text("In progress")

    # A comment the requester sees (c), then an internal work note (w).
    page.locator("body").press("c")
    expect(page.locator("#comment-body")).to_be_focused()
    page.keyboard.type("We are looking at the database now.")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Comment added")).to_be_visible()
    page.locator("body").press("w")
    expect(page.locator("#comment-body")).to_be_focused()
    expect(page.locator(".comment-form")).to_have_class(re.compile("is-note"))
    page.keyboard.type("Stale statistics on the accounts table, see KE.")
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Work note added")).to_be_visible()

    # Link the known error by its number.
    page.get_by_label("Link a problem or known error").fill(known.number)
    page.get_by_role("button", name="Link", exact=True).click()
    expect(page.locator("#links")).to_contain_text("Run ANALYZE on the hot tables.")

    # The CMDB impact of the CI: the graph draws and the services are listed.
    graph = page.locator("#impact-graph")
    expect(graph).to_have_attribute("data-node-count", re.compile(r"\d+"))
    expect(page.locator("#impact-services")).to_contain_text("Online banking")

    # Resolve (r opens the form) with a code and notes.
    page.locator("body").press("r")
    expect(page.get_by_label("Resolution code")).to_be_focused()
    page.get_by_label("Resolution code").select_option("solved_workaround")
    page.get_by_label("Resolution notes").fill("Ran ANALYZE; queries are fast again.")
    page.locator("#resolve-panel").get_by_role("button", name="Resolve").click()
    expect(page.locator("[data-state]")).to_have_text("Resolved")

    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Alex Agent assigned it to Service Desk A / Alex Agent")
    expect(timeline).to_contain_text("Alex Agent moved it from New to In progress")
    expect(timeline).to_contain_text("Alex Agent commented")
    expect(timeline.locator(".tl-note")).to_contain_text("Stale statistics on the accounts table")
    expect(timeline).to_contain_text(f"Alex Agent linked known error {known.number}")
    expect(timeline).to_contain_text(
        "Alex Agent moved it from In progress to Resolved — Solved workaround"
    )
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, "desk-02-incident", "desk-incident.png")
    p1.refresh_from_db()
    assert p1.state == "resolved" and p1.known_error == known and p1.assignee == cast.agent
    assert Activity.objects.filter(subject_id=p1.pk, kind="work_note", public=False).exists()

    # Bulk: assign two incidents to the manager.
    page.get_by_role("link", name="Incidents", exact=True).first.click()
    for title in ("VPN drops every hour", "Outlook asks for password"):
        results.locator("tr", has_text=title).locator("input[type=checkbox]").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")
    bulk = page.get_by_role("form", name="Bulk update")
    bulk.get_by_label("Group").select_option(label="Service Desk A")
    expect(bulk.locator("#bulk-assignee option", has_text="Mandla Manager")).to_have_count(1)
    bulk.get_by_label("Assignee").select_option(label="Mandla Manager")
    bulk.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="2 incidents updated")).to_be_visible()
    assert set(Incident.objects.filter(assignee=cast.manager).values_list("title", flat=True)) == {
        "VPN drops every hour",
        "Outlook asks for password",
        "Printer on floor 3 jams",
    }

    # The dashboard and its chart.
    page.locator(".desk-tabs").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", level=1, name="Service desk dashboard")).to_be_visible()
    expect(page.locator('[data-metric="open"]')).to_have_text("4")
    chart = page.locator("#trend-chart svg")
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar-opened").count() >= 30
    box = chart.bounding_box()
    assert box and box["width"] > 500
    shoot(page, "desk-03-dashboard", "desk-dashboard.png")

    # cytoscape warns about the CMDB graph's own wheel setting; anything else is ours.
    assert not [p for p in problems if "wheel sensitivity" not in p], problems
    context.close()


def test_logging_an_incident_and_the_settings(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.servicedesk.models import Category, Incident, ServiceDeskSettings

    cast = demo_cmdb()
    network = Category.objects.create(organization=cast.org_a, name="Network")
    Category.objects.create(organization=cast.org_a, name="VPN", parent=network)
    Category.objects.create(organization=cast.org_a, name="Hardware")
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)

    def login(user):  # type: ignore[no-untyped-def]
        page.goto(f"{live_server.url}/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    # The admin makes impact 2 x urgency 2 a P2.
    login(cast.admin)
    page.goto(f"{live_server.url}/desk/settings/")
    page.get_by_label("Priority for impact 2 and urgency 2").select_option("2")
    page.get_by_label("Close resolved incidents after (days)").fill("5")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved")).to_be_visible()
    page.get_by_label("New category").fill("Printers")
    page.locator("#cat-parent").select_option(label="Hardware")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Category “Printers” added")).to_be_visible()
    shoot(page, "desk-05-settings")
    settings = ServiceDeskSettings.for_org(cast.org_a.pk)
    assert settings.priority_matrix["2,2"] == 2 and settings.auto_close_days == 5
    assert Category.objects.get(name="Printers").parent.name == "Hardware"

    # An agent logs a phoned-in incident: the dependent selects and the priority follow.
    page.context.clear_cookies()
    login(cast.agent)
    page.goto(f"{live_server.url}/desk/incidents/new/")
    page.get_by_label("Title", exact=True).fill("VPN refuses my token")
    page.get_by_label("Requester").fill("Rita")
    expect(page.locator("#people-list option")).to_have_count(1)
    page.get_by_label("Requester").fill("requester@a.test")
    page.get_by_label("Category", exact=True).select_option(label="Network")
    expect(page.locator("#id_subcategory option", has_text="VPN")).to_have_count(1)
    page.get_by_label("Subcategory").select_option(label="VPN")
    page.get_by_label("Impact").select_option("2")
    page.get_by_label("Urgency").select_option("2")
    expect(page.locator("#priority-preview")).to_contain_text("P2")
    page.get_by_label("Assignment group").select_option(label="Service Desk A")
    expect(page.locator("#id_assignee option", has_text="Mandla Manager")).to_have_count(1)
    page.get_by_label("Assignee", exact=True).select_option(label="Mandla Manager")
    page.get_by_label("Configuration item").fill("jnb-dbs")
    expect(page.locator("#ci-list option[value='jnb-dbs-07']")).to_have_count(1)
    page.get_by_label("Configuration item").fill("jnb-dbs-07")
    shoot(page, "desk-04-new-incident")
    page.get_by_role("button", name="Log incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("VPN refuses my token")
    created = Incident.objects.get(title="VPN refuses my token")
    assert created.priority == 2 and created.subcategory.name == "VPN"
    assert created.assignee == cast.manager and created.requester == cast.requester
    assert not problems, problems
    context.close()
