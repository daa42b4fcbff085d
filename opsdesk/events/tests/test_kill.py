"""A worker is SIGKILLed mid-stream; a second one finishes. Every acknowledged event is then
processed exactly once in effect: the inbox is all done, each alert's count equals the
events posted for its key, and no key has two alerts, groups or incidents.

Runs on the suite's database (SQLite or PostgreSQL) with the database inbox, and with NATS
JetStream on a nats-server of its own.
"""

from __future__ import annotations

import signal
from collections import Counter

import pytest
from django.test import override_settings

from opsdesk.events import pipeline
from opsdesk.events.choices import InboxState
from opsdesk.events.models import Alert, AlertEvent, AlertGroup, InboxEntry
from opsdesk.events.tests.helpers import integration, post
from opsdesk.events.tests.transport_fixtures import (  # noqa: F401
    Workers,
    nats_server,
    wait_for,
    workers,
)

pytestmark = pytest.mark.django_db(transaction=True)

KEYS = 8
REQUESTS = 400
PER_REQUEST = 5  # 2,000 events


def body(request_no: int) -> dict:
    events = []
    for i in range(PER_REQUEST):
        key = (request_no * PER_REQUEST + i) % KEYS
        events.append(
            {
                "title": f"Kill test check {key} failing",
                "severity": "major",
                "fingerprint": f"kill-test-{key}",
                "resource": {"host.name": f"kill-host-{key}"},
                "labels": {"alertname": f"KillTest{key}", "seq": str(request_no)},
            }
        )
    return {"events": events}


def pending() -> int:
    return InboxEntry.objects.filter(state=InboxState.PENDING).count()


def run_kill_test(cast, api_client, workers: Workers, **env: str) -> None:  # noqa: F811
    _, token, _ = integration(cast.org_a)
    posted: Counter[str] = Counter()
    accepted_entries: list[int] = []

    def send(request_no: int) -> None:
        data = body(request_no)
        resp = post(api_client, "generic", data, token)
        assert resp.status_code == 202, resp.content
        accepted_entries.append(resp.json()["inbox_id"])
        for e in data["events"]:
            posted[e["fingerprint"]] += 1

    first = workers.start(**env)
    killed_at = REQUESTS // 3
    for n in range(killed_at):
        send(n)
    # Kill it while it is working through the stream (some entries done, some not).
    wait_for(
        lambda: InboxEntry.objects.filter(state=InboxState.DONE).exists(),
        30,
        "the first worker to process something",
        workers.log,
    )
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    done_at_kill = InboxEntry.objects.filter(state=InboxState.DONE).count()
    for n in range(killed_at, REQUESTS):
        send(n)
    workers.start(**env)
    wait_for(lambda: pending() == 0, 60, "the inbox to drain", workers.log)

    # Every acknowledged request is in the inbox and processed once.
    assert len(accepted_entries) == REQUESTS
    states = Counter(InboxEntry.objects.values_list("state", flat=True))
    assert states == {InboxState.DONE: REQUESTS}, (states, workers.log())
    assert done_at_kill < REQUESTS  # the kill happened mid-stream
    # Exactly once in effect: one alert per key, its count = events posted for the key.
    alerts = list(Alert.objects.filter(organization=cast.org_a))
    counts = {a.fingerprint: a.count for a in alerts}
    assert len(alerts) == KEYS, workers.log()
    assert sum(posted.values()) == REQUESTS * PER_REQUEST
    assert counts == dict(posted)
    # The alert history adds up to the same counts (no batch applied twice).
    history = Counter()
    for alert_id, count in AlertEvent.objects.filter(organization=cast.org_a).values_list(
        "alert_id", "count"
    ):
        history[alert_id] += count
    assert {a.fingerprint: history[a.pk] for a in alerts} == dict(posted)
    if "correlate" in pipeline.STAGES:
        # One group per key at most, every alert in a group, no empty duplicates left over.
        groups = AlertGroup.objects.filter(organization=cast.org_a)
        assert all(a.group_id for a in alerts)
        assert len({a.group_id for a in alerts}) <= KEYS
        assert all(g.alerts.exists() for g in groups)
        incidents = [g.incident_id for g in groups if g.incident_id]
        assert len(incidents) == len(set(incidents))


def test_kill_a_worker_with_the_database_inbox(cast, api_client, workers):  # noqa: F811
    run_kill_test(cast, api_client, workers, EVENTS_TRANSPORT="db")


def test_kill_a_worker_with_nats_jetstream(cast, api_client, workers, nats_server):  # noqa: F811
    env = {
        "EVENTS_TRANSPORT": "nats",
        "NATS_URL": nats_server,
        "NATS_ACK_WAIT": "3",
        "EVENTS_SWEEP_AFTER_SECONDS": "5",
    }
    with override_settings(EVENTS_TRANSPORT="nats", NATS_URL=nats_server):
        run_kill_test(cast, api_client, workers, **env)
