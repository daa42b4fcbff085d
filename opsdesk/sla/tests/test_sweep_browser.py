"""The recompute log in a real browser: a manager reads what was recomputed, opens one
recomputation to see which due times moved, and follows a breach to its ticket.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/ (and
docs/img/sla-recomputes.png with UPDATE_DOC_SCREENSHOTS=1).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_a_manager_reads_the_recompute_log(live_server, transactional_db, chromium):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD, TeamFactory
    from opsdesk.servicedesk import timeline
    from opsdesk.sla.models import Recompute
    from opsdesk.sla.sweep import sweep
    from opsdesk.sla.tests.test_sweep import T0, H, open_incident, setup_sla

    cast = make_cast()
    cast.team_a.manager = cast.manager
    cast.team_a.save()
    network = TeamFactory(organization=cast.org_a, name="Network", slug="network")
    setup_sla(
        cast.org_a,
        escalations=[
            {"at": 75, "action": "notify", "to": "group_manager"},
            {"at": 90, "action": "raise_priority"},
            {"at": 100, "action": "reassign", "team": network.pk},
        ],
    )
    with timeline.silenced():
        incidents = [open_incident(cast, title=f"Mail is down ({n})") for n in range(3)]
    for hours in (4, 6, 7.5, 8):
        with timeline.silenced():
            sweep(T0 + timedelta(hours=hours))
    for n, (reason, changed) in enumerate(
        [
            ("Calendar South Africa changed: Day of Goodwill added as an exception", 3),
            ("Definition Gold changed: P2 resolution 8 h -> 6 h", 12),
            ("opsdesk sla recompute --open", 0),
            ("Calendar Kenya changed: working hours 08:00-17:00", 5),
        ]
    ):
        Recompute.objects.create(
            organization=cast.org_a,
            at=T0 + timedelta(days=n, hours=2),
            actor=cast.admin if n != 2 else None,
            reason=reason,
            tickets=40 + n,
            clocks=70 + n,
            changed=changed,
            details=[
                {
                    "number": i.number,
                    "subject_id": i.pk,
                    "definition": "Gold",
                    "metric": "resolution",
                    "from": (T0 + 8 * H).isoformat(),
                    "to": (T0 + 24 * H).isoformat(),
                }
                for i in incidents[: min(changed, 3)]
            ],
        )

    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
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

    page.goto(f"{live_server.url}/sla/recomputes/")
    expect(page.get_by_role("heading", name="Recompute log")).to_be_visible()
    log = page.get_by_role("region", name="Recomputations")
    expect(log.get_by_role("row")).to_have_count(5)
    expect(log).to_contain_text("Definition Gold changed")
    chart = page.get_by_role("img", name="Due times moved by each recomputation")
    expect(chart).to_be_visible()
    events = page.get_by_role("region", name="Recent warnings and breaches")
    expect(events.get_by_text("Breached")).to_have_count(3)
    expect(events).to_contain_text("Reassigned to Network")
    expect(events).to_contain_text("Priority P3 → P2")
    expect(events).to_contain_text("Notified Mandla Manager")
    shoot(page, "sla-recomputes", "sla-recomputes.png")

    log.get_by_role("link", name="12").click()
    expect(page).to_have_url(re.compile(r"/sla/recomputes/\d+/$"))
    expect(page.get_by_role("heading", name="12 due times moved")).to_be_visible()
    page.get_by_role("link", name=incidents[0].number).click()
    expect(page).to_have_url(re.compile(rf"/desk/incidents/{incidents[0].pk}/$"))
    assert problems == []
    context.close()
