"""/metrics, request ids and JSON logs."""

import json
import logging

from django.test import override_settings

from opsdesk.core.logging import RequestIdFilter


def test_metrics_exposes_requests_latency_and_queue_depth(db, client):
    client.get("/api/v1/health")
    from opsdesk.core.tasks import prune_finished_tasks_task

    prune_finished_tasks_task.enqueue()
    body = client.get("/metrics").content.decode()
    assert 'opsdesk_http_requests_total{method="GET",route="/api/v1/health",status="200"}' in body
    assert (
        'opsdesk_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/api/v1/health"}'
        in body
    )
    assert 'opsdesk_task_queue_depth{queue="periodic",status="READY"} 1.0' in body


def test_metrics_routes_are_patterns_not_raw_paths(cast, client, bearer):
    client.get(f"/api/v1/teams/{cast.team_a.pk}", **bearer(cast.agent))
    body = client.get("/metrics").content.decode()
    assert 'route="/api/v1/teams/<team_id>"' in body
    assert f'route="/api/v1/teams/{cast.team_a.pk}"' not in body


@override_settings(METRICS_TOKEN="s3cret")
def test_metrics_token_is_required_when_configured(db, client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_request_id_is_echoed_or_generated(db, client):
    given = client.get("/api/v1/health", HTTP_X_REQUEST_ID="req-abc-12345")
    assert given["X-Request-ID"] == "req-abc-12345"
    made = client.get("/api/v1/health", HTTP_X_REQUEST_ID="bad id with spaces")
    assert made["X-Request-ID"] != "bad id with spaces"
    assert len(made["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id():
    from pythonjsonlogger.json import JsonFormatter

    from opsdesk.core.context import request_id_var

    formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
        rename_fields={"levelname": "level", "name": "logger"},
    )
    record = logging.LogRecord(
        "opsdesk.test", logging.INFO, __file__, 1, "hello %s", ("world",), None
    )
    token = request_id_var.set("rid-1234567890")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(formatter.format(record))
    assert line["message"] == "hello world"
    assert line["request_id"] == "rid-1234567890"
    assert line["level"] == "INFO"


def test_security_headers_and_csp(db, client):
    response = client.get("/api/v1/health")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_pages_show_times_in_the_users_or_organisations_time_zone(cast, client):
    from zoneinfo import ZoneInfo

    from opsdesk.core.context import acting_as
    from opsdesk.core.models import AuditRecord

    with acting_as(cast.admin):
        cast.team_a.description = "tz check"
        cast.team_a.save()
    record = AuditRecord.objects.filter(object_type="accounts.team", action="update").latest("id")
    client.force_login(cast.auditor)
    body = client.get(f"/audit/{record.pk}/").content.decode()
    # the organisation's zone (Africa/Johannesburg, UTC+2) ...
    assert record.timestamp.astimezone(ZoneInfo("Africa/Johannesburg")).strftime("%H:%M") in body
    # ... unless the user chose their own (Europe/Berlin, UTC+1 in November)
    cast.auditor.time_zone = "Europe/Berlin"
    cast.auditor.save()
    body = client.get(f"/audit/{record.pk}/").content.decode()
    assert record.timestamp.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") in body
