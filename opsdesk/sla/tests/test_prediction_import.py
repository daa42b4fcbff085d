"""A ServiceNow import leaves the imported incidents with their service-level clocks, replayed
from the imported history (silenced: no warnings or breaches raised for the past), which the
breach-prediction model then learns from."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsdesk.core.models import BusinessCalendar
from opsdesk.servicedesk.importers.servicenow import import_incidents
from opsdesk.servicedesk.models import Incident
from opsdesk.sla.models import Clock, ClockEvent, Definition
from opsdesk.sla.prediction import load_models

pytestmark = pytest.mark.django_db
SLICE = (
    Path(__file__).resolve().parents[2]
    / "servicedesk"
    / "tests"
    / "fixtures"
    / "servicenow_incident_event_log-3000.csv.zip"
)


def test_imported_incidents_get_their_clocks(cast):
    calendar = BusinessCalendar.objects.create(
        organization=cast.org_a, name="24x7", always_open=True, is_default=True
    )
    Definition.objects.create(
        organization=cast.org_a,
        name="Standard",
        resolution_minutes={"1": 240, "2": 480, "3": 1440, "4": 4320, "5": 4320},
        calendar=calendar,
    )
    result = import_incidents(acting_user=cast.admin, organization=cast.org_a, path=SLICE)
    incidents = Incident.objects.filter(organization=cast.org_a).count()
    assert result.created == incidents > 0
    clocks = Clock.objects.filter(organization=cast.org_a, metric="resolution")
    assert result.clocks == clocks.count() == incidents  # one resolution clock each
    assert ClockEvent.objects.count() == 0  # history is not re-announced
    assert clocks.filter(status="stopped").count() > 0.9 * incidents
    breached = clocks.filter(breached=True).count()
    assert 0 < breached < incidents
    # The model learns from them.
    model = load_models(cast.org_a.pk, now=max(c.stopped_at for c in clocks if c.stopped_at))
    assert model[("sla", "resolution")].total > 0.9 * incidents
    # A second run changes nothing and recomputes nothing.
    again = import_incidents(acting_user=cast.admin, organization=cast.org_a, path=SLICE)
    assert again.created == again.updated == again.clocks == 0


def test_an_organisation_without_definitions_gets_no_clocks(cast):
    result = import_incidents(acting_user=cast.admin, organization=cast.org_a, path=SLICE)
    assert result.created > 0
    assert result.clocks == 0
    assert not Clock.objects.exists()
