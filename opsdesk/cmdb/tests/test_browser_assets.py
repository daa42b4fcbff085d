"""Assets, licences, expiring items and CMDB health in a real browser (Debian's Chromium).

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/cmdb-assets-*.png;
with UPDATE_DOC_SCREENSHOTS=1 the README's picture docs/img/cmdb-licences.png is refreshed too.
"""

from __future__ import annotations

import re

import pytest

from opsdesk.core.testing.browser import demo_cmdb, shoot, sign_in

pytestmark = pytest.mark.browser


def watch(page) -> list[str]:  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def assert_no_csp_errors(problems: list[str]) -> None:
    csp = [p for p in problems if "Content Security Policy" in p or "Content-Security-Policy" in p]
    assert csp == [], csp
    assert [p for p in problems if "Uncaught" in p] == []


def test_an_agent_checks_licences_expiries_health_and_repairs_an_asset(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.cmdb.models import HardwareAsset
    from opsdesk.cmdb.tests.factories import ci

    cast = demo_cmdb()
    # The demo CMDB is spotless: one production server with no OS, no owner and no support
    # team gives the health page offenders.
    ci(cast.org_a, "jnb-orphan-99", environment="production", country="ZA")
    context = chromium.new_context(viewport={"width": 1280, "height": 860}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    # A busy 2-core CI machine: waits (not timing assertions) get room to finish.
    expect.set_options(timeout=20_000)
    problems = watch(page)
    sign_in(page, live_server.url, cast.agent)

    # Licences, from the CMDB sub-navigation.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="CMDB").click()
    tabs = page.get_by_role("navigation", name="CMDB")
    tabs.get_by_role("link", name="Licences").click()
    expect(page.get_by_role("heading", level=1, name="Licence position")).to_be_visible()
    expect(tabs.get_by_role("link", name="Licences")).to_have_attribute("aria-current", "page")
    table = page.locator("table.licence-table")
    oracle = table.locator("tbody tr", has_text="Oracle Database Enterprise Edition")
    expect(oracle).to_have_class(re.compile(r"status-row-under_licensed"))
    expect(oracle.locator(".badge")).to_have_text("Under-licensed")
    position = int(oracle.locator("td.num").nth(2).inner_text().strip())
    assert position < 0
    acrobat = table.locator("tbody tr", has_text="Acrobat Pro")
    expect(acrobat.locator(".badge")).to_have_text("Over-licensed")

    # The chart: a bar per product; the under-licensed one in red, its shortfall spelled out.
    chart = page.get_by_role("img", name="Entitlements against consumption per product")
    expect(chart).to_be_visible()
    rows = chart.locator("g.bar-row")
    expect(rows).to_have_count(table.locator("tbody tr").count())
    assert rows.count() >= 5
    assert chart.locator("rect.bar-ent").count() == rows.count()
    assert chart.locator("rect.bar-use").count() == rows.count()
    ora_bar = chart.locator("g.bar-row.under_licensed", has_text="Oracle Database")
    expect(ora_bar).to_have_count(1)
    expect(ora_bar.locator(".bar-short")).to_have_text(f"short {-position}")
    short_fill = ora_bar.locator("rect.bar-use").evaluate("el => getComputedStyle(el).fill")
    ok_bar = chart.locator("g.bar-row", has_text="Acrobat Pro")
    ok_fill = ok_bar.locator("rect.bar-use").evaluate("el => getComputedStyle(el).fill")
    assert short_fill != ok_fill, (short_fill, ok_fill)
    box = ora_bar.locator("rect.bar-ent").bounding_box()
    assert box and box["width"] > 1 and box["height"] > 10
    # No label or value is cut off at the chart's edges.
    frame = chart.bounding_box()
    assert frame
    for text in chart.locator("text").all():
        edge = text.bounding_box()
        assert edge and edge["x"] >= frame["x"] - 0.5, (text.text_content(), edge, frame)
        assert edge["x"] + edge["width"] <= frame["x"] + frame["width"] + 0.5, (
            text.text_content(),
            edge,
            frame,
        )
    shoot(page, "cmdb-assets-01-licences", "cmdb-licences.png")

    # Expiring: 30, 60 and 90 days; a warranty ending within a month is listed.
    tabs.get_by_role("link", name="Expiring").click()
    expect(page.get_by_role("heading", level=1, name="Expiring warranties")).to_be_visible()
    windows = page.get_by_role("navigation", name="Window")
    warranties = page.get_by_role("region", name=re.compile(r"^Warranties ending within"))
    expect(warranties).to_have_accessible_name("Warranties ending within 30 days")
    soon = warranties.locator("tbody tr")
    expect(soon.first).to_be_visible()
    thirty = soon.count()
    days_left = [int(t) for t in warranties.locator("tbody td .badge").all_inner_texts()]
    assert days_left and all(0 <= d <= 30 for d in days_left), days_left
    shoot(page, "cmdb-assets-02-expiring-30")
    windows.get_by_role("link", name="Next 60 days").click()
    expect(page).to_have_url(re.compile(r"days=60"))
    expect(warranties).to_have_accessible_name("Warranties ending within 60 days")
    expect(windows.get_by_role("link", name="Next 60 days")).to_have_attribute(
        "aria-current", "page"
    )
    sixty = soon.count()
    assert sixty > thirty, (thirty, sixty)
    windows.get_by_role("link", name="Next 90 days").click()
    expect(page).to_have_url(re.compile(r"days=90"))
    expect(warranties).to_have_accessible_name("Warranties ending within 90 days")
    assert soon.count() > sixty
    shoot(page, "cmdb-assets-03-expiring-90")
    windows.get_by_role("link", name="Next 30 days").click()
    expect(page).to_have_url(re.compile(r"days=30"))
    expect(soon).to_have_count(thirty)

    # Health: the overall score, a bar per class, offenders that link to their CI.
    tabs.get_by_role("link", name="Health").click()
    expect(page.get_by_role("heading", level=1, name="CMDB health")).to_be_visible()
    expect(page.locator(".health-score")).to_have_text(re.compile(r"^\d+(\.\d+)? %$"))
    health_chart = page.get_by_role("img", name="Health score per CI class")
    expect(health_chart).to_be_visible()
    assert health_chart.locator("rect.bar-score").count() >= 3
    expect(health_chart.locator("text.bar-label", has_text="Server")).to_have_count(1)
    expect(health_chart.locator("text.bar-value").first).to_have_text(re.compile(r"\d+(\.\d+)? %"))
    shoot(page, "cmdb-assets-04-health")
    expect(page.locator(".health-score")).not_to_have_text("100.0 %")
    failing = page.locator("tr.rule-failing", has_text="Every server records its operating system")
    failing.get_by_role("link", name="jnb-orphan-99").click()
    expect(page).to_have_url(re.compile(r"/cmdb/cis/\d+/$"))
    expect(page.get_by_role("heading", level=1, name="jnb-orphan-99")).to_be_visible()

    # Assets: filter, open one, send it for repair.
    page.get_by_role("navigation", name="CMDB").get_by_role("link", name="Assets").click()
    expect(page.get_by_role("heading", level=1, name="Hardware assets")).to_be_visible()
    page.get_by_label("Lifecycle").select_option(label="In use")
    page.get_by_label("Vendor").select_option("Dell")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"lifecycle=in_use"))
    expect(page).to_have_url(re.compile(r"vendor=Dell"))
    listed = page.get_by_role("region", name="Assets").locator("tbody tr")
    expect(listed.first).to_be_visible()
    for text in listed.all_inner_texts():
        assert "Dell" in text and "In use" in text, text
    dell_count = HardwareAsset.objects.filter(
        organization=cast.org_a, vendor="Dell", lifecycle="in_use"
    ).count()
    expect(listed).to_have_count(min(dell_count, 50))
    shoot(page, "cmdb-assets-05-list")
    first = listed.first.locator("td").first.get_by_role("link")
    number = first.inner_text().strip()
    first.click()
    asset = HardwareAsset.objects.get(organization=cast.org_a, number=number)
    expect(page).to_have_url(re.compile(rf"/cmdb/assets/{asset.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(asset.name)
    expect(page.locator("h1 .badge")).to_have_text("In use")
    page.get_by_label("Move to").select_option(label="In repair")
    page.get_by_role("button", name="Change lifecycle").click()
    expect(page.get_by_role("status").filter(has_text=f"{number} is now in repair")).to_be_visible()
    expect(page.locator("h1 .badge")).to_have_text("In repair")
    asset.refresh_from_db()
    assert asset.lifecycle == "in_repair"
    shoot(page, "cmdb-assets-06-asset-in-repair")

    assert_no_csp_errors(problems)
    context.close()


def test_the_licence_page_fits_a_phone(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    cast = demo_cmdb()
    context = chromium.new_context(
        viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems = watch(page)
    sign_in(page, live_server.url, cast.manager)
    for name, path in (("licences", "licences"), ("expiring", "expiring/"), ("health", "health/")):
        page.goto(f"{live_server.url}/cmdb/{path.rstrip('/')}/")
        expect(page.locator("h1")).to_be_visible()
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        shoot(page, f"cmdb-assets-phone-{name}")
        assert widths[0] <= widths[1], (name, widths)
    # The chart's labels stay legible: never drawn smaller than 10 px on screen.
    page.goto(f"{live_server.url}/cmdb/licences/")
    chart = page.locator("svg.licence-chart")
    expect(chart).to_be_visible()
    for svg in ("licence-chart", "health-chart"):
        if svg == "health-chart":
            page.goto(f"{live_server.url}/cmdb/health/")
        label = page.locator(f"svg.{svg} text.bar-label").first
        expect(label).to_be_attached()
        px = label.evaluate("el => el.getScreenCTM().a * parseFloat(getComputedStyle(el).fontSize)")
        assert px >= 10, (svg, px)
    assert_no_csp_errors(problems)
    context.close()
