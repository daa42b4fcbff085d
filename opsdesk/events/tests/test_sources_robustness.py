"""Property tests: whatever JSON (or bytes) arrives, an adapter answers with events or a
`PayloadError` naming a field (CloudWatch may also refuse with `PermissionDenied`), never
another exception; what it returns can always be stored."""

from __future__ import annotations

import copy
import json
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.core.errors import PermissionDenied
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.sources import ADAPTERS, PayloadError, SourceRequest, _load, sns
from opsdesk.events.tests.helpers import PAYLOADS

_load()
SOURCES = [
    "alertmanager",
    "grafana",
    "azure-monitor",
    "cloudwatch",
    "zabbix",
    "datadog",
    "cloudevents",
]
SAMPLE_DIRS = {
    "alertmanager": ["alertmanager"],
    "grafana": ["grafana", "grafana-oncall"],
    "azure-monitor": ["azure-monitor"],
    "cloudwatch": ["cloudwatch-sns"],
    "zabbix": ["zabbix"],
    "datadog": ["datadog"],
    "cloudevents": ["cloudevents"],
}


def samples(source: str) -> list[Any]:
    out = []
    for folder in SAMPLE_DIRS[source]:
        for path in sorted((PAYLOADS / folder).rglob("*.json")):
            out.append(json.loads(path.read_text()))
    return out


SAMPLES = {source: samples(source) for source in SOURCES}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(
        [
            "firing",
            "resolved",
            "Fired",
            "Resolved",
            "ALARM",
            "OK",
            "PROBLEM",
            "Sev0",
            "1.0",
            "Notification",
            "SubscriptionConfirmation",
            "0001-01-01T00:00:00Z",
            "2026-12-07T10:00:00Z",
            "1733930133000",
            "critical",
            "P1",
            "Triggered",
            "Recovered",
            "https://sns.us-west-2.amazonaws.com/x.pem",
            "azureMonitorCommonAlertSchema",
        ]
    ),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=12), children, max_size=5),
    ),
    max_leaves=25,
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(paths(item, (*prefix, i)))
    return out


def replace(document: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    doc = copy.deepcopy(document)
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return doc


def check(source: str, body: bytes, headers: dict[str, str] | None = None, **options: Any) -> None:
    request = SourceRequest(body=body, headers=headers or {}, options=options)
    try:
        parsed = ADAPTERS[source](request)
    except PayloadError as exc:
        assert ":" in str(exc), str(exc)  # "<field>: <problem>"
        return
    except PermissionDenied:
        assert source == "cloudwatch"
        return
    for event in parsed.events:
        assert isinstance(event, NormalisedEvent)
        assert len(event.fingerprint) <= 64
        json.dumps(event.to_json())  # storable in the inbox
        assert NormalisedEvent.from_json(json.loads(json.dumps(event.to_json()))) is not None


def fake_fetch(url: str) -> bytes:
    return b"not a certificate"


@pytest.mark.parametrize("source", [*SOURCES, "generic"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_random_json(source, value):
    with mock.patch.object(sns, "fetch", fake_fetch):
        check(source, json.dumps(value).encode(), verify_signatures=False)
        check(source, json.dumps(value).encode())


@pytest.mark.parametrize("source", SOURCES)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_real_payloads(source, data):
    document = data.draw(st.sampled_from(SAMPLES[source]))
    where = data.draw(st.sampled_from(paths(document)))
    mutated = replace(document, where, data.draw(json_values))
    headers = data.draw(
        st.sampled_from(
            [
                {},
                {"content-type": "application/cloudevents-batch+json"},
                {"x-amz-sns-message-type": "Notification"},
            ]
        )
    )
    with mock.patch.object(sns, "fetch", fake_fetch):
        check(source, json.dumps(mutated).encode(), headers, verify_signatures=False)


@pytest.mark.parametrize("source", [*SOURCES, "generic"])
@settings(max_examples=50, deadline=None)
@given(body=st.binary(max_size=200))
def test_random_bytes(source, body):
    check(source, body, verify_signatures=False)


@settings(max_examples=100, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["ce-id", "ce-source", "ce-type", "ce-specversion", "ce-time", "ce-x", "content-type"]
        ),
        st.text(max_size=20),
    ),
    body=st.binary(max_size=100),
)
def test_cloudevents_binary_mode_headers(headers, body):
    check("cloudevents", body, {"ce-specversion": "1.0", **headers})
