"""The event pages in a real browser, with data made by the real pipeline: generic events
stored in the inbox and processed (dedup, bind, correlate, incident, root cause) on a small
CMDB topology. The live list picks up a new group without a reload; the group page draws
the topology with the suspected cause; an alert is silenced from its labels; a manager
creates an integration and sees its token and snippet once, and the settings page.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from opsdesk.core.testing.browser import shoot, sign_in

pytestmark = pytest.mark.browser


def _events(now: Any) -> list[Any]:
    from opsdesk.events.tests.helpers import event

    def at(seconds: int) -> Any:
        return now - timedelta(seconds=seconds)

    return [
        event(
            "Disk full on db-srv-01: /var/lib/pgsql at 100%",
            severity="critical",
            resource={"host.name": "db-srv-01"},
            labels={"alertname": "DiskFull", "mountpoint": "/var/lib/pgsql"},
            starts_at=at(300),
        ),
        event(
            "bank-db replication lag 120 s",
            severity="major",
            resource={"host.name": "db-srv-01", "service.name": "bank-db"},
            labels={"alertname": "ReplicationLag"},
            starts_at=at(260),
        ),
        event(
            "bank-app HTTP 5xx rate 23%",
            severity="major",
            resource={"service.name": "bank-app"},
            labels={"alertname": "HighErrorRate"},
            starts_at=at(240),
        ),
        event(
            "bank-app HTTP 5xx rate 31%",
            severity="major",
            resource={"service.name": "bank-app"},
            labels={"alertname": "HighErrorRate"},
            starts_at=at(200),
        ),
        event(
            "Paper jam on printer-3f",
            severity="warning",
            resource={"host.name": "printer-3f"},
            labels={"alertname": "PrinterJam"},
            starts_at=at(100),
        ),
    ]


def _ingest(org: Any, integration: Any, events: list[Any]) -> None:
    from opsdesk.events import inbox

    inbox.store(organization_id=org.pk, source="generic", events=events, integration=integration)
    inbox.drain()


def test_operators_work_alert_groups_in_the_browser(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from django.utils import timezone
    from playwright.sync_api import expect

    from opsdesk.changes.tests import factories
    from opsdesk.cmdb.models import CIIdentifier
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.events.models import Alert, AlertGroup, Silence
    from opsdesk.events.tests.helpers import event, integration

    cast = make_cast()
    org = cast.org_a
    cis = factories.topology(org)
    for key, kind in (
        ("app_srv", "fqdn"),
        ("db_srv", "fqdn"),
        ("mail_srv", "fqdn"),
        ("app", "name:application"),
        ("db", "name:database"),
    ):
        CIIdentifier.objects.get_or_create(
            organization=org, kind=kind, value=cis[key].name.lower(), defaults={"ci": cis[key]}
        )
    generic, _, _ = integration(org, "generic", name="in-house monitoring")
    now = timezone.now()
    _ingest(org, generic, _events(now))
    group = AlertGroup.objects.filter(organization=org, title__icontains="db-srv-01").first()
    assert group is not None, list(AlertGroup.objects.values_list("title", flat=True))
    assert Alert.objects.filter(organization=org, ci__isnull=True).exists()  # the printer

    context = chromium.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    sign_in(page, live_server.url, cast.agent)
    page.goto(f"{live_server.url}/events/")
    expect(page.get_by_role("heading", name="Alert groups")).to_be_visible()
    row = page.locator("#group-results tr", has_text=group.number)
    expect(row).to_contain_text("Online Banking")
    expect(row.locator(".badge.sev-critical")).to_be_visible()
    shoot(page, "events-groups")

    # Live: a new fault elsewhere appears without a reload.
    _ingest(
        org,
        generic,
        [
            event(
                "Mail queue on mail-srv-01 over 5000",
                severity="minor",
                resource={"host.name": "mail-srv-01"},
                labels={"alertname": "MailQueue"},
                starts_at=timezone.now(),
            )
        ],
    )
    expect(page.locator("#group-results")).to_contain_text("Mail queue on mail-srv-01")
    shoot(page, "events-groups-live")

    # A hidden tab does not poll; coming back refreshes at once.
    polls: list[str] = []
    page.on(
        "request",
        lambda r: polls.append(r.url) if r.headers.get("hx-request") == "true" else None,
    )
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: true, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page.locator("#ev-live-state")).to_have_text("Paused while hidden")
    page.wait_for_timeout(6_500)  # longer than one poll interval
    assert polls == [], polls
    _ingest(
        org,
        generic,
        [
            event(
                "VPN tunnel to branch-7 down",
                severity="major",
                resource={"host.name": "vpn-gw-02"},
                labels={"alertname": "TunnelDown"},
                starts_at=timezone.now(),
            )
        ],
    )
    page.evaluate(
        "Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    expect(page.locator("#ev-live-state")).to_have_text("Live · every 5 s")
    expect(page.locator("#group-results")).to_contain_text("VPN tunnel to branch-7 down")
    assert polls, "coming back to the tab refreshes the list"

    page.locator(f'#group-results a[href="/events/groups/{group.pk}/"]').first.click()
    page.wait_for_url(f"**/events/groups/{group.pk}/")
    graph = page.locator("#ev-graph")
    expect(graph).to_have_attribute("aria-busy", "false")
    # db-srv-01 and at least bank-db, which runs on it (more when bank-app binds too).
    assert int(graph.get_attribute("data-node-count") or 0) >= 2
    expect(page.locator("#ev-graph-status")).to_contain_text("suspected cause")
    expect(page.locator(".ev-causes li.top")).to_be_visible()
    expect(page.locator(".ev-timeline")).to_contain_text("fired")
    expect(page.get_by_role("heading", name="Why each alert joined")).to_be_visible()
    shoot(page, "events-group")

    # Silence the disk alert from its labels.
    disk = Alert.objects.get(organization=org, title__startswith="Disk full")
    page.locator(f'a[href="/events/silences/new/?alert={disk.pk}"]').click()
    expect(page.locator('input[name="matcher_value"]').first).to_have_value("DiskFull")
    page.get_by_label("Why").fill("Disk being replaced")
    shoot(page, "events-silence-new")
    page.get_by_role("button", name="Create silence").click()
    page.wait_for_url("**/events/silences/")
    expect(page.locator("table")).to_contain_text("alertname=DiskFull")
    assert Silence.objects.filter(organization=org, comment="Disk being replaced").exists()
    shoot(page, "events-silences")

    # Split the replication-lag alert off, then merge the original group into the new one.
    lag = Alert.objects.get(organization=org, title__startswith="bank-db replication")
    page.goto(f"{live_server.url}/events/groups/{group.pk}/")
    page.locator(f"#split-{lag.pk}").check()
    page.get_by_role("button", name="Split into a new group").click()
    page.wait_for_url(lambda url: f"/events/groups/{group.pk}/" not in url)
    expect(page.locator(".message-success")).to_contain_text("moved to a new group")
    lag.refresh_from_db()
    assert lag.group_id != group.pk
    page.get_by_label("Merge another open group into this one").select_option(str(group.pk))
    page.get_by_role("button", name="Merge").click()
    expect(page.locator(".message-success")).to_contain_text(f"{group.number} merged into")
    group.refresh_from_db()
    assert group.state == "merged" and group.merged_into_id == lag.group_id
    expect(page.locator(".ev-decisions")).to_contain_text("Operator")
    shoot(page, "events-group-merged")

    page.goto(f"{live_server.url}/events/alerts/?tab=unbound")
    expect(page.locator("#alert-results")).to_contain_text("Paper jam on printer-3f")
    expect(page.locator("#alert-results")).to_contain_text("host.name=printer-3f")
    shoot(page, "events-alerts-unbound")

    # A manager connects Alertmanager and tunes the correlation.
    page.context.clear_cookies()
    sign_in(page, live_server.url, cast.manager)
    page.goto(f"{live_server.url}/events/integrations/")
    page.get_by_label("Name").fill("prometheus-prod")
    page.get_by_label("Source").select_option("alertmanager")
    page.get_by_role("button", name="Create integration").click()
    expect(page.locator("#created-integration")).to_contain_text("webhook_configs")
    expect(page.locator("#new-url")).to_have_text(f"{live_server.url}/api/v1/events/alertmanager")
    shoot(page, "events-integrations")
    page.goto(f"{live_server.url}/events/settings/")
    page.get_by_label("Topology hops").fill("2")
    page.get_by_label("Propagation (seconds)").fill("240")
    page.get_by_label("Reopen within (seconds)").fill("1800")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator(".message-success")).to_contain_text("Correlation settings saved")
    from opsdesk.events.models import CorrelationSettings

    saved = CorrelationSettings.for_org(cast.org_a.pk)
    assert (saved.topology_hops, saved.propagation_seconds, saved.reopen_seconds) == (2, 240, 1800)
    shoot(page, "events-settings")
    assert not problems, problems
    context.close()
