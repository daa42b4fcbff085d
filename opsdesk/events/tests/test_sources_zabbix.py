"""Zabbix webhook adapter: the Zulip-style samples, Zabbix's own macro names, errors, HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest
from opsdesk.events.sources.zabbix import parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post


def run(body: bytes | dict) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(SourceRequest(body=raw, headers={})).events


def test_every_sample_file_is_covered():
    assert sorted(p.name for p in (PAYLOADS / "zabbix").iterdir()) == [
        "zulip-zabbix-alert-problem.json",
        "zulip-zabbix-ok.json",
    ]


def test_problem_then_ok_share_the_trigger_fingerprint():
    (problem,) = run(payload("zabbix/zulip-zabbix-alert-problem.json"))
    (ok,) = run(payload("zabbix/zulip-zabbix-ok.json"))
    assert (problem.status, problem.severity) == ("firing", "minor")
    assert problem.title == "Zabbix agent on www.example.com is unreachable for 5 minutes"
    assert problem.description == "Agent ping is Up (1)"
    assert problem.resource == {"host.name": "www.example.com"}
    assert problem.labels["zabbix.trigger_id"] == "14032"
    assert problem.external_id == "10528"
    assert (ok.status, ok.severity) == ("resolved", "minor")
    assert ok.title == "Zabbix agent on www.example.com is reachable"
    assert ok.fingerprint == problem.fingerprint != ""
    assert ok.source == "zabbix"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Disaster", "critical"),
        ("High", "major"),
        ("Average", "minor"),
        ("Warning", "warning"),
        ("Information", "info"),
        ("Not classified", "info"),
    ],
)
def test_severity_names(name, expected):
    data = json.loads(payload("zabbix/zulip-zabbix-alert-problem.json"))
    assert run({**data, "severity": name})[0].severity == expected


def test_zabbix_macro_names_and_tags():
    body = {
        "event_value": "1",
        "event_name": "High CPU utilization on db-07",
        "host_name": "db-07.example.com",
        "host_ip": "10.0.0.7",
        "event_nseverity": "4",
        "event_id": "991",
        "trigger_id": "77",
        "event_date": "2026.12.07",
        "event_time": "10:00:00",
        "event_tags": [{"tag": "service", "value": "billing"}, {"tag": "env", "value": "prod"}],
    }
    (event,) = run(body)
    assert (event.status, event.severity) == ("firing", "major")
    assert event.resource == {
        "host.name": "db-07.example.com",
        "host.ip": "10.0.0.7",
        "service.name": "billing",
    }
    assert event.labels["env"] == "prod"
    assert event.starts_at == datetime(2026, 12, 7, 10, tzinfo=UTC)
    (resolved,) = run({**body, "event_value": "0", "event_tags": "service:billing, env:prod"})
    assert resolved.status == "resolved" and resolved.fingerprint == event.fingerprint
    assert resolved.labels["env"] == "prod"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": None}, "status: is required"),
        ({"status": "MAYBE"}, "status: one of PROBLEM"),
        ({"severity": "Catastrophic"}, "severity: one of Disaster"),
        ({"trigger": None}, "trigger: is required"),
        ({"hostname": ["x"]}, "hostname: must be a string"),
        ({"event_tags": [{"value": "x"}]}, "event_tags[0].tag: is required"),
        ({"event_tags": 5}, "event_tags: must be"),
    ],
)
def test_errors_name_the_field(change, field):
    data = {**json.loads(payload("zabbix/zulip-zabbix-alert-problem.json")), **change}
    with pytest.raises(PayloadError) as info:
        run({k: v for k, v in data.items() if v is not None})
    assert str(info.value).startswith(field)


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client):
    _, token, _ = integration(cast.org_a, source="zabbix")
    resp = post(api_client, "zabbix", payload("zabbix/zulip-zabbix-alert-problem.json"), token)
    assert resp.status_code == 202, resp.content
    assert (resp.json()["accepted"], resp.json()["firing"]) == (1, 1)
    stored = InboxEntry.objects.get(pk=resp.json()["inbox_id"]).events[0]
    assert stored["resource"] == {"host.name": "www.example.com"}
    resp = post(api_client, "zabbix", payload("zabbix/zulip-zabbix-ok.json"), token)
    assert (resp.status_code, resp.json()["resolved"]) == (202, 1)
    assert_error(post(api_client, "zabbix", {"status": "PROBLEM"}, token), 400, "trigger")
