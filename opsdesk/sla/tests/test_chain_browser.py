"""The SLA chain in a real browser: the matrix of services x priorities, a cell's detail with
the typical path drawn against the SLA, and the incident page's "Where the time went" panel.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/ (and, with
UPDATE_DOC_SCREENSHOTS=1, docs/img/sla-chain.png).
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_a_manager_reads_the_chain_and_where_a_breach_went(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.sla.tests.test_chain import breached_ticket, build_world

    world = build_world(make_cast())
    incident = breached_ticket(world)

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

    page.goto(f"{live_server.url}/login/", timeout=60_000)  # the first request warms up
    page.get_by_label("Email").fill(world.cast.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/sla/chain/")
    expect(page.get_by_role("heading", name="SLA → OLA → UC chain")).to_be_visible()
    matrix = page.get_by_role("region", name="Services \u00d7 priorities")
    expect(matrix.get_by_role("link", name="Email P2: Fits")).to_be_visible()
    expect(matrix.get_by_role("link", name="Warehouse P2: Gap")).to_contain_text("no OLA: Database")
    expect(matrix.get_by_role("link", name="Telephony P2: Does not fit")).to_contain_text("Telco")
    shoot(page, "sla-chain-matrix")

    # Filter to one service, then open its cell.
    page.get_by_label("Service", exact=True).select_option(label="Payroll")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(rf"service={world.payroll.pk}"))
    expect(matrix.get_by_role("link")).to_have_count(1)
    matrix.get_by_role("link", name="Payroll P2: Does not fit").click()
    expect(page.get_by_role("heading", name="Payroll · P2")).to_be_visible()
    why = page.get_by_role("region", name="Why")
    expect(why).to_contain_text(
        "OLA Service Desk A P2 1 h + OLA Network P2 4 h + UC FibreCo P2 4 h = 9 h > SLA P2 8 h"
    )
    path = page.get_by_role("region", name="Typical path against the SLA")
    expect(path.locator("svg.chain-late")).to_have_count(2)
    expect(path.locator("svg rect.chain-seg")).to_have_count(6)
    expect(path).to_contain_text("SLA due")
    links = page.get_by_role("region", name="Teams and suppliers")
    expect(links.get_by_role("row", name=re.compile("^FibreCo"))).to_contain_text("Office hours")
    shoot(page, "sla-chain-detail", "sla-chain.png")

    # The incident page says where the breached ticket's time went.
    page.goto(f"{live_server.url}/desk/incidents/{incident.pk}/")
    panel = page.get_by_role("region", name="Where the time went")
    expect(panel).to_contain_text(
        "Network held it 6 h 10 min of the 8 h; its OLA of 4 h was breached by 2 h 10 min."
    )
    expect(panel.locator("svg rect.chain-seg-over")).to_have_count(1)
    panel.scroll_into_view_if_needed()
    shoot(page, "sla-chain-panel")
    assert not problems, problems
    context.close()
