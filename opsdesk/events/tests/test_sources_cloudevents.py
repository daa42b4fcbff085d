"""CloudEvents adapter: structured, batch and binary modes on every sample, generic fields in
data, required attributes named in errors, HTTP end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.models import InboxEntry
from opsdesk.events.sources import PayloadError, SourceRequest
from opsdesk.events.sources.cloudevents import parse
from opsdesk.events.tests.helpers import PAYLOADS, integration, payload, post

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


def run(body: bytes | dict | list, content_type: str = STRUCTURED, **headers: str) -> list:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return parse(SourceRequest(body=raw, headers={"content-type": content_type, **headers})).events


# file → (title, severity, description fragment, labels subset)
SINGLE = {
    "spec-example-json-event.json": (
        "com.github.pull_request.opened 123",
        "info",
        '<much wow="xml"/>',
        {
            "ce.source": "https://github.com/cloudevents/spec/pull",
            "comexampleextension1": "value",
            "comexampleothervalue": "5",
            "ce.datacontenttype": "text/xml",
        },
    ),
    "json-format-binary-data-base64-thrift.json": (
        "com.example.someevent",
        "info",
        "(binary data, not decodable, application/vnd.apache.thrift.binary)",
        {"ce.source": "/mycontext"},
    ),
    "json-format-data-base64-minimal-no-datacontenttype.json": (
        "com.example.someevent",
        "info",
        '{"xyz": 123}',
        {"ce.source": "/mycontext"},
    ),
    "json-format-json-number-data.json": ("com.example.someevent", "info", "1.5", {}),
    "json-format-json-object-data.json": (
        "com.example.someevent",
        "info",
        '"appinfoA": "abc"',
        {"ce.datacontenttype": "application/json"},
    ),
    "json-format-json-string-data-no-datacontenttype.json": (
        "com.example.someevent",
        "info",
        "I'm just a string",
        {},
    ),
    "json-format-xml-string-data.json": ("com.example.someevent", "info", "<much wow", {}),
    "extensions/correlation-1-order-placed.json": (
        "com.example.order.placed",
        "info",
        '"orderId": "123"',
        {"correlationid": "txn-abc-123"},
    ),
    "extensions/correlation-2-payment-processed.json": (
        "com.example.payment.processed",
        "info",
        '"amount": 150.0',
        {"correlationid": "txn-abc-123", "causationid": "order-123"},
    ),
    "extensions/correlation-3-inventory-checked.json": (
        "com.example.inventory.checked",
        "info",
        "sku-001",
        {"causationid": "order-123"},
    ),
    "extensions/correlation-4-shipping-scheduled.json": (
        "com.example.shipping.scheduled",
        "info",
        "FastShip",
        {"causationid": "inventory-456"},
    ),
    "extensions/correlation-5-payment-failed.json": (
        "com.example.payment.failed",
        "warning",  # the type says failed
        "Insufficient funds",
        {"causationid": "payment-789"},
    ),
    "extensions/correlation-6-order-fulfilled.json": (
        "com.example.order.fulfilled",
        "info",
        "2024-01-14T10:30:00Z",
        {"causationid": "shipping-012"},
    ),
    "extensions/correlation-7-notification-email.json": (
        "com.example.notification.email",
        "info",
        "customer@example.com",
        {"ce.source": "https://example.com/notifications"},
    ),
    "extensions/correlation-8-notification-sms.json": (
        "com.example.notification.sms",
        "info",
        "Your order has been fulfilled!",
        {"correlationid": "txn-abc-123"},
    ),
    "extensions/dataref-claim-check.json": (
        "com.github.pull_request.opened",
        "info",
        "",
        {"dataref": "https://tenant123.middleware.com/events/data/A234-1234-1234.xml"},
    ),
    "extensions/dataref-with-data.json": (
        "com.github.pull_request.opened",
        "info",
        '<much wow="xml"/>',
        {"dataref": "https://github.com/cloudevents/spec/pull/123/events/A234-1234-1234.xml"},
    ),
}
BATCHES = {"json-batch-empty.json": 0, "json-batch-two-events.json": 2}
# Not CloudEvents: other vendors' formats (the primer's comparison) and the JSON schema.
REFUSED = {
    "cloudevents.schema.json": "id: is required",
    "primer-proprietary-formats/adobe-io-events.json": "id: is required",
    "primer-proprietary-formats/aws-cloudwatch-events.json": "specversion: is required",
    "primer-proprietary-formats/google-cloud-functions.json": "id: is required",
    "primer-proprietary-formats/ibm-openwhisk-web-action.json": "id: is required",
    "primer-proprietary-formats/microsoft-event-grid.json": "source: is required",
    "primer-proprietary-formats/openstack-audit-middleware.json": "source: is required",
}


def test_every_sample_file_is_covered():
    root = PAYLOADS / "cloudevents"
    names = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
    assert names == set(SINGLE) | set(BATCHES) | set(REFUSED)


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_structured_samples(name):
    title, severity, fragment, labels = SINGLE[name]
    raw = json.loads(payload(f"cloudevents/{name}"))
    (event,) = run(payload(f"cloudevents/{name}"))
    assert event.source == "cloudevents"
    assert (event.status, event.severity, event.title) == ("firing", severity, title)
    assert fragment in event.description
    assert labels.items() <= event.labels.items(), event.labels
    assert event.labels["ce.type"] == raw["type"]
    assert event.external_id == raw["id"]
    assert event.fingerprint == ""
    if "time" in raw:
        assert event.starts_at == datetime.fromisoformat(raw["time"].replace("Z", "+00:00"))


def test_batch_samples():
    assert run(payload("cloudevents/json-batch-empty.json"), BATCH) == []
    first, second = run(payload("cloudevents/json-batch-two-events.json"), BATCH)
    assert (first.title, second.title) == ("com.example.someevent", "com.example.someotherevent")
    assert first.external_id == "B234-1234-1234" and second.labels["ce.source"] == "/mycontext/9"
    assert second.starts_at == datetime(2018, 4, 5, 17, 31, 5, tzinfo=UTC)
    # a JSON array posted as application/json is a batch too
    assert len(run(payload("cloudevents/json-batch-two-events.json"), "application/json")) == 2


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_other_formats_are_refused_naming_the_attribute(name):
    with pytest.raises(PayloadError) as info:
        run(payload(f"cloudevents/{name}"))
    assert str(info.value).startswith(REFUSED[name])


def test_generic_fields_in_data():
    body = {
        "specversion": "1.0",
        "type": "com.acme.monitor.alert",
        "source": "/acme/monitor",
        "id": "a-1",
        "subject": "db-07",
        "data": {
            "status": "resolved",
            "severity": "critical",
            "title": "Disk full on db-07",
            "resource": {"host.name": "db-07", "k8s.pod.uid": "abc"},
            "labels": {"team": "dba"},
            "fingerprint": "disk-db-07",
        },
    }
    (event,) = run(body)
    assert (event.status, event.severity, event.title) == (
        "resolved",
        "critical",
        "Disk full on db-07",
    )
    assert event.resource == {"host.name": "db-07", "k8s.pod.uid": "abc"}
    assert event.labels["team"] == "dba" and event.labels["ce.subject"] == "db-07"
    assert event.fingerprint == "disk-db-07"


def test_binary_mode():
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "com.acme.node.down",
        "ce-source": "/acme/nodes",
        "ce-id": "n-9",
        "ce-subject": "node%2017",
        "ce-time": "2026-12-07T10:00:00Z",
        "ce-traceparent": "00-abc-def-01",
    }
    (event,) = run({"resource": {"host.name": "node-17"}}, "application/json", **headers)
    assert (event.title, event.severity) == ("com.acme.node.down node 17", "warning")
    assert event.resource == {"host.name": "node-17"}
    assert event.labels["traceparent"] == "00-abc-def-01"
    assert event.starts_at == datetime(2026, 12, 7, 10, tzinfo=UTC)
    (text_event,) = run(b"plain words", "text/plain", **headers)
    assert text_event.description == "plain words"
    missing = {k: v for k, v in headers.items() if k != "ce-id"}
    with pytest.raises(PayloadError, match=r"^ce-id: is required"):
        run(b"{}", "application/json", **missing)
    with pytest.raises(PayloadError, match=r"^ce-specversion: must be 1.0"):
        run(b"{}", "application/json", **{**headers, "ce-specversion": "0.3"})


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        ({"specversion": "1.0", "type": "t", "source": "s"}, STRUCTURED, "id: is required"),
        (
            {"specversion": "0.3", "type": "t", "source": "s", "id": "1"},
            STRUCTURED,
            "specversion: must be 1.0",
        ),
        (
            [{"specversion": "1.0", "type": "t", "source": "s", "id": "1"}, {"id": "2"}],
            BATCH,
            "[1].source: is required",
        ),
        ([1], BATCH, "[0]: must be an object"),
        (
            {"specversion": "1.0", "type": "t", "source": "s", "id": "1"},
            BATCH,
            "body: must be an array",
        ),
        (
            {"specversion": "1.0", "type": "t", "source": "s", "id": {}},
            STRUCTURED,
            "id: must be a string",
        ),
        (
            {"specversion": "1.0", "type": "t", "source": "s", "id": "1", "time": "noon"},
            STRUCTURED,
            "time:",
        ),
        (
            {"specversion": "1.0", "type": "t", "source": "s", "id": "1", "ext": {"a": 1}},
            STRUCTURED,
            "ext: an extension attribute",
        ),
        (
            {
                "specversion": "1.0",
                "type": "t",
                "source": "s",
                "id": "1",
                "data": {"severity": "huge"},
            },
            STRUCTURED,
            "data.severity: one of",
        ),
        (
            {"specversion": "1.0", "type": "t", "source": "s", "id": "1", "data": {"resource": []}},
            STRUCTURED,
            "data.resource: must be an object",
        ),
    ],
)
def test_errors_name_the_attribute(body, content_type, field):
    with pytest.raises(PayloadError) as info:
        run(body, content_type)
    assert str(info.value).startswith(field)


@pytest.mark.django_db
def test_http_end_to_end(cast, api_client):
    _, token, _ = integration(cast.org_a, source="cloudevents")
    resp = post(
        api_client,
        "cloudevents",
        payload("cloudevents/json-batch-two-events.json"),
        token,
        content_type=BATCH,
    )
    assert resp.status_code == 202, resp.content
    assert (resp.json()["accepted"], resp.json()["firing"]) == (2, 2)
    resp = post(
        api_client,
        "cloudevents",
        payload("cloudevents/extensions/correlation-5-payment-failed.json"),
        token,
        content_type=STRUCTURED,
    )
    assert resp.status_code == 202, resp.content
    stored = InboxEntry.objects.get(pk=resp.json()["inbox_id"]).events[0]
    assert (stored["severity"], stored["labels"]["correlationid"]) == ("warning", "txn-abc-123")
    resp = post(
        api_client,
        "cloudevents",
        b'{"resource": {"host.name": "db-07"}, "severity": "major", "title": "DB down"}',
        token,
        content_type="application/json",
        HTTP_CE_SPECVERSION="1.0",
        HTTP_CE_ID="x-1",
        HTTP_CE_SOURCE="/probe",
        HTTP_CE_TYPE="com.acme.db.down",
    )
    assert resp.status_code == 202, resp.content
    stored = InboxEntry.objects.get(pk=resp.json()["inbox_id"]).events[0]
    assert (stored["title"], stored["severity"]) == ("DB down", "major")
    assert stored["resource"] == {"host.name": "db-07"}
    assert_error(
        post(
            api_client,
            "cloudevents",
            payload("cloudevents/primer-proprietary-formats/microsoft-event-grid.json"),
            token,
            content_type=STRUCTURED,
        ),
        400,
        "source",
    )
    resp = post(api_client, "cloudevents", b"[]", token, content_type=BATCH)
    assert (resp.status_code, resp.json()["accepted"]) == (202, 0)
