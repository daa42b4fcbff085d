"""Grafana adapter: unified alerting samples, the legacy and OnCall shapes, HTTP end to end."""

from __future__ import annotations

import json

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest
from opsdesk.events.sources.grafana import parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post


def run(body: bytes | dict) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(SourceRequest(body=raw, headers={})).events


def test_every_sample_file_is_covered():
    assert sorted(p.name for p in (PAYLOADS / "grafana").iterdir()) == [
        "bougou-grafana-alert-firing.json",
        "grafana-docs-webhook-notifier-two-firing.json",
        "zulip-grafana9-alert-firing.json",
        "zulip-grafana9-alert-resolved.json",
    ]
    assert sorted(p.name for p in (PAYLOADS / "grafana-oncall").iterdir()) == [
        "oncall-outgoing-webhook-template-data-resolve.json"
    ]


def test_unified_alert_firing():
    (event,) = run(payload("grafana/bougou-grafana-alert-firing.json"))
    assert event.source == "grafana"
    assert (event.status, event.severity) == ("firing", "warning")
    assert event.title == "CPU Usage High"
    assert event.fingerprint == "68d4e65db3ad9208"
    assert event.labels["grafana_folder"] == "alert"
    assert event.resource == {}  # no host, service or Kubernetes labels in this sample


def test_docs_two_firing_with_summaries():
    events = run(payload("grafana/grafana-docs-webhook-notifier-two-firing.json"))
    assert [e.title for e in events] == [
        "This alert was triggered for zone us-1",
        "This alert was triggered for zone eu-1",
    ]
    assert [e.description for e in events] == [
        "The system has high memory usage",
        "The system has high CPU usage",
    ]
    assert [e.fingerprint for e in events] == ["c6eadffa33fcdf37", "bc97ff14869b13e3"]
    assert events[0].resource == {"cloud.availability_zone": "us-1"}
    assert events[0].labels["runbook_url"] == "https://myrunbook.com/runbook/1234"


def test_grafana9_firing_then_resolved_share_the_fingerprint():
    (firing,) = run(payload("grafana/zulip-grafana9-alert-firing.json"))
    (resolved,) = run(payload("grafana/zulip-grafana9-alert-resolved.json"))
    assert (firing.status, resolved.status) == ("firing", "resolved")
    assert firing.fingerprint == resolved.fingerprint == "d8a21484c9c25a60"
    assert firing.title == "This is a summary field, failure on some_host"
    assert firing.ends_at is None
    assert resolved.ends_at is not None and resolved.ends_at > resolved.starts_at


def test_oncall_outgoing_webhook_resolve():
    (event,) = run(payload("grafana-oncall/oncall-outgoing-webhook-template-data-resolve.json"))
    assert event.status == "resolved"
    assert event.severity == "warning"
    assert event.title == "TestAlert"
    assert event.external_id == "I6HNZGUFG4K11"
    assert event.fingerprint.startswith("grafana-oncall:")
    assert event.resource == {"cloud.region": "eu-1"}
    assert event.labels["oncall_event"] == "resolve"
    assert event.ends_at is not None


LEGACY = {
    "dashboardId": 1,
    "evalMatches": [{"value": 100, "metric": "High value", "tags": {"host": "web-01"}}],
    "message": "Someone is testing the alert notification within Grafana.",
    "orgId": 1,
    "panelId": 2,
    "ruleId": 7,
    "ruleName": "Load peaking!",
    "ruleUrl": "http://grafana/d/x",
    "state": "alerting",
    "tags": {"severity": "critical"},
    "title": "[Alerting] Load peaking!",
}


def test_legacy_dashboard_alert():
    (event,) = run(LEGACY)
    assert (event.status, event.severity, event.title) == ("firing", "critical", "Load peaking!")
    assert event.resource == {"host.name": "web-01"}
    assert "High value=100" in event.description
    (ok,) = run({**LEGACY, "state": "ok"})
    assert ok.status == "resolved" and ok.fingerprint == event.fingerprint
    (nodata,) = run({**LEGACY, "state": "no_data"})
    assert (nodata.status, nodata.severity) == ("firing", "warning")
    assert run({**LEGACY, "state": "paused"}) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"receiver": "x"}, "alerts: is required"),
        (
            {"alerts": [{"labels": {"alertname": "x"}, "annotations": "no"}]},
            "alerts[0].annotations",
        ),
        ({**LEGACY, "state": "exploded"}, "state: one of"),
        ({**LEGACY, "evalMatches": [1]}, "evalMatches[0]: must be an object"),
        ({"alert_group": []}, "alert_group: must be an object"),
        ({"alert_group": {"state": "firing"}}, "alert_group.id: is required"),
    ],
)
def test_errors_name_the_field(body, field):
    with pytest.raises(PayloadError) as info:
        run(body)
    assert str(info.value).startswith(field)


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client):
    _, token, _ = integration(cast.org_a, source="grafana")
    resp = post(
        api_client,
        "grafana",
        payload("grafana/grafana-docs-webhook-notifier-two-firing.json"),
        token,
    )
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert (body["accepted"], body["firing"], body["resolved"]) == (2, 2, 0)
    assert (
        InboxEntry.objects.get(pk=body["inbox_id"]).events[1]["fingerprint"] == "bc97ff14869b13e3"
    )
    resp = post(api_client, "grafana", payload("grafana/zulip-grafana9-alert-resolved.json"), token)
    assert (resp.status_code, resp.json()["resolved"]) == (202, 1)
    assert_error(
        post(api_client, "grafana", {"state": "weird", "ruleName": "x"}, token), 400, "state"
    )
