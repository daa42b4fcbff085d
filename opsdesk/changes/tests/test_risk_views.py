"""The risk pages: the change-page section, the htmx questionnaire, a change's risk page and
the settings page with its live preview."""

from __future__ import annotations

import re

import pytest
from django.template.loader import render_to_string
from django.test import Client

from opsdesk.changes import risk
from opsdesk.changes.models import RiskSettings
from opsdesk.changes.sections import sections_for
from opsdesk.changes.tests.factories import change, topology
from opsdesk.changes.views_risk import contribution_chart

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_the_section_is_registered_and_renders_every_factor(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"]])
    section = next(s for s in sections_for(cast.agent, c) if s.title == "Risk")
    assert section.order == 20 and section.column == "main"
    html = render_to_string(section.template, section.context)
    for label in risk.FACTORS.values():
        assert label in html
    assert "Online Banking (tier 1)" in html
    assert "live estimate" in html and "Has this change been done before?" in html
    assert '<svg class="chart risk-chart"' in html
    assert "Assess risk" in html
    # An auditor reads the risk but gets no questionnaire form.
    audit = next(s for s in sections_for(cast.auditor, c) if s.title == "Risk")
    assert "Assess risk" not in render_to_string(audit.template, audit.context)
    assert all(s.title != "Risk" for s in sections_for(cast.requester, c))


def test_the_chart_scales_bars_to_the_largest_contribution():
    factors = [
        {"label": "A", "contribution": 20.0, "score": 1.0, "weight": 20},
        {"label": "B <x>", "contribution": 5.0, "score": 0.25, "weight": 20},
    ]
    svg = contribution_chart(factors, title="t")
    widths = [float(w) for w in re.findall(r'<rect[^>]*width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(4 * widths[1])
    assert "B &lt;x&gt;" in svg and "risk-bar-high" in svg and "risk-bar-low" in svg


def test_answering_the_questionnaire_with_htmx_returns_the_section(cast):
    c = change(cast)
    client = client_for(cast.agent)
    data = {"q_done_before": "no", "q_backout": "yes", "q_outage": "full", "q_tested": "no"}
    resp = client.post(f"/changes/risk/{c.pk}/assess", data, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert html.lstrip().startswith(f'<div class="risk-section" id="risk-section-{c.pk}"')
    assert "Assessment saved" in html and "Re-assess risk" in html
    c.refresh_from_db()
    assert c.risk_answers == {
        "done_before": "no",
        "outage": "full",
        "tested": "no",
        "backout": "yes",
    }
    assert c.risk_class
    bad = client.post(
        f"/changes/risk/{c.pk}/assess", {"q_outage": "sometimes"}, HTTP_HX_REQUEST="true"
    )
    assert "answers.outage" in bad.content.decode()
    # Without htmx: a redirect to the change's risk page, which shows the stored result.
    resp = client.post(f"/changes/risk/{c.pk}/assess", data)
    assert resp.status_code == 302
    page = client.get(resp["Location"]).content.decode()
    assert f"Risk of {c.number}" in page and "assessed" in page
    assert client_for(cast.auditor).post(f"/changes/risk/{c.pk}/assess", data).status_code == 403
    other = change(cast, org=cast.org_b)
    assert client.get(f"/changes/risk/{other.pk}/").status_code == 404


def test_settings_page_saves_and_validates(cast):
    client = client_for(cast.manager)
    page = client.get("/changes/risk/")
    assert page.status_code == 200 and "Every setting is the default" in page.content.decode()
    form = {f"weight_{k}": str(v) for k, v in risk.DEFAULT_WEIGHTS.items()}
    form |= {f"threshold_{k}": str(v) for k, v in risk.DEFAULT_THRESHOLDS.items()}
    form |= {"induced_window_hours": "12", "questionnaire": ""}
    resp = client.post("/changes/risk/", {**form, "weight_timing": "30"})
    assert resp.status_code == 302
    row = RiskSettings.objects.get(organization=cast.org_a)
    assert row.weights["timing"] == 30 and row.induced_window_hours == 12
    resp = client.post("/changes/risk/", {**form, "threshold_high": "10"})
    assert resp.status_code == 422
    assert "Must be above the moderate threshold" in resp.content.decode()
    resp = client.post("/changes/risk/", {**form, "questionnaire": "[{"})
    assert resp.status_code == 422 and "Not valid JSON" in resp.content.decode()
    assert client_for(cast.agent).post("/changes/risk/", form).status_code == 403
    assert client_for(cast.requester).get("/changes/risk/").status_code == 403


def test_preview_reclasses_recent_assessments(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"], cis["mail_srv"]])
    risk.assess_risk(
        acting_user=cast.agent,
        change=c,
        answers={"done_before": "yes", "backout": "yes", "outage": "none", "tested": "yes"},
    )
    assert c.risk_class == "low"
    client = client_for(cast.manager)
    form = {f"weight_{k}": "0" for k in risk.FACTORS} | {"weight_blast_radius": "10"}
    form |= {f"threshold_{k}": str(v) for k, v in risk.DEFAULT_THRESHOLDS.items()}
    resp = client.post("/changes/risk/preview", form, HTTP_HX_REQUEST="true")
    html = resp.content.decode()
    assert c.number in html and "risk-moved" in html and "higher" in html
    assert ">High<" in html and ">Low<" in html
    bad = client.post("/changes/risk/preview", {**form, "weight_blast_radius": "-3"})
    assert "weights.blast_radius" in bad.content.decode()


def test_the_change_page_shows_the_risk_section(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"]])
    page = client_for(cast.agent).get(f"/changes/{c.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="risk-section-{c.pk}"' in html and "Online Banking (tier 1)" in html
    assert "Has this change been done before?" in html
