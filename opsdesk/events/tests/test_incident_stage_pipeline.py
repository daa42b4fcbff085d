"""The incident stage inside the whole pipeline: events stored in the inbox, drained by a
worker, become one group and one incident, which resolves when the events resolve."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.events import inbox
from opsdesk.events.choices import GroupState
from opsdesk.events.correlation import text as textmod
from opsdesk.events.models import AlertGroup, CorrelationSettings
from opsdesk.events.tests.helpers import event
from opsdesk.servicedesk.choices import Channel, IncidentState
from opsdesk.servicedesk.models import Incident

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_miners():
    textmod.forget()
    yield
    textmod.forget()


def _store(org, *events):
    return inbox.store(organization_id=org.pk, source="generic", events=list(events))


def test_events_open_one_incident_and_resolving_them_resolves_it(cast):
    CorrelationSettings.objects.create(organization=cast.org_a, resolve_after_seconds=0)
    start = timezone.now() - timedelta(minutes=2)
    fired = event(
        "Database db-07 unreachable", severity="critical", fingerprint="db07", starts_at=start
    )
    _store(cast.org_a, fired)
    inbox.drain()
    group = AlertGroup.objects.get(organization=cast.org_a)
    incident = Incident.objects.get(organization=cast.org_a)
    assert group.incident_id == incident.pk
    assert incident.channel == Channel.EVENT and incident.state == IncidentState.NEW
    # The same event again (a retry of the source): still one group, one incident.
    _store(
        cast.org_a,
        event(
            "Database db-07 unreachable", severity="critical", fingerprint="db07", starts_at=start
        ),
    )
    inbox.drain()
    assert Incident.objects.filter(organization=cast.org_a).count() == 1
    assert AlertGroup.objects.filter(organization=cast.org_a).count() == 1
    # It resolves.
    _store(
        cast.org_a,
        event(
            "Database db-07 unreachable",
            status="resolved",
            severity="critical",
            fingerprint="db07",
            starts_at=start,
        ),
    )
    inbox.drain()
    group.refresh_from_db()
    incident.refresh_from_db()
    assert group.state == GroupState.RESOLVED
    assert incident.state == IncidentState.RESOLVED
    assert Incident.objects.filter(organization=cast.org_b).count() == 0
