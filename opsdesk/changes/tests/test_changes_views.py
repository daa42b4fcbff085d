"""Change pages: the list (tabs, filters, sorting), raising each type of change, the change
page (plans, CIs, only the allowed transitions, refusals shown, sections, timeline), edit,
notes, the CI picker, and the template catalogue and its editor."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from opsdesk.changes import actions
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.changes.sections import _PROVIDERS, Section, register_section
from opsdesk.changes.tests.factories import change, ci, template, when

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(cast, client):  # type: ignore[no-untyped-def]
    client.force_login(cast.agent)
    return client


def local(dt, org=None):  # type: ignore[no-untyped-def]
    """`dt` as the browser's datetime-local input sends it: in the viewer's time zone (the
    agent has none of their own, so their organisation's)."""
    from opsdesk.core.models import Organization

    zone = ZoneInfo((org or Organization.objects.get(slug="acme-africa")).time_zone or "UTC")
    return dt.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def test_requesters_have_no_change_pages(cast, client):
    client.force_login(cast.requester)
    assert client.get("/changes/").status_code == 403
    assert 'href="/changes/"' not in client.get("/").content.decode()
    client.force_login(cast.agent)
    assert 'href="/changes/"' in client.get("/").content.decode()


def test_list_tabs_filters_and_sorting(cast, agent):
    mine = change(cast, title="Upgrade the database", assignment_group=cast.team_a)
    actions.update_change(acting_user=cast.agent, change=mine, assignee=cast.agent)
    other = change(cast, title="Patch the mail relay", user=cast.manager, planned_start=when(9))
    done = change(cast, title="Old idea")
    actions.transition_change(acting_user=cast.agent, change=done, name="cancel", reason="No")
    theirs = change(cast, org=cast.org_b, title="Borealis change")

    page = agent.get("/changes/").content.decode()
    assert mine.number in page and other.number in page
    assert f">{done.number}<" not in page and theirs.title not in page
    for label in ("Calendar", "CAB", "Templates", "Deployments", "Risk settings", "Reports"):
        assert f">{label}</a>" in page
    assert "/changes/reviews/metrics/" in page
    page = agent.get("/changes/?tab=mine").content.decode()
    assert mine.number in page and other.number not in page
    page = agent.get("/changes/?tab=all").content.decode()
    assert f">{done.number}<" in page
    page = agent.get("/changes/?tab=all&q=mail").content.decode()
    assert other.number in page and mine.number not in page
    page = agent.get("/changes/?tab=open&sort=-start").content.decode()
    assert page.index(other.number) < page.index(mine.number)
    page = agent.get("/changes/?tab=open&sort=start").content.decode()
    assert page.index(mine.number) < page.index(other.number)
    page = agent.get("/changes/?tab=authorise").content.decode()
    assert "Nothing is waiting for authorisation" in page
    # htmx asks for the results only.
    partial = agent.get("/changes/?tab=all", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and done.number in partial


def test_scheduled_this_week_tab(cast, agent):
    tpl = template(cast)
    soon = change(cast, template=tpl, planned_start=timezone.now() + timedelta(minutes=5))
    actions.transition_change(acting_user=cast.agent, change=soon, name="schedule")
    later = change(cast, template=tpl, planned_start=when(30), title="Later patch")
    actions.transition_change(acting_user=cast.agent, change=later, name="schedule")
    page = agent.get("/changes/?tab=week").content.decode()
    assert later.number not in page
    # Five minutes from now is this week unless the week ends in those five minutes.
    if timezone.localtime(soon.planned_start).weekday() == timezone.localtime().weekday():
        assert soon.number in page


def test_raise_a_normal_change_in_the_form(cast, agent):
    db = ci(cast.org_a, "bank-db", "database")
    start = when(2)
    resp = agent.post(
        "/changes/new/",
        {
            "change_type": "normal",
            "title": "Upgrade the banking database",
            "implementation_plan": "Fail over, upgrade, fail back.",
            "backout_plan": "Restore the snapshot.",
            "planned_start": local(start),
            "planned_end": local(start + timedelta(hours=2)),
            "assignment_group": cast.team_a.pk,
            "cis": [db.pk],
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    created = Change.objects.get(title="Upgrade the banking database")
    assert resp["Location"] == f"/changes/{created.pk}/"
    assert list(created.cis.all()) == [db]
    assert created.planned_start == start


def test_the_form_names_bad_input_and_keeps_the_chosen_cis(cast, agent):
    db = ci(cast.org_a, "bank-db", "database")
    start = when(2)
    resp = agent.post(
        "/changes/new/",
        {
            "change_type": "emergency",
            "title": "Backwards",
            "planned_start": local(start),
            "planned_end": local(start - timedelta(hours=1)),
            "cis": [db.pk],
        },
    )
    assert resp.status_code == 422
    page = resp.content.decode()
    assert "The planned end must be after the planned start." in page
    assert f'value="{db.pk}" checked' in page
    resp = agent.post(
        "/changes/new/", {"change_type": "normal", "title": "x", "ci_search": "no-such-ci"}
    )
    assert resp.status_code == 422
    assert "No single configuration item is named" in resp.content.decode()
    assert Change.objects.count() == 0


def test_a_ci_typed_without_javascript_is_added(cast, agent):
    db = ci(cast.org_a, "bank-db", "database")
    resp = agent.post(
        "/changes/new/", {"change_type": "normal", "title": "Tune it", "ci_search": "BANK-DB"}
    )
    assert resp.status_code == 302
    assert list(Change.objects.get(title="Tune it").cis.all()) == [db]


def test_ci_picker_searches_this_organisation_only(cast, agent):
    mine = ci(cast.org_a, "bank-app-01", "application")
    ci(cast.org_b, "bank-app-02", "application")
    page = agent.get("/changes/cis/search/", {"ci_search": "bank"}).content.decode()
    assert "bank-app-01" in page and "bank-app-02" not in page
    assert f"/changes/cis/{mine.pk}/pick/" in page
    picked = agent.get(f"/changes/cis/{mine.pk}/pick/?field=cis").content.decode()
    assert f'name="cis" value="{mine.pk}" checked' in picked
    theirs = ci(cast.org_b, "b-srv")
    assert agent.get(f"/changes/cis/{theirs.pk}/pick/").status_code == 404


def test_raise_a_standard_change_from_the_catalogue(cast, agent):
    srv = ci(cast.org_a, "web-01")
    tpl = template(cast, cis=[srv], default_duration_minutes=30, description="Monthly patches")
    page = agent.get("/changes/templates/").content.decode()
    assert "Monthly patches" in page and "web-01" in page
    assert f"/changes/new/?template={tpl.pk}" in page
    form = agent.get(f"/changes/new/?template={tpl.pk}").content.decode()
    assert f'value="{srv.pk}" checked' in form
    start = when(1)
    resp = agent.post(
        f"/changes/new/?template={tpl.pk}", {"planned_start": local(start), "cis": [srv.pk]}
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    created = Change.objects.get(template=tpl)
    assert created.change_type == "standard"
    assert created.planned_end == start + timedelta(minutes=30)
    theirs = template(cast, org=cast.org_b, name="B's")
    assert agent.get(f"/changes/new/?template={theirs.pk}").status_code == 404


def test_change_page_shows_plan_cis_allowed_transitions_and_timeline(cast, agent):
    db = ci(cast.org_a, "bank-db", "database")
    c = change(cast, cis=[db], description="Engine 15 to 16")
    page = agent.get(f"/changes/{c.pk}/").content.decode()
    assert "Engine 15 to 16" in page and "Fail over, upgrade, fail back." in page
    assert f"/cmdb/cis/{db.pk}/" in page
    assert f"/changes/{c.pk}/transitions/assess/" in page
    assert f"/changes/{c.pk}/transitions/cancel/" in page
    assert "/transitions/implement/" not in page  # not allowed from new
    assert "raised it as a normal change" in page and "bank-db" in page


def test_transitions_from_the_page_and_refusals_shown(cast, agent):
    c = change(cast)
    resp = agent.post(f"/changes/{c.pk}/transitions/assess/", follow=True)
    assert "moved to Assess" in resp.content.decode()
    c.refresh_from_db()
    assert c.state == "assess"
    resp = agent.post(f"/changes/{c.pk}/transitions/implement/", follow=True)
    page = resp.content.decode()
    assert "Allowed from assess" in page
    resp = agent.post(f"/changes/{c.pk}/transitions/cancel/", {"reason": ""}, follow=True)
    assert "Reason: Required to cancel." in resp.content.decode()
    resp = agent.post(f"/changes/{c.pk}/transitions/cancel/", {"reason": "Duplicate"}, follow=True)
    page = resp.content.decode()
    c.refresh_from_db()
    assert c.state == "cancelled"
    assert "cancelled it (Assess → Cancelled)" in page and "Duplicate" in page
    assert "/transitions/" not in page  # nothing is allowed from a final state


def test_work_notes_and_edit(cast, agent):
    c = change(cast)
    resp = agent.post(f"/changes/{c.pk}/notes/", {"body": "Vendor says go."}, follow=True)
    assert "Vendor says go." in resp.content.decode()
    db = ci(cast.org_a, "bank-db", "database")
    form = agent.get(f"/changes/{c.pk}/edit/").content.decode()
    assert "Upgrade the banking database" in form
    resp = agent.post(
        f"/changes/{c.pk}/edit/",
        {
            "title": "Upgrade the banking database to 16",
            "implementation_plan": c.implementation_plan,
            "backout_plan": c.backout_plan,
            "planned_start": local(c.planned_start),
            "planned_end": local(c.planned_end),
            "cis": [db.pk],
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    c.refresh_from_db()
    assert c.title.endswith("to 16") and list(c.cis.all()) == [db]
    page = agent.get(f"/changes/{c.pk}/").content.decode()
    assert "changed the affected CIs: added bank-db" in page


def test_sections_render_in_their_column_and_a_failing_one_does_not_break_the_page(cast, agent):
    def good(user, change):  # type: ignore[no-untyped-def]
        return Section(
            title="Test side",
            template="changes/_ci_chosen.html",
            column="side",
            context={"ci": change.cis.first() or ci(cast.org_a, "x-srv"), "field": "x"},
        )

    def bad(user, change):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    register_section(good)
    try:
        c = change(cast)
        page = agent.get(f"/changes/{c.pk}/").content.decode()
        assert "Test side" in page and "x-srv" in page
        assert page.index("Test side") > page.index("Next steps")
        register_section(bad)
        resp = agent.get(f"/changes/{c.pk}/")
        assert resp.status_code == 200
        assert "could not be shown" in resp.content.decode()
    finally:
        _PROVIDERS[:] = [p for p in _PROVIDERS if p not in (good, bad)]


def test_other_organisations_change_is_404(cast, agent):
    theirs = change(cast, org=cast.org_b)
    assert agent.get(f"/changes/{theirs.pk}/").status_code == 404
    assert agent.post(f"/changes/{theirs.pk}/transitions/assess/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.state == "new"


def test_managers_edit_the_catalogue_agents_only_read_it(cast, client):
    client.force_login(cast.agent)
    assert client.get("/changes/templates/new/").status_code == 403
    client.force_login(cast.manager)
    srv = ci(cast.org_a, "web-01")
    resp = client.post(
        "/changes/templates/new/",
        {
            "name": "Restart a web server",
            "risk_class": "low",
            "default_duration_minutes": "15",
            "cis": [srv.pk],
            "match_cis": [srv.pk],
            "match_environments": "production, staging",
            "is_active": "on",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    tpl = ChangeTemplate.objects.get(name="Restart a web server")
    assert list(tpl.cis.all()) == [srv] and tpl.match_environments == ["production", "staging"]
    resp = client.post(
        "/changes/templates/new/",
        {"name": "restart a web server", "risk_class": "low", "default_duration_minutes": "15"},
    )
    assert resp.status_code == 422 and "already exists" in resp.content.decode()
    edit = client.get(f"/changes/templates/{tpl.pk}/edit/").content.decode()
    assert f'value="{srv.pk}" checked' in edit
    resp = client.post(
        f"/changes/templates/{tpl.pk}/edit/",
        {"name": tpl.name, "risk_class": "moderate", "default_duration_minutes": "20"},
    )
    assert resp.status_code == 302
    tpl.refresh_from_db()
    assert tpl.is_active is False and tpl.risk_class == "moderate" and not tpl.cis.exists()
    card = f'id="template-{tpl.pk}"'
    assert card not in client.get("/changes/templates/").content.decode()
    assert card in client.get("/changes/templates/?show=retired").content.decode()


def test_the_page_offers_no_authorise_button_while_approvals_are_outstanding(cast, client):  # type: ignore[no-untyped-def]
    from opsdesk.changes import actions
    from opsdesk.changes.tests.factories import change as make_change

    c = make_change(cast, change_manager=cast.manager)
    actions.transition_change(acting_user=cast.agent, change=c, name="assess")
    actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    client.force_login(cast.agent)
    page = client.get(f"/changes/{c.pk}/").content.decode()
    assert f"/changes/{c.pk}/transitions/reject/" in page
    assert f"/changes/{c.pk}/transitions/authorise/" not in page
