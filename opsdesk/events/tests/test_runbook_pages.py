"""The runbook pages through Django's test client: the list, the editor (errors land on the
field they name), the runs list with approve / reject (htmx swaps the row), roles and
other organisations' objects."""

from __future__ import annotations

from typing import Any

import pytest

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.middleware import SESSION_ORG_KEY
from opsdesk.events.choices import RunState
from opsdesk.events.models import Runbook
from opsdesk.events.runbooks import consider
from opsdesk.events.tests.runbook_helpers import alert_group, runbook

pytestmark = pytest.mark.django_db


def login(client: Any, user: Any) -> None:
    client.force_login(user)
    session = client.session
    session[SESSION_ORG_KEY] = user.memberships.first().organization_id
    session.save()


FORM = {
    "name": "Restart web via AWX",
    "is_active": "on",
    "ci_classes": ["server"],
    "title_contains": "nginx",
    "labels": "env=prod\nhost.name=~web-.*",
    "min_severity": "major",
    "action_kind": "http",
    "url": "https://awx.example/api/v2/job_templates/12/launch/",
    "method": "POST",
    "headers": "Authorization: Bearer abc",
    "body": '{"limit": "{ci}", "extra_vars": {"incident": "{incident}"}}',
    "command": "",
    "template": "",
    "dry_run": "on",
    "max_runs_per_ci_per_hour": "2",
    "max_blast_radius": "5",
    "verify_seconds": "600",
}


def test_a_manager_writes_a_runbook_in_the_editor(client, cast):  # type: ignore[no-untyped-def]
    login(client, cast.manager)
    r = client.post("/events/runbooks/new/", {**FORM, "url": "gopher://awx.example/"})
    assert r.status_code == 422
    assert "Must be an http:// or https:// URL with a host." in r.content.decode()
    r = client.post("/events/runbooks/new/", FORM)
    assert r.status_code == 302, r.content.decode()[:2000]
    book = Runbook.objects.get(organization=cast.org_a)
    assert book.conditions == {
        "ci_classes": ["server"],
        "title_contains": "nginx",
        "labels": [
            {"name": "env", "op": "=", "value": "prod"},
            {"name": "host.name", "op": "=~", "value": "web-.*"},
        ],
        "min_severity": "major",
    }
    assert book.action == {
        "url": "https://awx.example/api/v2/job_templates/12/launch/",
        "method": "POST",
        "headers": {"Authorization": "********"},
        "body": {"limit": "{ci}", "extra_vars": {"incident": "{incident}"}},
    }
    assert book.secret_headers == {"Authorization": "Bearer abc"}
    assert book.dry_run and book.max_runs_per_ci_per_hour == 2
    page = client.get("/events/runbooks/").content.decode()
    assert "Restart web via AWX" in page and "title contains “nginx”" in page
    edit = client.get(f"/events/runbooks/{book.pk}/edit/")
    assert edit.status_code == 200 and "host.name=~web-.*" in edit.content.decode()
    # The editor shows the credential masked; saving the form as shown keeps it.
    assert "Bearer abc" not in edit.content.decode()
    assert "Authorization: ********" in edit.content.decode()
    r = client.post(
        f"/events/runbooks/{book.pk}/edit/", {**FORM, "headers": "Authorization: ********"}
    )
    assert r.status_code == 302
    book.refresh_from_db()
    assert book.secret_headers == {"Authorization": "Bearer abc"}
    r = client.post(
        f"/events/runbooks/{book.pk}/edit/",
        {**FORM, "action_kind": "command", "command": "/bin/echo\n{ci}"},
    )
    assert r.status_code == 422
    assert "Commands are off" in r.content.decode()
    r = client.post(f"/events/runbooks/{book.pk}/delete/")
    assert r.status_code == 302 and not Runbook.objects.filter(pk=book.pk).exists()


def test_agents_read_but_do_not_write_and_other_orgs_are_404(client, cast):  # type: ignore[no-untyped-def]
    theirs = runbook(cast.admin_b, cast.org_b, name="B's runbook")
    login(client, cast.agent)
    assert client.get("/events/runbooks/").status_code == 200
    assert client.get("/events/runbooks/new/").status_code == 403
    assert client.post("/events/runbooks/new/", FORM).status_code == 403
    login(client, cast.manager)
    assert client.get(f"/events/runbooks/{theirs.pk}/edit/").status_code == 404
    assert client.post(f"/events/runbooks/{theirs.pk}/delete/").status_code == 404


def test_runs_list_with_htmx_approve_and_reject(client, cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    runbook(cast.manager, org, requires_approval=True)
    first = alert_group(org, [ci(org, "web-01")])
    second = alert_group(org, [ci(org, "web-02")])
    (a,) = consider(first)
    (b,) = consider(second)
    login(client, cast.agent)
    page = client.get("/events/runbooks/runs/?tab=waiting").content.decode()
    assert f"#{a.pk}" in page and f"#{b.pk}" in page
    assert "Approve" not in page  # agents do not decide
    assert client.post(f"/events/runbooks/runs/{a.pk}/approve/").status_code == 403
    login(client, cast.manager)
    page = client.get("/events/runbooks/runs/?tab=waiting").content.decode()
    assert page.count(">Approve</button>") == 2
    r = client.post(f"/events/runbooks/runs/{a.pk}/approve/", HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    row = r.content.decode()
    assert row.strip().startswith(f'<tr id="run-{a.pk}">')
    assert 'data-state="running"' in row and "Approve" not in row
    r = client.post(f"/events/runbooks/runs/{b.pk}/reject/", {"note": "not now"})
    assert r.status_code == 302
    b.refresh_from_db()
    assert b.state == RunState.REJECTED and b.reason == "Rejected: not now"
    detail = client.get(f"/events/runbooks/runs/{a.pk}/").content.decode()
    assert "&quot;ci&quot;: &quot;web-01&quot;" in detail
    # Deciding twice is refused with a message, not an error page.
    r = client.post(f"/events/runbooks/runs/{b.pk}/approve/", follow=True)
    assert "not awaiting approval" in r.content.decode()


def test_the_incident_page_shows_the_runs_and_a_manager_decides_there(client, cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    runbook(cast.manager, org, requires_approval=True)
    group = alert_group(org, [ci(org, "web-01")])
    (run,) = consider(group)
    page = f"/desk/incidents/{group.incident_id}/"
    login(client, cast.agent)
    html = client.get(page).content.decode()
    assert "Runbook runs" in html and f'data-run="{run.pk}"' in html
    assert f"/events/runbooks/runs/{run.pk}/approve/" not in html
    login(client, cast.manager)
    html = client.get(page).content.decode()
    assert f"/events/runbooks/runs/{run.pk}/approve/" in html
    r = client.post(f"/events/runbooks/runs/{run.pk}/reject/", {"next": page})
    assert r.status_code == 302 and r["Location"] == page
    r = client.post(f"/events/runbooks/runs/{run.pk}/reject/", {"next": "https://evil.example/"})
    assert r["Location"] == "/events/runbooks/runs/"
    html = client.get(page).content.decode()
    assert 'data-state="rejected"' in html
    # The run's steps are work notes on the incident's timeline.
    assert "Clean the disk matched web-01 and waits for a manager&#x27;s approval" in html
