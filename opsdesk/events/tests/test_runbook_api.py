"""The runbooks API: create with field-named errors, roles, runs and the approval decision."""

from __future__ import annotations

import json

from opsdesk.cmdb.tests.factories import ci
from opsdesk.events.choices import RunState
from opsdesk.events.models import RunbookRun
from opsdesk.events.runbooks import consider
from opsdesk.events.tests.runbook_helpers import alert_group, runbook


def _post(client, path, body, headers):  # type: ignore[no-untyped-def]
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def _body(org, **extra):  # type: ignore[no-untyped-def]
    return {
        "organization_id": org.pk,
        "name": "Restart nginx via AWX",
        "conditions": {"ci_classes": ["server"], "title_contains": "nginx"},
        "action_kind": "http",
        "action": {
            "url": "https://awx.example/api/v2/job_templates/12/launch/",
            "body": {"limit": "{ci}"},
        },
        **extra,
    }


def test_managers_create_runbooks_and_errors_name_the_field(cast, api_client, bearer):  # type: ignore[no-untyped-def]
    org = cast.org_a
    r = _post(api_client, "/api/v1/runbooks", _body(org), bearer(cast.agent))
    assert r.status_code == 403
    r = _post(
        api_client,
        "/api/v1/runbooks",
        _body(org, action={"url": "file:///etc/passwd"}),
        bearer(cast.manager),
    )
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "action.url", "message": "Must be an http:// or https:// URL with a host."}
    ]
    r = _post(
        api_client,
        "/api/v1/runbooks",
        _body(org, action_kind="command", action={"command": ["/bin/rm", "-rf", "/"]}),
        bearer(cast.manager),
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "action.command"
    assert "Commands are off" in r.json()["errors"][0]["message"]
    r = _post(api_client, "/api/v1/runbooks", _body(org), bearer(cast.manager))
    assert r.status_code == 201, r.content
    made = r.json()
    assert made["dry_run"] is True  # safe by default
    assert made["max_runs_per_ci_per_hour"] == 3
    r = api_client.patch(
        f"/api/v1/runbooks/{made['id']}",
        data=json.dumps({"dry_run": False, "verify_seconds": 5}),
        content_type="application/json",
        **bearer(cast.admin),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "verify_seconds"
    r = api_client.patch(
        f"/api/v1/runbooks/{made['id']}",
        data=json.dumps({"dry_run": False}),
        content_type="application/json",
        **bearer(cast.admin),
    )
    assert r.status_code == 200 and r.json()["dry_run"] is False
    listed = api_client.get("/api/v1/runbooks", **bearer(cast.auditor)).json()
    assert [i["name"] for i in listed["items"]] == ["Restart nginx via AWX"]
    r = api_client.delete(f"/api/v1/runbooks/{made['id']}", **bearer(cast.manager))
    assert r.status_code == 204


def test_runs_are_listed_and_a_manager_approves_over_the_api(cast, api_client, bearer):  # type: ignore[no-untyped-def]
    org = cast.org_a
    book = runbook(cast.manager, org, requires_approval=True)
    group = alert_group(org, [ci(org, "web-01")])
    (run,) = consider(group)
    r = api_client.get(
        f"/api/v1/runbook-runs?state=awaiting_approval&runbook_id={book.pk}", **bearer(cast.agent)
    )
    assert r.status_code == 200
    (item,) = r.json()["items"]
    assert item["id"] == run.pk
    assert item["ci"] == "web-01" and item["group"] == group.number
    assert item["incident"] == group.incident.number
    assert item["request"]["body"] == {"ci": "web-01"}
    r = _post(api_client, f"/api/v1/runbook-runs/{run.pk}/approve", {}, bearer(cast.agent))
    assert r.status_code == 403
    r = _post(
        api_client, f"/api/v1/runbook-runs/{run.pk}/approve", {"note": "ok"}, bearer(cast.manager)
    )
    assert r.status_code == 200, r.content
    assert r.json()["state"] == RunState.RUNNING
    assert r.json()["decided_by"] == cast.manager.email
    r = _post(api_client, f"/api/v1/runbook-runs/{run.pk}/reject", {}, bearer(cast.manager))
    assert r.status_code == 409
    assert r.json()["errors"][0]["field"] == "state"
    # A runbook with runs is kept: deactivate instead.
    r = api_client.delete(f"/api/v1/runbooks/{book.pk}", **bearer(cast.manager))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "is_active"
    assert RunbookRun.objects.filter(runbook=book).count() == 1
