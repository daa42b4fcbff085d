"""The recompute log page (/sla/recomputes/): recomputations, what moved, and the warnings
and breaches the sweep recorded, for the roles that read service levels only."""

from __future__ import annotations

import pytest

from opsdesk.sla.models import Recompute
from opsdesk.sla.sweep import sweep
from opsdesk.sla.tests.test_sweep import T0, H, open_incident, setup_sla

pytestmark = pytest.mark.django_db


def make_log(cast, incident):
    return Recompute.objects.create(
        organization=cast.org_a,
        at=T0 + H,
        actor=cast.admin,
        reason="Calendar South Africa changed: exception added",
        tickets=12,
        clocks=20,
        changed=1,
        details=[
            {
                "number": incident.number,
                "subject_id": incident.pk,
                "definition": "Gold",
                "metric": "resolution",
                "from": "2026-03-02T17:00:00+02:00",
                "to": "2026-03-03T09:00:00+02:00",
            }
        ],
    )


def test_the_log_lists_recomputations_chart_and_recent_events(cast, client):
    setup_sla(
        cast.org_a,
        escalations=[{"at": 50, "action": "notify", "to": "group"}],
    )
    incident = open_incident(cast)
    sweep(T0 + 4 * H)
    log = make_log(cast, incident)
    Recompute.objects.create(organization=cast.org_b, reason="Borealis secret", at=T0)
    client.force_login(cast.agent)
    page = client.get("/sla/recomputes/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Calendar South Africa changed: exception added" in html
    assert "Borealis secret" not in html
    assert f'href="/sla/recomputes/{log.pk}/"' in html
    assert '<svg class="chart hbar-chart"' in html and "swp-bar-moved" in html
    # The sweep's 50 % warning and its escalation.
    assert incident.number in html
    assert "Notified Alex Agent, Mandla Manager" in html
    assert "style=" not in html and "<script>" not in html

    detail = client.get(f"/sla/recomputes/{log.pk}/")
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "1 due time moved" in text and "2026-03-03T09:00:00+02:00" in text
    assert f'href="/desk/incidents/{incident.pk}/"' in text


def test_requesters_and_other_organisations_get_404(cast, client):
    incident = open_incident(cast)
    log = make_log(cast, incident)
    other = Recompute.objects.create(organization=cast.org_b, reason="B", at=T0)
    client.force_login(cast.requester)
    assert client.get("/sla/recomputes/").status_code == 404
    assert client.get(f"/sla/recomputes/{log.pk}/").status_code == 404
    client.force_login(cast.auditor)
    assert client.get("/sla/recomputes/").status_code == 200
    assert client.get(f"/sla/recomputes/{other.pk}/").status_code == 404
    assert client.get("/sla/recomputes/999999/").status_code == 404
    client.logout()
    assert client.get("/sla/recomputes/").status_code == 302


def test_an_empty_log_says_so(cast, client):
    client.force_login(cast.manager)
    html = client.get("/sla/recomputes/").content.decode()
    assert "Nothing has been recomputed yet" in html
    assert "No warning or breach has been recorded yet." in html
