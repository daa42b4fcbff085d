"""The front stages together, from the intake door through ``inbox.process_pending``:
silence -> dedup -> flapping -> bind -> maintenance, with real Alertmanager payloads."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes.window_actions import create_window
from opsdesk.cmdb.actions import create_ci
from opsdesk.cmdb.models import CIClass
from opsdesk.events.inbox import process_pending
from opsdesk.events.models import Alert, AlertEvent, Silence
from opsdesk.events.silences import create_silence
from opsdesk.events.tests.helpers import integration, payload, post

pytestmark = pytest.mark.django_db


def _server(cast, name):
    return create_ci(
        acting_user=cast.admin,
        organization=cast.org_a,
        ci_class=CIClass.objects.get(key="server"),
        name=name,
    )


def test_alertmanager_payloads_become_bound_deduplicated_alerts(cast, api_client):
    andromeda = _server(cast, "andromeda")
    _, token, _ = integration(cast.org_a, "alertmanager")
    body = payload("alertmanager/zulip-alertmanager-two-firing.json")
    for _ in range(3):  # Alertmanager re-sends the whole group every group_interval
        assert post(api_client, "alertmanager", body, token).status_code == 202
    assert process_pending("t") == 6
    alerts = list(Alert.objects.filter(organization=cast.org_a).order_by("fingerprint"))
    assert [a.fingerprint for a in alerts] == ["a1bc48475b20e73d", "c2ea85182f28cbd9"]
    assert [a.count for a in alerts] == [3, 3]
    assert {a.ci_id for a in alerts} == {andromeda.pk}
    assert alerts[0].binding == "host.name=andromeda → CI andromeda (name:server)"
    assert sorted(AlertEvent.objects.values_list("kind", "count")) == [
        ("fired", 1),
        ("fired", 1),
        ("repeated", 2),
        ("repeated", 2),
    ]


def test_silenced_and_maintenance_events_are_stored_but_suppressed(cast, api_client):
    _server(cast, "db-07")
    silence = create_silence(
        acting_user=cast.agent,
        organization=cast.org_a,
        matchers=[{"name": "alertname", "op": "=~", "value": "Disk.*"}],
        ends_at=timezone.now() + timedelta(hours=1),
        comment="Disks being replaced",
    )
    _, token, _ = integration(cast.org_a)
    events = [
        {"title": "DiskFull on db-07", "severity": "major", "labels": {"alertname": "DiskFull"}},
        {"title": "CPU high on db-07", "severity": "major", "resource": {"host.name": "db-07"}},
    ]
    assert post(api_client, "generic", {"events": events}, token).status_code == 202
    process_pending("t")
    muted = Alert.objects.get(labels__alertname="DiskFull")
    assert muted.suppressed_by == f"silence #{silence.pk}: Disks being replaced"
    assert Silence.objects.get().matched_count == 1
    cpu = Alert.objects.get(title="CPU high on db-07")
    assert cpu.suppressed_by == "" and cpu.binding.endswith("(name:server)")
    # A maintenance window starts: the next CPU event is suppressed, naming the window.
    start = timezone.now() - timedelta(minutes=5)
    create_window(
        acting_user=cast.manager,
        organization=cast.org_a,
        kind="maintenance",
        name="Emergency patching",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
    )
    post(api_client, "generic", {"events": events[1:]}, token)
    process_pending("t")
    cpu.refresh_from_db()
    assert cpu.suppressed_by.startswith("maintenance window 'Emergency patching'")
    assert cpu.count == 2


def test_flapping_through_the_inbox(cast, api_client):
    _, token, _ = integration(cast.org_a)
    now = timezone.now()
    for i in range(4):
        at = (now - timedelta(minutes=8) + timedelta(minutes=i)).isoformat()
        status = "firing" if i % 2 == 0 else "resolved"
        event = {"title": "Link down on sw-01", "severity": "major", "status": status}
        event["starts_at" if status == "firing" else "ends_at"] = at
        post(api_client, "generic", event, token)
        process_pending("t")
    alert = Alert.objects.get()
    assert alert.flapping and alert.transitions == 3
    assert AlertEvent.objects.filter(alert=alert, kind="flapping").count() == 1
