"""Issue 7, "done when", in a real browser on the demo: weeks of simulated monitoring on the
demo CMDB went through the real pipeline; an agent finds the open cascade on the core banking
database server in the live alert-group list, sees its topology with the server as the
suspected cause and the change implemented on it minutes before, follows the group to its
incident, where the alert-group panel names the same cause; a real Alertmanager payload
posted over HTTP while the page is open shows up as a new group without a reload.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/ (and, with
UPDATE_DOC_SCREENSHOTS=1, to docs/img/ for the README)."""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import shoot, sign_in

pytestmark = pytest.mark.browser


def test_the_demo_cascade_its_cause_its_incident_and_a_live_payload(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium, client
):
    from playwright.sync_api import expect

    from opsdesk.changes.tests.factories import template
    from opsdesk.core.testing.browser import demo_cmdb
    from opsdesk.events import inbox
    from opsdesk.events.choices import GroupState
    from opsdesk.events.demo import seed_demo
    from opsdesk.events.models import AlertGroup
    from opsdesk.events.tests.helpers import integration, payload, post

    cast = demo_cmdb()
    template(cast, name="Patch and reboot a server")
    seed_demo(cast.org_a, {})
    live = (
        AlertGroup.objects.filter(organization=cast.org_a, state=GroupState.OPEN)
        .filter(title__contains="dbs-07")
        .get()
    )
    server = live.root_causes[0]["ci"]
    change = live.cause_change
    # The group's timeline is this cascade's, though its alerts fired in earlier ones too.
    from opsdesk.events.models import AlertEvent
    from opsdesk.events.views_groups import _timeline

    assert AlertEvent.objects.filter(alert__group=live, at__lt=live.onset_at).exists()
    assert all(row.at >= live.onset_at for row in _timeline(live))

    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=45_000)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on(
        "console",
        lambda msg: problems.append(f"{page.url}: {msg.text}") if msg.type == "error" else None,
    )

    # 1. The live list: the open cascade, its service, incident and suspected cause.
    sign_in(page, live_server.url, cast.agent)
    page.goto(f"{live_server.url}/events/")
    row = page.locator("tr", has_text=live.number)
    expect(row).to_contain_text(server)
    expect(row).to_contain_text(live.incident.number)
    # The main navigation fits one line at 1366 px.
    nav = page.locator("nav.mainnav").bounding_box()
    first = page.locator("nav.mainnav a").first.bounding_box()
    assert nav is not None and first is not None and nav["height"] < first["height"] * 1.6
    shoot(page, "events-demo-groups", "events-groups.png")

    # 2. The group page: the graph with the cause, the candidates with their evidence.
    row.get_by_role("link", name=live.number).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("dbs-07")
    expect(page.locator("canvas").first).to_be_visible()
    candidates = page.locator("section, div", has_text="suspected cause").first
    expect(candidates).to_be_visible()
    expect(page.get_by_text(change.number).first).to_be_visible()
    expect(page.get_by_text("Why each alert joined")).to_be_visible()
    shoot(page, "events-demo-group", "events-group.png")

    # 3. Its incident carries the alert-group panel with the same cause.
    page.get_by_role("link", name=live.incident.number).first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(live.incident.number)
    panel = page.locator("section", has_text=live.number).first
    expect(panel).to_contain_text(server)
    shoot(page, "events-demo-incident")

    # 4. A real Alertmanager webhook arrives while the list is open; the worker processes it
    #    and the live list shows the new group without a reload.
    page.goto(f"{live_server.url}/events/")
    expect(page.locator("tr", has_text=live.number)).to_be_visible()
    _, token, _ = integration(cast.org_a, "alertmanager", name="prometheus-test")
    body = payload("alertmanager/zulip-alertmanager-two-firing.json")
    assert post(client, "alertmanager", body, token).status_code == 202
    inbox.drain("browser-test")
    newest = AlertGroup.objects.filter(organization=cast.org_a).order_by("-pk").first()
    assert newest is not None and newest.pk != live.pk
    expect(page.locator("tr", has_text=newest.number)).to_be_visible()
    assert not problems, "\n".join(problems)
    context.close()
