"""The incident page's alert-group panel."""

from __future__ import annotations

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from opsdesk.changes.tests.factories import topology
from opsdesk.events import panels, pipeline
from opsdesk.events.tests.group_helpers import batch_for, group
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.panels import panels_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident_group(cast):
    cis = topology(cast.org_a)
    g = group(
        cast.org_a,
        {"title": "Replication lag on bank-db", "severity": "critical", "ci": cis["db"]},
        {"title": "5xx on bank-app", "severity": "major", "ci": cis["app"]},
        service=cis["banking"],
        title="Banking degraded",
    )
    g.root_causes = [
        {
            "ci_id": cis[k].pk,
            "ci": name,
            "ci_class": "Database",
            "score": score,
            "evidence": [f"{name} alerted 40 s before its dependents"],
        }
        for k, name, score in (
            ("db", "bank-db", 0.91),
            ("db_srv", "db-srv-01", 0.6),
            ("app", "bank-app", 0.3),
            ("app_srv", "app-srv-01", 0.1),
        )
    ]
    g.save()
    pipeline.run(batch_for(cast.org_a, opened=(g,)), only=("incident",))
    g.refresh_from_db()
    return g


def test_panel_shows_group_counts_top_three_causes_and_events(cast, incident_group):
    g = incident_group
    panel = panels.alert_group_panel(cast.agent, g.incident)
    assert panel is not None
    assert panel.template in [p.template for p in panels_for(cast.agent, g.incident)]
    (row,) = panel.context["groups"]
    assert [c["ci"] for c in row["causes"]] == ["bank-db", "db-srv-01", "bank-app"]
    assert len(row["events"]) == 2
    html = render_to_string(panel.template, panel.context)
    assert g.number in html and "bank-db alerted 40 s before its dependents" in html
    assert "app-srv-01" not in html  # only the top three
    assert reverse("events-group", args=[g.pk]) in html
    assert "2 alerts, 2 firing" in html


def test_panel_is_registered_and_shown_on_the_incident_page(client, cast, incident_group):
    client.force_login(cast.agent)
    resp = client.get(reverse("desk-incident", args=[incident_group.incident_id]))
    assert resp.status_code == 200
    assert incident_group.number in resp.content.decode()


def test_no_panel_for_requesters_or_incidents_without_groups(cast, incident_group):
    assert panels.alert_group_panel(cast.requester, incident_group.incident) is None
    other = desk.create_incident(acting_user=cast.agent, organization=cast.org_a, title="Printer")
    assert panels.alert_group_panel(cast.agent, other) is None
