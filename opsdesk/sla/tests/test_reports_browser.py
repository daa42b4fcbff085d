"""The service-level overview and an organisation's monthly report in a real browser.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/ (and, with
UPDATE_DOC_SCREENSHOTS=1, to docs/img/sla-overview.png and docs/img/sla-report.png).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def _history(cast):  # type: ignore[no-untyped-def]
    """Six months of stopped clocks with known compliance, October's breaches on real
    incidents, resolved incidents for MTTA/MTTR and live clocks."""
    from opsdesk.accounts.models import Team
    from opsdesk.cmdb.tests.factories import ci
    from opsdesk.servicedesk.models import Activity
    from opsdesk.sla.tests.reporting import at, clock, definitions, incident

    d = definitions(cast)
    network = Team.objects.create(organization=cast.org_a, name="Network", slug="network")
    services = [
        ci(cast.org_a, name, "business_service")
        for name in ("Online banking", "Email", "Payroll", "VPN")
    ]
    # Per month: (SLA clocks, SLA breaches, OLA breaches of 10, UC breaches of 6).
    months = {5: (40, 2, 1, 0), 6: (44, 3, 2, 1), 7: (38, 4, 1, 0), 8: (50, 2, 0, 1)}
    months |= {9: (46, 5, 2, 2), 10: (30, 3, 3, 1)}
    for month, (total, breached, ola_breached, uc_breached) in months.items():
        day = at(2026, month, 12, 11)
        for i in range(total):
            clock(
                d["sla"],
                stopped=day + timedelta(hours=i),
                breached=i < breached and month != 10,
                service=services[i % 4],
                priority=1 + i % 4,
                team=cast.team_a if i % 2 else network,
            )
        for i in range(10):
            clock(d["ola"], stopped=day, breached=i < ola_breached)
        for i in range(6):
            clock(d["uc"], stopped=day, breached=i < uc_breached)
    resolved = at(2026, 10, 16, 15)
    hours = [0.5, 1.5, 2, 3, 3.5, 5, 6, 7, 9, 12, 20, 30, 50, 80, 130, 200]
    for i, h in enumerate(hours):
        opened = resolved - timedelta(hours=h)
        found = incident(
            cast.org_a,
            opened=opened,
            resolved=resolved,
            priority=1 + i % 4,
            first_assigned_at=opened + timedelta(minutes=5 + 7 * i),
            service=services[i % 4],
            assignment_group=network if i % 3 else cast.team_a,
        )
        clock(
            d["sla"],
            metric="response",
            subject_id=found.pk,
            number=found.number,
            started=opened,
            stopped=opened + timedelta(minutes=5 + 7 * i),
            elapsed=(5 + 7 * i) * 60,
            target=7200,
            priority=found.priority,
        )
    # October's SLA breaches: tickets the network team held, then the service desk.
    for i, (prio, hours_open) in enumerate(((1, 10.5), (2, 13.5), (2, 16.5))):
        opened = resolved - timedelta(hours=hours_open)
        found = incident(
            cast.org_a,
            opened=opened,
            resolved=resolved,
            priority=prio,
            first_assigned_at=opened + timedelta(minutes=5),
            service=services[i],
            assignment_group=cast.team_a,
        )
        handover = opened + timedelta(hours=hours_open * 0.6)
        for kind, moment, data in (
            ("created", opened, {"priority": prio}),
            ("assigned", opened + timedelta(minutes=5), {"group_id": network.pk}),
            ("state", opened + timedelta(minutes=5), {"to": "in_progress"}),
            ("assigned", handover, {"group_id": cast.team_a.pk}),
            ("state", resolved, {"to": "resolved"}),
        ):
            Activity.objects.create(
                organization=cast.org_a,
                subject_type="incident",
                subject_id=found.pk,
                kind=kind,
                at=moment,
                data=data,
            )
        target = (4 if prio == 1 else 8) * 3600
        if i == 1:  # answered late, too
            clock(
                d["sla"],
                metric="response",
                subject_id=found.pk,
                number=found.number,
                started=opened,
                stopped=opened + timedelta(minutes=40),
                breached=True,
                elapsed=40 * 60,
                target=30 * 60,
                service=found.service,
                priority=prio,
            )
        clock(
            d["sla"],
            subject_id=found.pk,
            number=found.number,
            started=opened,
            stopped=resolved,
            breached=True,
            elapsed=int(hours_open * 3600),
            target=target,
            service=found.service,
            priority=prio,
            team=cast.team_a,
        )
    now = at(2026, 10, 20, 12)
    for i, minutes in enumerate((-45, 20, 75, 150, 400)):
        clock(
            d["sla"],
            stopped=None,
            number=f"INC00{90 + i}",
            due=now + timedelta(minutes=minutes),
            elapsed=6 * 3600,
            priority=1 + i % 3,
        )
    return now


def test_the_overview_and_the_monthly_report(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium, monkeypatch
):
    from playwright.sync_api import expect

    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD
    from opsdesk.sla import views_reports

    cast = make_cast()
    now = _history(cast)
    monkeypatch.setattr(views_reports, "_now", lambda: now)

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
    page.get_by_label("Email").fill(cast.manager.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.goto(f"{live_server.url}/sla/")
    expect(page.get_by_role("heading", name="Service levels", exact=True)).to_be_visible()
    sla = page.locator('.slr-stat[data-kind="sla"]')
    # October: 30 met + 3 breached on incidents; September 41 of 46.
    expect(sla.locator('[data-metric="compliance"]')).to_have_text("90.9%")
    expect(sla.locator('[data-metric="delta"]')).to_contain_text("+1.8 pts vs Sep (89.1%)")
    expect(page.locator("#slr-trend svg")).to_be_visible()
    risk = page.get_by_role("region", name="Most at risk")
    expect(risk.locator("tbody tr").first).to_contain_text("INC0090")
    expect(risk.locator("tbody tr").first).to_contain_text("overdue by 45 m")
    expect(page.get_by_role("link", name="All clocks likely to breach →")).to_have_attribute(
        "href", "/sla/clocks/"
    )
    for name in ("Definitions", "Calendars", "Chain", "Vendors"):
        expect(page.get_by_role("navigation", name="Service-level management")).to_contain_text(
            name
        )
    shoot(page, "sla-overview", "sla-overview.png")

    page.get_by_role("link", name="Monthly report").click()
    expect(page.get_by_role("heading", name="Service-level report: Acme Africa")).to_be_visible()
    expect(page.get_by_text("October 2026 · clocks that stopped")).to_be_visible()
    breaches = page.get_by_role("table", name="SLA breaches")
    expect(breaches.locator("tbody tr")).to_have_count(4)  # 3 resolution, 1 response
    # The chain replays each ticket: the service desk held it when its OLA ran out.
    expect(breaches.locator("tbody tr").first).to_contain_text("Service Desk A (OLA)")
    expect(page.get_by_role("table", name="UC compliance by supplier")).to_contain_text("Fibre Co")
    expect(page.locator(".slr-histogram").first).to_be_visible()
    shoot(page, "sla-report", "sla-report.png")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download XLSX").click()
    assert download.value.suggested_filename == "sla-report-acme-africa-2026-10.xlsx"

    page.get_by_role("link", name="← Previous month").click()
    expect(page.get_by_text("September 2026 · clocks that stopped")).to_be_visible()
    expect(page.locator('.slr-stat[data-kind="sla"] [data-metric="compliance"]')).to_have_text(
        "89.1%"
    )
    assert not problems, problems
    context.close()
