"""A CAB meeting in a real browser: a change manager plans the weekly CAB, builds its agenda
from the changes awaiting the board, starts the meeting, approves one change (which the
approvals engine then schedules) and defers the other; the minutes keep both decisions and
the change page shows who approved, when and why.

Run with `pytest -m browser`. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

from opsdesk.core.testing.browser import shoot

pytestmark = pytest.mark.browser


def test_a_cab_meeting_approves_a_change(  # type: ignore[no-untyped-def]
    live_server, transactional_db, chromium
):
    from playwright.sync_api import expect

    from opsdesk.changes.choices import ChangeState
    from opsdesk.changes.models import CabMeeting
    from opsdesk.changes.tests.approvals_helpers import policy, to_authorise
    from opsdesk.changes.tests.factories import when
    from opsdesk.core.testing.cast import make_cast
    from opsdesk.core.testing.factories import PASSWORD

    cast = make_cast()
    policy(cast, "CAB for normal changes", [{"approver_kind": "cab"}], change_types=["normal"])
    db = to_authorise(cast, title="Upgrade the banking database", planned_start=when(3))
    mail = to_authorise(cast, title="Patch the mail server", planned_start=when(4))

    context = chromium.new_context(viewport={"width": 1366, "height": 1000}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(60_000)
    expect.set_options(timeout=45_000)
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

    page.goto(f"{live_server.url}/changes/cab/")
    expect(page.get_by_role("heading", name="Change advisory board")).to_be_visible()
    expect(page.get_by_text("2 changes await a CAB decision")).to_be_visible()
    page.get_by_label("Title").fill("Weekly CAB")
    page.get_by_label("Location").fill("Boardroom 2")
    page.get_by_label("Members").select_option(label="Alex Agent")
    shoot(page, "cab-home")
    page.get_by_role("button", name="Plan meeting").click()

    meeting = CabMeeting.objects.get(title="Weekly CAB")
    expect(page.get_by_role("heading", name=f"{meeting.number} · Weekly CAB")).to_be_visible()
    expect(page.get_by_text("The agenda is empty.")).to_be_visible()
    page.get_by_role("button", name="Build agenda").click()
    expect(page.get_by_text("2 changes added to the agenda.")).to_be_visible()
    agenda = page.locator("table.apv-agenda")
    expect(agenda.get_by_role("row")).to_have_count(3)
    expect(agenda).to_contain_text(db.number)
    expect(agenda).to_contain_text(mail.number)

    page.get_by_role("button", name="Start meeting").click()
    expect(page.get_by_text("Meeting started.")).to_be_visible()
    page.get_by_label(f"Notes on {db.number}").fill("Back-out tested; low blast radius.")
    page.get_by_role("button", name=f"Approve {db.number}").click()
    expect(page.get_by_text(f"{db.number}: approved.")).to_be_visible()
    page.get_by_label(f"Notes on {mail.number}").fill("Wait for the vendor's patch notes.")
    page.get_by_role("button", name=f"Defer {mail.number}").click()
    expect(page.get_by_text(f"{mail.number}: deferred.")).to_be_visible()
    minutes = page.get_by_role("region", name="Minutes")
    expect(minutes).to_contain_text("1 approved · 0 rejected · 1 deferred")
    expect(minutes).to_contain_text("Back-out tested; low blast radius.")
    shoot(page, "cab-meeting-decisions")

    db.refresh_from_db()
    mail.refresh_from_db()
    assert db.state == ChangeState.SCHEDULED
    assert mail.state == ChangeState.AUTHORISE

    page.goto(f"{live_server.url}/changes/{db.pk}/")
    section = page.get_by_role("region", name="Approvals")
    expect(section).to_contain_text("Approved")
    expect(section).to_contain_text("Mandla Manager")
    expect(section).to_contain_text("Back-out tested; low blast radius.")
    shoot(page, "cab-change-approved")

    page.goto(f"{live_server.url}/changes/cab/policies/")
    expect(page.get_by_role("heading", name="CAB for normal changes")).to_be_visible()
    expect(page.get_by_text("CAB: a CAB meeting")).to_be_visible()
    shoot(page, "cab-policies")
    assert not problems, problems
