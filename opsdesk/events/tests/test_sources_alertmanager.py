"""Alertmanager adapter: every sample payload, error paths naming the field, HTTP end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest
from opsdesk.events.sources.alertmanager import parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post


def run(body: bytes | dict) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(SourceRequest(body=raw, headers={})).events


def test_every_sample_file_is_covered():
    assert sorted(p.name for p in (PAYLOADS / "alertmanager").iterdir()) == [
        "alertmanager-api-v2-openapi.yaml",
        "bougou-alert-v4-mixed-firing-resolved.json",
        "dingtalk-playground-demo-alert-v3.json",
        "zulip-alertmanager-single-resolved.json",
        "zulip-alertmanager-two-firing.json",
    ]


def test_v4_batch_mixes_firing_and_resolved():
    events = run(payload("alertmanager/bougou-alert-v4-mixed-firing-resolved.json"))
    assert [e.status for e in events] == ["firing", "resolved", "firing", "firing"]
    assert [e.severity for e in events] == ["warning", "warning", "critical", "info"]
    assert [e.title for e in events] == [
        "CPUHigh",
        "CPUHigh",
        "CPUHigh1",
        "CPUHigh2",
    ]
    first, resolved = events[0], events[1]
    assert first.source == "alertmanager"
    assert first.fingerprint == "83eb2c81e0da3faf"
    assert first.description == "cpu usage is high than 20% for 5 minutes"
    assert first.resource["host.name"] == "10.30.1.160"
    assert first.resource["host.ip"] == "10.30.1.160"
    assert first.resource["cloud.region"] == "region-x"
    assert first.labels["alertname"] == "CPUHigh" and first.labels["zone"] == "zone-x"
    assert first.starts_at == datetime(2021, 3, 30, 12, 17, 50, 814674, tzinfo=UTC)
    assert first.ends_at is None  # Go's zero time
    assert resolved.ends_at == datetime(2021, 3, 30, 13, 17, 50, 814674, tzinfo=UTC)
    assert resolved.resource["host.name"] == "10.30.1.161"


def test_v3_has_no_fingerprint_and_takes_the_host_from_the_instance():
    events = run(payload("alertmanager/dingtalk-playground-demo-alert-v3.json"))
    assert len(events) == 2
    assert {e.status for e in events} == {"firing"}
    assert [e.fingerprint for e in events] == ["", ""]
    assert events[0].title == "Oops, something happened!"
    assert events[0].severity == "warning"
    assert events[0].resource == {
        "host.name": "server01.int",
        "service.instance.id": "server01.int:9100",
        "service.name": "prometheus_bot",
        "deployment.environment": "prod",
    }
    assert events[1].resource["host.name"] == "server02.int"
    assert events[0].labels["generator_url"] == "https://example.com/graph#..."


def test_zulip_single_resolved_and_two_firing():
    (resolved,) = run(payload("alertmanager/zulip-alertmanager-single-resolved.json"))
    assert resolved.status == "resolved"
    assert resolved.severity == "critical"
    assert resolved.title == "High CPU core temperature"
    assert resolved.description == "CPU core temperature is 34.75C"
    assert resolved.resource == {"host.name": "andromeda"}
    assert resolved.fingerprint == "a1bc48475b20e73d"
    firing = run(payload("alertmanager/zulip-alertmanager-two-firing.json"))
    assert [e.fingerprint for e in firing] == ["a1bc48475b20e73d", "c2ea85182f28cbd9"]
    assert {e.status for e in firing} == {"firing"}


def test_the_openapi_document_is_refused_with_400():
    # The Alertmanager API description (YAML) is not a webhook: the body is not JSON.
    with pytest.raises(PayloadError, match=r"^body: not valid JSON"):
        run(payload("alertmanager/alertmanager-api-v2-openapi.yaml"))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "body: must be an object"),
        ({"version": "4"}, "alerts: is required"),
        ({"alerts": {}}, "alerts: must be an array"),
        ({"alerts": [{"labels": {"alertname": "x"}}, 3]}, "alerts[1]: must be an object"),
        ({"alerts": [{"labels": []}]}, "alerts[0].labels: must be an object"),
        ({"alerts": [{"labels": {"a": {}}}]}, "alerts[0].labels.a: must be a string"),
        ({"alerts": [{"status": "weird", "labels": {"alertname": "x"}}]}, "alerts[0].status"),
        ({"alerts": [{"status": "firing", "labels": {}}]}, "alerts[0].labels.alertname"),
        (
            {"alerts": [{"status": "firing", "labels": {"alertname": "x"}, "startsAt": "soon"}]},
            "alerts[0].startsAt: 'soon' is not an ISO 8601 time",
        ),
        ({"version": "5", "alerts": []}, "version:"),
    ],
)
def test_errors_name_the_field(body, field):
    with pytest.raises(PayloadError) as info:
        run(body)
    assert str(info.value).startswith(field)


def test_group_status_fills_in_a_missing_alert_status():
    (event,) = run({"status": "resolved", "alerts": [{"labels": {"alertname": "Down"}}]})
    assert event.status == "resolved"


def test_kubernetes_labels_become_opentelemetry_attributes():
    labels = {
        "alertname": "KubePodCrashLooping",
        "severity": "critical",
        "namespace": "shop",
        "pod": "cart-7d9f",
        "uid": "1f0c-aa",
        "cluster": "prod-eu",
        "container": "cart",
        "job": "kube-state-metrics",
        "instance": "10.1.2.3:8080",
    }
    (event,) = run({"alerts": [{"status": "firing", "labels": labels}]})
    assert event.resource == {
        "host.name": "10.1.2.3",
        "host.ip": "10.1.2.3",
        "service.instance.id": "10.1.2.3:8080",
        "service.name": "kube-state-metrics",
        "k8s.cluster.name": "prod-eu",
        "k8s.namespace.name": "shop",
        "k8s.pod.name": "cart-7d9f",
        "k8s.pod.uid": "1f0c-aa",
        "k8s.container.name": "cart",
    }


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client):
    _, token, _ = integration(cast.org_a, source="alertmanager")
    resp = post(
        api_client,
        "alertmanager",
        payload("alertmanager/bougou-alert-v4-mixed-firing-resolved.json"),
        token,
    )
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert (body["accepted"], body["firing"], body["resolved"]) == (4, 3, 1)
    entry = InboxEntry.objects.get(pk=body["inbox_id"])
    assert entry.events[2]["severity"] == "critical"
    assert entry.events[0]["resource"]["host.name"] == "10.30.1.160"
    bad = post(api_client, "alertmanager", {"alerts": [{"labels": []}]}, token)
    assert_error(bad, 400, "alerts[0].labels")
