"""Datadog webhook adapter: the three samples, every line of the raw alert export, errors,
HTTP end to end."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest
from opsdesk.events.sources.datadog import parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post


def run(body: bytes | dict) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(SourceRequest(body=raw, headers={})).events


def test_every_sample_file_is_covered():
    assert sorted(p.name for p in (PAYLOADS / "datadog").iterdir()) == [
        "keep-datadog-webhook-recovered-line1.json",
        "keep-datadog-webhook-triggered-line5.json",
        "keep-datadog-webhook-warn-line11.json",
        "keep-datadog_raw_alerts.txt",
    ]


def test_triggered():
    (event,) = run(payload("datadog/keep-datadog-webhook-triggered-line5.json"))
    assert event.source == "datadog"
    assert (event.status, event.severity) == ("firing", "major")
    assert event.title == "Error monitor"
    assert event.resource == {"service.name": "keep-api-matvey-kuk-workflows-fix"}
    assert event.labels["monitor"] == ""
    assert event.labels["datadog.monitor_id"] == "160076582"
    assert event.external_id == "7879709198622396010"
    assert event.starts_at == datetime.fromtimestamp(1733930133, tz=UTC)
    assert event.description.startswith("trace_id:")
    assert "%%%" not in event.description


def test_recovered_shares_the_fingerprint_of_its_monitor_group():
    (recovered,) = run(payload("datadog/keep-datadog-webhook-recovered-line1.json"))
    assert (recovered.status, recovered.title) == ("resolved", "Error monitor")
    assert recovered.resource == {"service.name": "keep-api-feature-unique-id"}
    assert recovered.ends_at == datetime.fromtimestamp(1733929712, tz=UTC)
    lines = payload("datadog/keep-datadog_raw_alerts.txt").decode().splitlines()
    triggered = [
        e
        for line in lines
        if line.startswith("{")
        for e in run(line.encode())
        if e.status == "firing"
        and e.resource.get("service.name") == "keep-api-feature-unique-id"
        and e.labels["datadog.monitor_id"] == "160076582"
    ]
    assert triggered and {e.fingerprint for e in triggered} == {recovered.fingerprint}


def test_warn_with_priority():
    (event,) = run(payload("datadog/keep-datadog-webhook-warn-line11.json"))
    assert (event.status, event.severity) == ("firing", "major")  # P2
    assert event.title == "Unauthorized access to API keep-api"
    assert event.resource == {"service.name": "keep-api", "deployment.environment": "production"}
    assert event.labels["environment"] == "production"
    (no_priority,) = run(
        {**json.loads(payload("datadog/keep-datadog-webhook-warn-line11.json")), "severity": ""}
    )
    assert no_priority.severity == "warning"


def test_every_line_of_the_raw_export():
    lines = payload("datadog/keep-datadog_raw_alerts.txt").decode().splitlines()
    # The export ends with the sqlite shell's prompt ("sqlite>"): not a payload, skipped.
    assert lines[-1].strip() == "sqlite>"
    bodies = [line for line in lines if line.strip() and line.strip() != "sqlite>"]
    assert len(bodies) == 43
    events = [e for body in bodies for e in run(body.encode())]
    assert len(events) == 43
    assert Counter(e.status for e in events) == {"firing": 25, "resolved": 18}
    assert Counter(e.severity for e in events) == {"major": 43}  # P2 or Triggered/Recovered
    no_service = [e for e in events if "service.name" not in e.resource]
    assert [e.labels["database_id"] for e in no_service] == ["keephq-sandbox:keep"]
    assert no_service[0].title == "Somethine weird in DB"
    assert len({e.fingerprint for e in events}) == 21  # monitor x group scope
    assert all(not e.title.startswith("[") for e in events)
    with pytest.raises(PayloadError, match=r"^body: not valid JSON"):
        run(b"sqlite>")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title: is required"),
        ({"alert_transition": "Exploded"}, "alert_transition: one of"),
        ({"alert_transition": "", "alert_type": ""}, "alert_transition: is required"),
        ({"severity": "P9"}, "severity: one of P1"),
        ({"tags": {"a": 1}}, "tags: must be a string"),
        ({"date": "yesterday"}, "date:"),
    ],
)
def test_errors_name_the_field(change, field):
    data = {**json.loads(payload("datadog/keep-datadog-webhook-triggered-line5.json")), **change}
    with pytest.raises(PayloadError) as info:
        run({k: v for k, v in data.items() if v is not None})
    assert str(info.value).startswith(field)


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client):
    _, token, _ = integration(cast.org_a, source="datadog")
    resp = post(
        api_client, "datadog", payload("datadog/keep-datadog-webhook-warn-line11.json"), token
    )
    assert resp.status_code == 202, resp.content
    assert (resp.json()["accepted"], resp.json()["firing"]) == (1, 1)
    stored = InboxEntry.objects.get(pk=resp.json()["inbox_id"]).events[0]
    assert stored["resource"]["service.name"] == "keep-api"
    resp = post(
        api_client, "datadog", payload("datadog/keep-datadog-webhook-recovered-line1.json"), token
    )
    assert (resp.status_code, resp.json()["resolved"]) == (202, 1)
    assert_error(
        post(api_client, "datadog", {"title": "x", "alert_transition": "?"}, token),
        400,
        "alert_transition",
    )
