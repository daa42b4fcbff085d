"""Runbooks inside the whole pipeline: an event stored in the inbox and drained by a worker
binds to its CI, opens a group and an incident, and the runbooks stage (last) records a run
whose webhook call is made after the batch committed; its resolution then lets the verify
job mark the run succeeded."""

from __future__ import annotations

import importlib.util
from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.cmdb.actions import create_ci
from opsdesk.cmdb.models import CIClass
from opsdesk.events import inbox, runbook_runs
from opsdesk.events.choices import RunState
from opsdesk.events.models import AlertGroup, RunbookRun
from opsdesk.events.tests.helpers import event
from opsdesk.events.tests.runbook_helpers import hook_server, runbook
from opsdesk.servicedesk.models import Activity

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        importlib.util.find_spec("opsdesk.events.stages.bind") is None,
        reason="the bind stage is not written yet",
    ),
]


def test_an_event_heals_its_ci_through_the_whole_pipeline(cast, settings):  # type: ignore[no-untyped-def]
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": ["default", "periodic"],
        }
    }
    org = cast.org_a
    web = create_ci(
        acting_user=cast.admin,
        organization=org,
        ci_class=CIClass.objects.get(key="server"),
        name="web-01",
        attributes={},
    )
    start = timezone.now() - timedelta(minutes=1)
    with hook_server() as hook:
        runbook(
            cast.manager,
            org,
            action={"url": hook.url + "/hooks/{ci}", "body": {"alert": "{alert_title}"}},
            conditions={
                "ci_classes": ["server"],
                "labels": [{"name": "alertname", "value": "DiskFull"}],
            },
        )
        inbox.store(
            organization_id=org.pk,
            source="generic",
            events=[
                event(
                    "Disk full on web-01",
                    severity="critical",
                    fingerprint="web01-disk",
                    resource={"host.name": "web-01"},
                    labels={"alertname": "DiskFull"},
                    starts_at=start,
                )
            ],
        )
        inbox.drain()
        assert [(r.path, r.json()) for r in hook.received] == [
            ("/hooks/web-01", {"alert": "Disk full on web-01"})
        ]
    group = AlertGroup.objects.get(organization=org)
    run = RunbookRun.objects.get(group=group)
    assert run.ci == web and run.state == RunState.VERIFYING
    assert group.incident_id is not None
    bodies = list(
        Activity.objects.filter(
            subject_type="incident", subject_id=group.incident_id, kind="work_note"
        )
        .order_by("id")
        .values_list("body", flat=True)
    )
    assert [b for b in bodies if b.startswith("Clean the disk")] == [
        f"Clean the disk started on web-01: POST {hook.url}/hooks/web-01.",
        f"Clean the disk ran on web-01: POST {hook.url}/hooks/web-01 (HTTP 200). Verifying that "
        f"the alert clears by {run.verify_until:%Y-%m-%d %H:%M:%S} UTC.",
    ]
    inbox.store(
        organization_id=org.pk,
        source="generic",
        events=[
            event(
                "Disk full on web-01",
                status="resolved",
                severity="critical",
                fingerprint="web01-disk",
                resource={"host.name": "web-01"},
                labels={"alertname": "DiskFull"},
                starts_at=start,
            )
        ],
    )
    inbox.drain()
    assert runbook_runs.verify_runs(now=run.finished_at + timedelta(seconds=5))["succeeded"] == 1
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
