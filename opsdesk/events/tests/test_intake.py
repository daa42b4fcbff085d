"""The intake door: authentication, answers, durability before the acknowledgement."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from opsdesk.core.testing.api import assert_error
from opsdesk.events.choices import InboxState
from opsdesk.events.inbox import RAW_LIMIT, process_pending
from opsdesk.events.models import InboxEntry
from opsdesk.events.tests.helpers import integration, post

pytestmark = pytest.mark.django_db

ONE = {"title": "Disk full on db-07", "severity": "critical", "resource": {"host.name": "db-07"}}


def test_accepted_events_are_stored_before_the_answer(cast, api_client):
    _, token, _ = integration(cast.org_a)
    resp = post(api_client, "generic", {"events": [ONE, {**ONE, "status": "resolved"}]}, token)
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert (body["accepted"], body["firing"], body["resolved"]) == (2, 1, 1)
    entry = InboxEntry.objects.get(pk=body["inbox_id"])
    assert entry.organization_id == cast.org_a.pk
    assert entry.state == InboxState.PENDING
    assert entry.event_count == 2
    assert entry.events[0]["title"] == "Disk full on db-07"
    assert entry.events[0]["resource"] == {"host.name": "db-07"}
    assert json.loads(entry.raw)["events"][0]["title"] == "Disk full on db-07"


def test_the_worker_marks_entries_done_once(cast, api_client):
    _, token, _ = integration(cast.org_a)
    post(api_client, "generic", ONE, token)
    assert process_pending("t") == 1
    assert process_pending("t") == 0
    assert InboxEntry.objects.get().state == InboxState.DONE


def test_token_rules(cast, api_client):
    _, token, _ = integration(cast.org_a)
    _, other, _ = integration(cast.org_a, source="zabbix")
    assert_error(post(api_client, "generic", ONE, None), 401)
    assert_error(post(api_client, "generic", ONE, "opsev_nope"), 401)
    assert_error(post(api_client, "generic", ONE, other), 403)
    assert_error(post(api_client, "nagios", ONE, token), 404)
    resp = api_client.post(
        f"/api/v1/events/generic?token={token}",
        data=json.dumps(ONE),
        content_type="application/json",
    )
    assert resp.status_code == 202


def test_malformed_bodies_name_the_problem(cast, api_client):
    _, token, _ = integration(cast.org_a)
    body = assert_error(post(api_client, "generic", b"{nope", token), 400, "body")
    assert "JSON" in body["detail"]
    assert_error(
        post(api_client, "generic", {"events": [ONE, {"severity": "bad"}]}, token),
        400,
        "events[1].severity",
    )
    assert_error(
        post(api_client, "generic", {"events": [{"title": "x", "labels": {"a": {}}}]}, token),
        400,
        "events[0].labels.a",
    )
    assert not InboxEntry.objects.exists()


def test_nul_characters_are_refused_naming_the_field(cast, api_client):
    _, token, _ = integration(cast.org_a)
    body = b'{"title": "Disk full", "labels": {"team": "ops\\u0000"}}'
    assert_error(post(api_client, "generic", body, token), 400, "events[0].labels.team")
    assert not InboxEntry.objects.exists()


def test_oversized_bodies_are_refused(cast, api_client, settings):
    settings.EVENTS_MAX_BODY_BYTES = 1000
    _, token, _ = integration(cast.org_a)
    resp = post(api_client, "generic", {**ONE, "description": "x" * 2000}, token)
    assert resp.status_code == 413
    assert not InboxEntry.objects.exists()


def test_signed_integrations_need_the_hmac(cast, api_client):
    _, token, secret = integration(cast.org_a, with_secret=True)
    raw = json.dumps(ONE).encode()
    assert_error(post(api_client, "generic", raw, token), 403)
    bad = post(api_client, "generic", raw, token, HTTP_X_OPSDESK_SIGNATURE_256="sha256=00")
    assert_error(bad, 403)
    sig = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    assert (
        post(api_client, "generic", raw, token, HTTP_X_OPSDESK_SIGNATURE_256=sig).status_code == 202
    )


def test_disabled_integration_is_refused(cast, api_client):
    found, token, _ = integration(cast.org_a)
    found.is_active = False
    found.save()
    assert_error(post(api_client, "generic", ONE, token), 403)


def test_raw_body_is_kept_up_to_the_limit(cast, api_client, settings):
    settings.EVENTS_MAX_BODY_BYTES = RAW_LIMIT * 2
    _, token, _ = integration(cast.org_a)
    post(api_client, "generic", {**ONE, "description": "y" * 9000}, token)
    entry = InboxEntry.objects.get()
    assert not entry.raw_truncated
