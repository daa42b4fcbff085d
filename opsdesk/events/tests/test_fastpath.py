"""The WSGI fast path answers intake requests exactly like the documented route.

Every case is sent twice with the same inputs: through Django (the test client: the URL
resolver, the middleware and the django-ninja route) and through `IntakeFastPath` (the WSGI
environ Django's request factory builds for it). Both must answer the same status, body
(but the inbox id), content type and ``WWW-Authenticate``, and store the same inbox rows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import RequestFactory

from opsdesk.events import intake
from opsdesk.events import integrations as integrations_module
from opsdesk.events.fastpath import IntakeFastPath
from opsdesk.events.models import EventIntegration, InboxEntry
from opsdesk.events.tests.helpers import PAYLOADS, integration
from opsdesk.events.tests.test_e2e_payloads import SOURCES, _content_type

pytestmark = pytest.mark.django_db

#: What Django's middleware add to an answer, and the fast path must add alike.
SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
    "X-Frame-Options",
    "Content-Security-Policy",
)
ONE = {"title": "Disk full on db-07", "severity": "critical", "resource": {"host.name": "db-07"}}


def _samples() -> list[tuple[str, str]]:
    found = [("generic", "")]
    for source, (folder, _) in SOURCES.items():
        found += [
            (source, str(p.relative_to(PAYLOADS)))
            for p in sorted((PAYLOADS / folder).rglob("*.json"))
        ]
    return found


class Unreachable:
    """Django's handler must not be asked: the fast path answers these itself."""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        raise AssertionError(f"passed to Django: {environ['PATH_INFO']}")


@pytest.fixture
def fast() -> Callable[..., Any]:
    """fast(path, body, **extra) -> (status, headers, body) from the fast path. Like Django's
    test client, it keeps the test's database connection open across the request."""
    app = IntakeFastPath(Unreachable())

    def call(path: str, body: bytes, content_type: str = "application/json", **extra: Any):  # type: ignore[no-untyped-def]
        environ = RequestFactory().post(path, data=body, content_type=content_type, **extra).environ
        seen: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), dict(headers)

        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            content = b"".join(app(environ, start_response))
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        return seen["status"], seen["headers"], content

    return call


def _stored(since: int) -> list[dict[str, Any]]:
    rows = []
    for entry in InboxEntry.objects.filter(pk__gt=since).order_by("pk"):
        events = [{k: v for k, v in e.items() if k != "received_at"} for e in entry.events]
        rows.append(
            {
                "organization_id": entry.organization_id,
                "integration_id": entry.integration_id,
                "source": entry.source,
                "content_type": entry.content_type,
                "raw": entry.raw,
                "raw_truncated": entry.raw_truncated,
                "events": events,
                "event_count": entry.event_count,
                "state": entry.state,
            }
        )
    return rows


def _last_id() -> int:
    return InboxEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _same_answers(
    api_client: Any, fast: Callable[..., Any], path: str, body: bytes, **kw: Any
) -> int:
    """Send through both doors; assert they answer and store alike; returns the status."""
    before = _last_id()
    content_type = kw.pop("content_type", "application/json")
    documented = api_client.post(path, data=body, content_type=content_type, **kw)
    stored_documented = _stored(before)
    middle = _last_id()
    status, headers, content = fast(path, body, content_type=content_type, **kw)
    stored_fast = _stored(middle)

    def comparable(data: bytes) -> dict[str, Any]:
        parsed = json.loads(data)
        if "inbox_id" in parsed:
            parsed["inbox_id"] = parsed["inbox_id"] is not None
        return parsed

    assert status == documented.status_code, (content, documented.content)
    assert comparable(content) == comparable(documented.content)
    assert headers["Content-Type"] == documented["Content-Type"]
    assert headers.get("WWW-Authenticate") == documented.get("WWW-Authenticate")
    for name in SECURITY_HEADERS:
        assert headers.get(name) == documented.get(name), name
    assert headers["X-Request-ID"] and documented["X-Request-ID"]
    assert stored_fast == stored_documented
    return status


@pytest.mark.parametrize(("source", "sample"), _samples())
def test_sample_payloads(cast, api_client, fast, source, sample):
    options = SOURCES[source][1] if source in SOURCES else {}
    _, token, _ = integration(cast.org_a, source=source, options=options)
    body = (PAYLOADS / sample).read_bytes() if sample else json.dumps({"events": [ONE]}).encode()
    extra = {"HTTP_X_AMZ_SNS_MESSAGE_TYPE": "Notification"} if source == "cloudwatch" else {}
    _same_answers(
        api_client,
        fast,
        f"/api/v1/events/{source}",
        body,
        content_type=_content_type(sample),
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


BAD_BODIES = [
    b"",
    b"{nope",
    b"[]",
    b"null",
    json.dumps({"events": [ONE, {"severity": "bad"}]}).encode(),
    json.dumps({"events": [{"title": "x", "labels": {"a": {}}}]}).encode(),
    json.dumps({"title": ""}).encode(),
    json.dumps({"events": []}).encode(),
    '{"title": "caf\u00e9 \\u0000"}'.encode(),
    b"\xff\xfe",
]


@pytest.mark.parametrize("body", BAD_BODIES)
@pytest.mark.parametrize("source", ["generic", "alertmanager", "cloudevents", "zabbix"])
def test_bad_bodies(cast, api_client, fast, source, body):
    _, token, _ = integration(cast.org_a, source=source)
    status = _same_answers(
        api_client, fast, f"/api/v1/events/{source}", body, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert status < 500


def test_token_rules(cast, api_client, fast):
    found, token, _ = integration(cast.org_a)
    _, other, _ = integration(cast.org_a, source="zabbix")
    body = json.dumps(ONE).encode()
    path = "/api/v1/events/generic"
    basic = base64.b64encode(f"x:{token}".encode()).decode()
    cases: list[tuple[str, dict[str, str], int]] = [
        (path, {}, 401),
        (path, {"HTTP_AUTHORIZATION": "Bearer opsev_nope"}, 401),
        (path, {"HTTP_AUTHORIZATION": "Bearer " + "x" * 300}, 401),
        (path, {"HTTP_AUTHORIZATION": "Basic !!"}, 401),
        (path, {"HTTP_AUTHORIZATION": f"Bearer {other}"}, 403),
        (path, {"HTTP_AUTHORIZATION": f"Basic {basic}"}, 202),
        (f"{path}?token={token}", {}, 202),
    ]
    for url, headers, expected in cases:
        assert _same_answers(api_client, fast, url, body, **headers) == expected
    found.is_active = False
    found.save()
    assert _same_answers(api_client, fast, path, body, HTTP_AUTHORIZATION=f"Bearer {token}") == 403


def test_signatures(cast, api_client, fast):
    _, token, secret = integration(cast.org_a, with_secret=True)
    raw = json.dumps(ONE).encode()
    good = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    path = "/api/v1/events/generic"
    assert _same_answers(api_client, fast, path, raw, **auth) == 403
    bad = {"HTTP_X_OPSDESK_SIGNATURE_256": "sha256=00"}
    assert _same_answers(api_client, fast, path, raw, **auth, **bad) == 403
    signed = {"HTTP_X_OPSDESK_SIGNATURE_256": good}
    assert _same_answers(api_client, fast, path, raw, **auth, **signed) == 202


@pytest.mark.parametrize("limit", [1000, 3 * 1024 * 1024])
def test_oversized(cast, api_client, fast, settings, limit):
    settings.EVENTS_MAX_BODY_BYTES = limit
    _, token, _ = integration(cast.org_a)
    body = json.dumps({**ONE, "description": "x" * (limit + 10)}).encode()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert _same_answers(api_client, fast, "/api/v1/events/generic", body, **auth) == 413


def test_other_requests_go_to_django(cast):
    calls = []

    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return [b""]

    app = IntakeFastPath(django_app)
    factory = RequestFactory()
    for request in (
        factory.post("/api/v1/events/nagios"),
        factory.post("/api/v1/events/silences"),
        factory.post("/api/v1/events/generic/"),
        factory.get("/api/v1/events/generic"),
        factory.post("/api/v1/incidents"),
        factory.post("/api/v1/events/generic", HTTP_HOST="evil.example"),  # ALLOWED_HOSTS
    ):
        app(request.environ, lambda *a: None)
    assert len(calls) == 6


def test_plain_http_goes_to_django_when_https_is_required(cast, settings):
    """SecurityMiddleware redirects it (SECURE_SSL_REDIRECT); the fast path leaves it there."""
    settings.SECURE_SSL_REDIRECT = True
    calls = []

    def django_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        calls.append(environ["PATH_INFO"])
        return [b""]

    request = RequestFactory().post("/api/v1/events/generic")
    IntakeFastPath(django_app)(request.environ, lambda *a: None)
    assert calls == ["/api/v1/events/generic"]


def test_another_process_disabling_an_integration_takes_effect_within_the_cache_time(
    cast, fast, monkeypatch
):
    found, token, _ = integration(cast.org_a)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    path, body = "/api/v1/events/generic", json.dumps(ONE).encode()
    assert fast(path, body, **auth)[0] == 202
    # As another process would: no signal reaches this process's cache.
    EventIntegration._base_manager.filter(pk=found.pk).update(is_active=False)
    assert fast(path, body, **auth)[0] == 202  # still trusted, within the cache time
    later = time.monotonic() + integrations_module.cache_seconds() + 0.1
    monkeypatch.setattr(integrations_module, "time", SimpleNamespace(monotonic=lambda: later))
    assert fast(path, body, **auth)[0] == 403


def test_disabling_here_takes_effect_at_once(cast, fast):
    found, token, _ = integration(cast.org_a)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    path, body = "/api/v1/events/generic", json.dumps(ONE).encode()
    assert fast(path, body, **auth)[0] == 202
    found.is_active = False
    found.save()
    assert fast(path, body, **auth)[0] == 403


def test_an_unexpected_error_is_a_500_in_the_error_shape(cast, api_client, fast, monkeypatch):
    _, token, _ = integration(cast.org_a)

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("the database is gone")

    monkeypatch.setattr(intake, "accept", broken)
    body, auth = json.dumps(ONE).encode(), {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    status, headers, content = fast("/api/v1/events/generic", body, **auth)
    documented = api_client.post(
        "/api/v1/events/generic", data=body, content_type="application/json", **auth
    )
    assert status == documented.status_code == 500
    for answer, rid in (
        (content, headers["X-Request-ID"]),
        (documented.content, documented["X-Request-ID"]),
    ):
        assert json.loads(answer) == {
            "detail": f"Internal error; quote request id {rid}.",
            "errors": [],
        }


@pytest.mark.parametrize("secure", [False, True])
def test_security_headers_as_djangos(cast, api_client, fast, settings, secure):
    """Over HTTPS too (HSTS); a setting changes both doors alike."""
    settings.SECURE_REFERRER_POLICY = "no-referrer"
    settings.SECURE_HSTS_SECONDS = 3600
    _, token, _ = integration(cast.org_a)
    body = json.dumps(ONE).encode()
    kw = {"HTTP_AUTHORIZATION": f"Bearer {token}", "secure": secure}
    documented = api_client.post(
        "/api/v1/events/generic", data=body, content_type="application/json", **kw
    )
    _, headers, _ = fast("/api/v1/events/generic", body, **kw)
    assert documented.status_code == 202
    for name in SECURITY_HEADERS:
        assert headers.get(name) == documented.get(name), name
    assert headers["Referrer-Policy"] == "no-referrer"
    assert ("Strict-Transport-Security" in headers) is secure
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


@pytest.mark.django_db(transaction=True)
def test_a_connection_broken_while_idle_is_replaced_before_the_next_request(cast, fast):
    """A database restart during a quiet spell: the next request is answered (202), not
    failed by the dead connection."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the server ends the connection: PostgreSQL")
    import psycopg

    from opsdesk.events import fastpath

    _, token, _ = integration(cast.org_a)
    body = json.dumps(ONE).encode()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert fast("/api/v1/events/generic", body, **auth)[0] == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    connection.intake_idle_since -= fastpath.IDLE_CHECK_SECONDS
    status, _, content = fast("/api/v1/events/generic", body, **auth)
    assert status == 202, content
    assert InboxEntry.objects.count() == 2
