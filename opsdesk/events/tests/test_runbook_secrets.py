"""Credentials in an http runbook's headers: kept apart from the action, masked wherever the
runbook is shown (API, audit), sent only when the runbook runs, and kept when a client sends
back the masked value it read."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.errors import FieldError
from opsdesk.core.models import AuditRecord
from opsdesk.events import pipeline
from opsdesk.events.runbook_exec import MASK, split_secrets
from opsdesk.events.runbooks import update_runbook
from opsdesk.events.tests.runbook_helpers import alert_group, hook_server, opened, runbook

ACTION = {
    "url": "https://awx.example/api/v2/job_templates/12/launch/",
    "headers": {"Authorization": "Bearer s3cret", "X-Api-Key": "k-1", "X-Team": "web"},
}


def test_split_keeps_plain_headers_and_masks_credentials() -> None:
    action, secrets, problems = split_secrets(ACTION, {})
    assert problems == {}
    assert action["headers"] == {"Authorization": MASK, "X-Api-Key": MASK, "X-Team": "web"}
    assert secrets == {"Authorization": "Bearer s3cret", "X-Api-Key": "k-1"}
    # A masked value with nothing kept cannot be sent.
    _, _, problems = split_secrets({"headers": {"Authorization": MASK}}, {})
    assert problems == {"action.headers": "Give the value of Authorization."}


def test_the_audit_and_the_api_never_hold_the_credential(cast, api_client, bearer):  # type: ignore[no-untyped-def]
    book = runbook(cast.manager, cast.org_a, action=ACTION)
    assert book.action["headers"]["Authorization"] == MASK
    assert book.secret_headers == {"Authorization": "Bearer s3cret", "X-Api-Key": "k-1"}
    update_runbook(
        acting_user=cast.manager,
        runbook=book,
        action={**ACTION, "headers": {**ACTION["headers"], "Authorization": "Bearer n3w"}},
    )
    trail = AuditRecord.objects.filter(object_type="events.runbook", object_id=str(book.pk))
    dumped = json.dumps([[r.before, r.after, r.changes] for r in trail])
    assert trail.count() == 2
    assert "s3cret" not in dumped and "n3w" not in dumped and "k-1" not in dumped
    # The change of credential still shows as a change, without its values.
    assert trail.order_by("id").last().changes["secret_headers"] == ["********", "********"]
    got = api_client.get(f"/api/v1/runbooks/{book.pk}", **bearer(cast.auditor)).json()
    assert "secret_headers" not in got
    assert got["action"]["headers"] == {"Authorization": MASK, "X-Api-Key": MASK, "X-Team": "web"}


def test_sending_back_the_masked_action_keeps_the_credential_and_leaving_it_out_drops_it(  # type: ignore[no-untyped-def]
    cast, api_client, bearer
):
    book = runbook(cast.manager, cast.org_a, action=ACTION)
    shown = api_client.get(f"/api/v1/runbooks/{book.pk}", **bearer(cast.manager)).json()
    r = api_client.patch(
        f"/api/v1/runbooks/{book.pk}",
        data=json.dumps({"action": shown["action"], "name": "Renamed"}),
        content_type="application/json",
        **bearer(cast.manager),
    )
    assert r.status_code == 200, r.content
    book.refresh_from_db()
    assert book.secret_headers == {"Authorization": "Bearer s3cret", "X-Api-Key": "k-1"}
    update_runbook(
        acting_user=cast.manager,
        runbook=book,
        action={**ACTION, "headers": {"Authorization": MASK}},
    )
    book.refresh_from_db()
    assert book.secret_headers == {"Authorization": "Bearer s3cret"}
    with pytest.raises(FieldError) as err:
        runbook(
            cast.manager, cast.org_a, name="Other", action={**ACTION, "headers": {"Token": MASK}}
        )
    assert err.value.errors == {"action.headers": "Give the value of Token."}


def test_the_webhook_receives_the_credential(cast, immediate, django_capture_on_commit_callbacks):  # type: ignore[no-untyped-def]
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    with hook_server() as hook:
        runbook(
            cast.manager,
            org,
            action={"url": hook.url + "/launch", "headers": {"Authorization": "Bearer s3cret"}},
        )
        with django_capture_on_commit_callbacks(execute=True):
            pipeline.run(opened(org, group, timezone.now()), only=("runbooks",))
    assert hook.received[0].headers["authorization"] == "Bearer s3cret"
