"""Pages of the part "after the change": the incident panel and its buttons (htmx and plain
posts), the change-page sections, open reviews and the metrics page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from opsdesk.changes import induced, reviews
from opsdesk.changes.choices import InducedState
from opsdesk.changes.models import InducedLink
from opsdesk.changes.tests.factories import topology
from opsdesk.changes.tests.induced_helpers import implemented_change, open_incident
from opsdesk.servicedesk import actions as desk

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def suggested(cast, django_capture_on_commit_callbacks):
    cmdb = topology(cast.org_a)
    now = timezone.now()
    c = implemented_change(cast, [cmdb["db_srv"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    return c, inc, InducedLink.objects.get(incident=inc)


def test_the_incident_page_shows_the_panel_with_the_reason(cast, suggested):
    c, inc, link = suggested
    page = client_for(cast.agent).get(f"/desk/incidents/{inc.pk}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Possibly caused by a change" in html and c.number in html
    assert "depends on it through bank-db" in html
    assert f"/changes/reviews/induced/{link.pk}/confirm/" in html


def test_requesters_do_not_get_the_panel(cast, suggested):
    _, inc, _ = suggested
    assert induced.induced_panel(cast.requester, inc) is None


def test_confirm_with_htmx_answers_the_panel(cast, suggested):
    c, inc, link = suggested
    r = client_for(cast.agent).post(
        f"/changes/reviews/induced/{link.pk}/confirm/", HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    html = r.content.decode()
    assert f"{c.number} confirmed as the cause of {inc.number}" in html
    assert "Confirmed" in html and 'id="induced-panel-' in html
    link.refresh_from_db()
    assert link.state == InducedState.CONFIRMED


def test_dismiss_without_js_redirects_back_and_a_missing_reason_is_said(cast, suggested):
    _, inc, link = suggested
    client = client_for(cast.agent)
    r = client.post(f"/changes/reviews/induced/{link.pk}/dismiss/", {"reason": ""})
    assert r.status_code == 302 and r["Location"] == f"/desk/incidents/{inc.pk}/"
    link.refresh_from_db()
    assert link.state == InducedState.SUGGESTED
    r = client.post(
        f"/changes/reviews/induced/{link.pk}/dismiss/",
        {"reason": "It was the network", "next": "https://evil.example/"},
    )
    assert r["Location"] == f"/desk/incidents/{inc.pk}/"
    link.refresh_from_db()
    assert link.state == InducedState.DISMISSED


def test_other_organisations_and_auditors_cannot_decide(cast, suggested):
    _, _, link = suggested
    r = client_for(cast.agent_b).post(f"/changes/reviews/induced/{link.pk}/confirm/")
    assert r.status_code == 404
    r = client_for(cast.auditor).post(f"/changes/reviews/induced/{link.pk}/confirm/")
    assert r.status_code == 403
    link.refresh_from_db()
    assert link.state == InducedState.SUGGESTED


def test_the_change_sections_render_and_link_by_hand(cast, suggested):
    c, inc, _ = suggested
    section = induced.induced_section(cast.agent, c)
    assert section.order == 60 and section.title == "Incidents after this change"
    html = render_to_string(section.template, section.context)
    assert inc.number in html and "Link an incident it caused" in html
    # Included from a page loop, with the section in the context.
    assert inc.number in render_to_string(section.template, {"section": section})
    other = desk.create_incident(
        acting_user=cast.agent, organization=cast.org_a, title="Slow transfers"
    )
    r = client_for(cast.agent).post(
        f"/changes/reviews/{c.pk}/link-incident/",
        {"incident": other.number},
        HTTP_HX_REQUEST="true",
    )
    assert f"{other.number} linked as caused by {c.number}" in r.content.decode()
    assert InducedLink.objects.get(incident=other).state == InducedState.CONFIRMED
    r = client_for(cast.agent).post(
        f"/changes/reviews/{c.pk}/link-incident/",
        {"incident": "INC9999999"},
        HTTP_HX_REQUEST="true",
    )
    assert "No incident INC9999999" in r.content.decode()


def test_the_review_form_saves_completes_and_reports_missing_fields(cast):
    c = implemented_change(cast, [], timezone.now(), close_code="failed")
    section = reviews.review_section(cast.agent, c)
    html = render_to_string(section.template, section.context)
    assert "Required." in html and "What went wrong (required to complete)" in html
    client = client_for(cast.agent)
    r = client.post(
        f"/changes/reviews/{c.pk}/save/",
        {"summary": "Driver failed", "complete": "1"},
        HTTP_HX_REQUEST="true",
    )
    body = r.content.decode()
    assert "what went wrong: What went wrong is required" in body
    c.review.refresh_from_db()
    assert c.review.summary == "Driver failed" and c.review.state == "open"
    r = client.post(
        f"/changes/reviews/{c.pk}/save/",
        {"summary": "Driver failed", "what_went_wrong": "No module", "lessons": "Canary"},
    )
    assert r.status_code == 302
    r = client.post(f"/changes/reviews/{c.pk}/save/", {"complete": "1"}, HTTP_HX_REQUEST="true")
    assert "Review completed." in r.content.decode()
    c.review.refresh_from_db()
    assert c.review.state == "completed" and c.review.lessons == "Canary"


def test_open_reviews_page(cast):
    c = implemented_change(cast, [], timezone.now(), close_code="backed_out")
    page = client_for(cast.agent).get("/changes/reviews/")
    html = page.content.decode()
    assert page.status_code == 200 and c.number in html and "backed out" in html
    assert client_for(cast.requester).get("/changes/reviews/").status_code == 403


def test_metrics_page(cast):
    cmdb = topology(cast.org_a)
    ok = implemented_change(cast, [cmdb["app"]], timezone.now(), service=cmdb["banking"])
    from opsdesk.changes import actions

    actions.transition_change(acting_user=cast.agent, change=ok, name="close", close_notes="ok")
    client = client_for(cast.manager)
    page = client.get("/changes/reviews/metrics/")
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        "<svg" in html and "Online Banking" in html and 'data-metric="success_rate">100.0%' in html
    )
    page = client.get(
        "/changes/reviews/metrics/", {"by": "team", "start": "2025-05-01", "end": "2025-04-01"}
    )
    assert "The last day must not be before the first." in page.content.decode()
    assert client_for(cast.requester).get("/changes/reviews/metrics/").status_code == 403
