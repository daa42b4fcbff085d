"""Self-healing runbooks: the engine as the pipeline's last stage, its guard rails, the three
executors against real things (an HTTP server on 127.0.0.1, /bin/echo, the change catalogue)
and the verify step driven with an explicit ``now``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.events import pipeline, runbook_runs, runbooks
from opsdesk.events.choices import RunState
from opsdesk.events.models import Alert, RunbookRun
from opsdesk.events.tests.runbook_helpers import alert_group, hook_server, opened, runbook
from opsdesk.servicedesk.models import Activity


def notes(group) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        Activity.objects.filter(
            subject_type="incident", subject_id=group.incident_id, kind="work_note"
        )
        .order_by("id")
        .values_list("body", flat=True)
    )


def test_http_runbook_calls_the_webhook_on_commit_then_verifies_and_succeeds(  # type: ignore[no-untyped-def]
    cast, immediate, django_capture_on_commit_callbacks
):
    org = cast.org_a
    web = ci(org, "web-01")
    group = alert_group(org, [web])
    with hook_server() as hook:
        book = runbook(
            cast.manager,
            org,
            action={
                "url": hook.url + "/api/v2/job_templates/7/launch/?host={ci}",
                "headers": {"Authorization": "Bearer s3cret", "X-Team": "{label_team}"},
                "body": {
                    "extra_vars": {"host": "{ci}", "group": "{group}", "incident": "{incident}"},
                    "note": "{group_title} ({severity})",
                },
            },
            verify_seconds=300,
        )
        now = timezone.now()
        with django_capture_on_commit_callbacks(execute=True):
            pipeline.run(opened(org, group, now), only=("runbooks",))
        # The stage only queued it: the call happened after the transaction committed.
        assert len(hook.received) == 1
    got = hook.received[0]
    assert got.method == "POST"
    assert got.path == "/api/v2/job_templates/7/launch/?host=web-01"
    assert got.headers["authorization"] == "Bearer s3cret"
    assert got.headers["x-team"] == "web"
    assert got.json() == {
        "extra_vars": {"host": "web-01", "group": group.number, "incident": group.incident.number},
        "note": "Disk full on web servers (major)",
    }
    run = RunbookRun.objects.get(runbook=book)
    assert run.state == RunState.VERIFYING
    assert run.ci == web
    assert run.response == {"status": 200, "body": '{"job": 42, "status": "pending"}'}
    assert run.request["headers"]["Authorization"] == "********"  # not kept on the run
    assert run.verify_until == run.finished_at + timedelta(seconds=300)

    # Still firing before the deadline: nothing happens.
    assert runbook_runs.verify_runs(now=run.finished_at + timedelta(seconds=60))["succeeded"] == 0
    Alert.objects.filter(group=group).update(status="resolved")
    assert runbook_runs.verify_runs(now=run.finished_at + timedelta(seconds=90)) == {
        "succeeded": 1,
        "escalated": 0,
        "requeued": 0,
    }
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    trail = notes(group)
    assert trail[0].startswith("Clean the disk started on web-01: POST http://127.0.0.1")
    assert "ran on web-01" in trail[1] and "(HTTP 200)" in trail[1]
    assert trail[2] == "Clean the disk succeeded: the alerts on web-01 cleared."
    # Audited as the runbook's runs: created, then each state change.
    states = [
        r.changes.get("state", [None, None])[1]
        for r in AuditRecord.objects.filter(
            object_type="events.runbookrun", object_id=str(run.pk)
        ).order_by("id")
    ]
    assert [s for s in states if s] == ["running", "verifying", "succeeded"]


def test_a_failing_webhook_fails_the_run_with_the_code_and_excerpt(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    with hook_server() as hook:
        hook.status, hook.reply = 503, b"AWX is in maintenance"
        book = runbook(cast.manager, org, action={"url": hook.url + "/launch", "method": "PUT"})
        (run,) = runbooks.consider(group)
        assert runbook_runs.execute_run(run.pk) == RunState.FAILED
        assert runbook_runs.execute_run(run.pk) == "skipped"  # a second delivery does nothing
        assert len(hook.received) == 1 and hook.received[0].method == "PUT"
    run.refresh_from_db()
    assert run.runbook == book
    assert run.response == {"status": 503, "body": "AWX is in maintenance"}
    assert run.reason == f"PUT {hook.url}/launch answered 503."
    assert notes(group)[-1].startswith("Clean the disk failed: PUT")


def test_unreachable_webhook_fails_without_raising(cast, settings):  # type: ignore[no-untyped-def]
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    with hook_server() as hook:
        url = hook.url
    runbook(cast.manager, org, action={"url": url + "/gone", "timeout": 2})
    (run,) = runbooks.consider(group)
    assert runbook_runs.execute_run(run.pk) == RunState.FAILED
    run.refresh_from_db()
    assert run.response["status"] is None
    assert "failed" in run.reason


def test_rate_limit_per_ci_per_hour_refuses_and_says_why(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    web = ci(org, "web-01")
    book = runbook(cast.manager, org, max_runs_per_ci_per_hour=2)
    now = timezone.now()
    states = []
    for _ in range(3):
        group = alert_group(org, [web], now=now)
        (run,) = runbooks.consider(opened(org, group, now))
        states.append(run.state)
    assert states == [RunState.RUNNING, RunState.RUNNING, RunState.REFUSED]
    refused = RunbookRun.objects.get(runbook=book, state=RunState.REFUSED)
    assert refused.reason == (
        "Rate limit: Clean the disk already ran 2 time(s) on web-01 in the last hour (at most 2)."
    )
    assert notes(refused.group) == [f"Clean the disk was not run on web-01: {refused.reason}"]
    # Refusals do not count; an hour later the CI may be healed again.
    later = now + timedelta(hours=1, seconds=1)
    group = alert_group(org, [web], now=later)
    (run,) = runbooks.consider(opened(org, group, later))
    assert run.state == RunState.RUNNING
    # Another CI has its own budget.
    group = alert_group(org, [ci(org, "web-02")], now=now)
    (run,) = runbooks.consider(opened(org, group, now))
    assert run.state == RunState.RUNNING


def test_blast_radius_counts_the_groups_cis_and_what_depends_on_the_target(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    servers = [ci(org, f"web-{i:02d}") for i in range(4)]
    runbook(cast.manager, org, max_blast_radius=3)
    wide = alert_group(org, servers)
    (run,) = runbooks.consider(wide)
    assert run.state == RunState.REFUSED
    assert run.reason == (
        "Blast radius: the group touches 4 CIs, more than the runbook's maximum of 3."
    )
    # One CI alerting, but four applications run on it.
    db = ci(org, "db-01")
    for i in range(4):
        relate(ci(org, f"app-{i}", "application"), "runs_on", db)
    (run,) = runbooks.consider(alert_group(org, [db]))
    assert run.state == RunState.REFUSED
    assert (
        run.reason == "Blast radius: 4 CIs depend on db-01, more than the runbook's maximum of 3."
    )
    # Within the radius it runs.
    (run,) = runbooks.consider(alert_group(org, servers[:3]))
    assert run.state == RunState.RUNNING


def test_dry_run_records_what_it_would_do_and_calls_nothing(  # type: ignore[no-untyped-def]
    cast, immediate, django_capture_on_commit_callbacks
):
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    with hook_server() as hook:
        runbook(
            cast.manager,
            org,
            action={"url": hook.url + "/x/{ci}", "body": "clean {ci}"},
            dry_run=True,
        )
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            (run,) = runbooks.consider(group)
        assert hook.received == []
    assert run.state == RunState.DRY_RUN and run.dry_run
    assert run.request["url"] == f"{hook.url}/x/web-01"
    assert run.request["body"] == "clean web-01"
    assert run.reason == f"Dry run: would POST {hook.url}/x/web-01."
    assert not any("runbook" in repr(c) for c in callbacks)
    assert notes(group) == [f"Clean the disk (dry run) on web-01: would POST {hook.url}/x/web-01."]


def test_approval_flow_waits_then_runs_when_a_manager_approves(  # type: ignore[no-untyped-def]
    cast, immediate, django_capture_on_commit_callbacks
):
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    with hook_server() as hook:
        runbook(cast.manager, org, action={"url": hook.url + "/go"}, requires_approval=True)
        with django_capture_on_commit_callbacks(execute=True):
            (run,) = runbooks.consider(group)
        assert run.state == RunState.AWAITING_APPROVAL and hook.received == []
        with pytest.raises(PermissionDenied):
            runbooks.approve_run(acting_user=cast.agent, run=run)
        with pytest.raises(PermissionDenied):
            runbooks.approve_run(acting_user=cast.admin_b, run=run)
        with django_capture_on_commit_callbacks(execute=True):
            runbooks.approve_run(acting_user=cast.manager, run=run, note="Go ahead")
        assert [r.path for r in hook.received] == ["/go"]
    run.refresh_from_db()
    assert run.state == RunState.VERIFYING
    assert run.decided_by == cast.manager
    assert "approved by Mandla Manager" in notes(group)[1]
    with pytest.raises(Conflict) as exc:
        runbooks.reject_run(acting_user=cast.manager, run=run)
    assert exc.value.field == "state"


def test_rejection_and_approval_after_the_group_resolved(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    runbook(cast.manager, org, requires_approval=True)
    first = alert_group(org, [ci(org, "web-01")])
    (run,) = runbooks.consider(first)
    runbooks.reject_run(acting_user=cast.admin, run=run, note="Not during the sale")
    run.refresh_from_db()
    assert run.state == RunState.REJECTED and run.reason == "Rejected: Not during the sale"
    second = alert_group(org, [ci(org, "web-02")])
    (run,) = runbooks.consider(second)
    second.state = "resolved"
    second.save()
    with pytest.raises(Conflict, match="nothing to heal"):
        runbooks.approve_run(acting_user=cast.manager, run=run)


def test_verify_escalates_the_incident_when_the_alert_does_not_clear(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    incident = group.incident
    assert (incident.impact, incident.urgency) == (2, 3)
    with hook_server() as hook:
        runbook(cast.manager, org, action={"url": hook.url}, verify_seconds=120)
        (run,) = runbooks.consider(group)
        runbook_runs.execute_run(run.pk)
    run.refresh_from_db()
    before = incident.priority
    assert runbook_runs.verify_runs(now=run.verify_until - timedelta(seconds=1))["escalated"] == 0
    assert runbook_runs.verify_runs(now=run.verify_until)["escalated"] == 1
    run.refresh_from_db()
    incident.refresh_from_db()
    assert run.state == RunState.ESCALATED
    assert incident.urgency == 2
    assert incident.priority < before
    assert run.reason == (
        f"1 alert(s) on web-01 still firing 120 s after the run; {incident.number} urgency "
        f"raised to 2 (priority P{before} -> P{incident.priority})."
    )
    assert notes(group)[-1] == f"Clean the disk did not heal web-01: {run.reason}"
    # The field change is on the incident's timeline, attributed to the runbook.
    change = Activity.objects.filter(
        subject_type="incident", subject_id=incident.pk, kind="field"
    ).last()
    assert change.actor_name == "Runbook: Clean the disk"
    assert change.data["changes"]["urgency"][1] == "2"
    # Once escalated it is final: the job does not touch it again.
    assert runbook_runs.verify_runs(now=run.verify_until + timedelta(hours=1))["escalated"] == 0


def test_commands_are_off_by_default(cast, settings):  # type: ignore[no-untyped-def]
    assert not getattr(settings, "EVENTS_RUNBOOK_COMMANDS", [])
    with pytest.raises(FieldError) as exc:
        runbook(cast.manager, cast.org_a, action_kind="command", action={"command": ["/bin/echo"]})
    assert exc.value.errors == {
        "action.command": "Commands are off: the allow-list (setting EVENTS_RUNBOOK_COMMANDS) is empty."
    }


def test_an_allow_listed_command_runs_without_a_shell(cast, settings):  # type: ignore[no-untyped-def]
    settings.EVENTS_RUNBOOK_COMMANDS = ["/bin/echo"]
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    with pytest.raises(FieldError) as exc:
        runbook(
            cast.manager, org, action_kind="command", action={"command": ["/bin/sh", "-c", "id"]}
        )
    assert "not on the allow-list" in exc.value.errors["action.command"]
    runbook(
        cast.manager,
        org,
        action_kind="command",
        action={"command": ["/bin/echo", "restart", "{ci}", "; rm -rf / $(id)"]},
    )
    (run,) = runbooks.consider(group)
    assert runbook_runs.execute_run(run.pk) == RunState.VERIFYING
    run.refresh_from_db()
    # The shell metacharacters are one literal argument of echo.
    assert run.output == "restart web-01 ; rm -rf / $(id)\n"
    assert run.response == {"exit_code": 0}
    assert run.request["command"] == ["/bin/echo", "restart", "web-01", "; rm -rf / $(id)"]


def test_a_command_taken_off_the_allow_list_is_refused(cast, settings):  # type: ignore[no-untyped-def]
    settings.EVENTS_RUNBOOK_COMMANDS = ["/bin/echo"]
    org = cast.org_a
    runbook(cast.manager, org, action_kind="command", action={"command": ["/bin/echo", "hi"]})
    settings.EVENTS_RUNBOOK_COMMANDS = []
    (run,) = runbooks.consider(alert_group(org, [ci(org, "web-01")]))
    assert run.state == RunState.REFUSED
    assert run.reason.startswith("action.command: Commands are off")


def test_a_failing_command_fails_the_run(cast, settings):  # type: ignore[no-untyped-def]
    settings.EVENTS_RUNBOOK_COMMANDS = ["/bin/false"]
    org = cast.org_a
    runbook(cast.manager, org, action_kind="command", action={"command": ["/bin/false"]})
    (run,) = runbooks.consider(alert_group(org, [ci(org, "web-01")]))
    assert runbook_runs.execute_run(run.pk) == RunState.FAILED
    run.refresh_from_db()
    assert run.reason == "/bin/false exited with 1." and run.response == {"exit_code": 1}


def test_standard_change_runbook_opens_a_change_from_the_template(cast):  # type: ignore[no-untyped-def]
    from opsdesk.changes.tests.factories import template

    org = cast.org_a
    web = ci(org, "web-01")
    tpl = template(cast, name="Clear /var/log on a web server")
    group = alert_group(org, [web])
    runbook(cast.manager, org, action_kind="standard_change", action={"template_id": tpl.pk})
    (run,) = runbooks.consider(group)
    assert runbook_runs.execute_run(run.pk) == RunState.VERIFYING
    run.refresh_from_db()
    change = run.change
    assert change.change_type == "standard" and change.template == tpl
    assert list(change.cis.all()) == [web]
    assert group.number in change.description
    assert run.response == {"change": change.number, "change_id": change.pk}
    assert f"({change.number})" in notes(group)[-1]


def test_conditions_pick_the_root_cause_and_skip_what_does_not_match(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    a, b = ci(org, "web-01"), ci(org, "web-02")
    group = alert_group(org, [a, b], labels={"env": "prod"})
    group.root_causes = [{"ci_id": b.pk, "ci": b.name, "score": 0.9}]
    group.save()
    runbook(
        cast.manager,
        org,
        name="Only staging",
        conditions={"labels": [{"name": "env", "value": "staging"}]},
    )
    runbook(cast.manager, org, name="Databases", conditions={"ci_classes": ["database"]})
    runbook(
        cast.manager,
        org,
        name="Critical only",
        conditions={"title_contains": "disk", "min_severity": "critical"},
    )
    runbook(
        cast.manager,
        org,
        name="Prod web",
        conditions={
            "labels": [
                {"name": "env", "value": "prod"},
                {"name": "host.name", "op": "=~", "value": "web-.*"},
            ]
        },
    )
    (run,) = runbooks.consider(group)
    assert (run.runbook.name, run.ci) == ("Prod web", b)
    # Considered again (another batch touching the group): no second run on the same CI.
    assert runbooks.consider(group) == []


def test_the_stage_skips_suppressed_and_groups_without_new_cis(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    runbook(cast.manager, org)
    b = opened(org, group)
    b.groups_opened.clear()  # touched, but no new CI joined
    assert pipeline.run(b, only=("runbooks",)).scratch["runbook_runs"] == []
    alert = Alert.objects.get(group=group)
    b.items.append(pipeline.Item(event=None, inbox_id=None, alert=alert, created=True))  # type: ignore[arg-type]
    assert len(pipeline.run(b, only=("runbooks",)).scratch["runbook_runs"]) == 1


def test_runbook_actions_check_permission_and_name_the_field(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    with pytest.raises(PermissionDenied):
        runbook(cast.agent, org)
    with pytest.raises(PermissionDenied):
        runbook(cast.admin_b, org)
    bad = {
        "url": "ftp://example.org/x",
        "method": "DELETE",
        "body": {"x": "{ci.__class__}"},
        "extra": 1,
    }
    with pytest.raises(FieldError) as exc:
        runbook(
            cast.manager,
            org,
            action=bad,
            conditions={
                "ci_classes": ["spaceship"],
                "labels": [{"name": "a", "op": "=~", "value": "("}],
            },
            verify_seconds=5,
        )
    errors = exc.value.errors
    assert set(errors) == {
        "action.url",
        "action.method",
        "action.body",
        "action.extra",
        "conditions.ci_classes",
        "conditions.labels",
        "verify_seconds",
    }
    assert "http://" in errors["action.url"]
    with pytest.raises(FieldError) as exc:
        runbook(cast.manager, org, action={"url": "https://awx.example/{ci:>999999}"})
    assert "format" in exc.value.errors["action.url"]
    with pytest.raises(FieldError) as exc:
        runbook(cast.manager, org, conditions={})
    assert "at least one" in exc.value.errors["conditions"]
    with pytest.raises(FieldError) as exc:
        runbook(cast.manager, org, action_kind="standard_change", action={"template_id": 999999})
    assert exc.value.errors == {
        "action.template_id": "No standard-change template of this organisation has this id."
    }
    book = runbook(cast.manager, org)
    with pytest.raises(FieldError) as exc:
        runbook(cast.admin, org)
    assert "already exists" in exc.value.errors["name"]
    updated = runbooks.update_runbook(acting_user=cast.admin, runbook=book, dry_run=True)
    assert updated.dry_run
    with pytest.raises(FieldError):
        runbooks.update_runbook(acting_user=cast.admin, runbook=book, organization=cast.org_b)
    runbooks.consider(alert_group(org, [ci(org, "web-01")]))
    with pytest.raises(Conflict):
        runbooks.delete_runbook(acting_user=cast.manager, runbook=book)
    spare = runbook(cast.manager, org, name="Spare")
    runbooks.delete_runbook(acting_user=cast.manager, runbook=spare)
    assert not type(spare).objects.filter(pk=spare.pk).exists()


def test_a_failing_runbooks_stage_never_fails_the_batch(cast, monkeypatch, caplog):  # type: ignore[no-untyped-def]
    from opsdesk.events.stages import runbooks as stage_module

    org = cast.org_a
    group = alert_group(org, [ci(org, "web-01")])
    runbook(cast.manager, org)

    def broken(batch):  # type: ignore[no-untyped-def]
        RunbookRun.objects.create(
            organization=org,
            runbook=runbook(cast.manager, org, name="half-written"),
            group=group,
            state="running",
        )
        raise RuntimeError("bug in a runbook")

    monkeypatch.setattr(stage_module, "consider", broken)
    done = pipeline.run(opened(org, group), only=("runbooks",))
    assert done.scratch["runbook_runs"] == []
    assert "runbooks stage failed" in caplog.text
    # What the failed stage wrote was rolled back to its savepoint.
    assert not RunbookRun.objects.exists()
    assert not type(group).objects.get(pk=group.pk).runbook_runs.exists()


def test_redirects_are_followed_to_http_only(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    with hook_server() as hook:
        hook.redirects = {"/old": hook.url + "/new", "/sneaky": "ftp://127.0.0.1/etc/passwd"}
        runbook(cast.manager, org, name="moved", action={"url": hook.url + "/old"})
        (run,) = runbooks.consider(alert_group(org, [ci(org, "web-01")]))
        assert runbook_runs.execute_run(run.pk) == RunState.VERIFYING
        runbook(cast.manager, org, name="sneaky", action={"url": hook.url + "/sneaky"})
        runs = runbooks.consider(alert_group(org, [ci(org, "web-02")]))
        (run,) = [r for r in runs if r.runbook.name == "sneaky"]
        assert runbook_runs.execute_run(run.pk) == RunState.FAILED
        assert [r.path for r in hook.received] == ["/old", "/new", "/sneaky"]
    run.refresh_from_db()
    assert run.response["status"] == 302


def test_a_deactivated_runbook_cannot_be_approved(cast):  # type: ignore[no-untyped-def]
    org = cast.org_a
    book = runbook(cast.manager, org, requires_approval=True)
    (run,) = runbooks.consider(alert_group(org, [ci(org, "web-01")]))
    runbooks.update_runbook(acting_user=cast.manager, runbook=book, is_active=False)
    with pytest.raises(Conflict) as exc:
        runbooks.approve_run(acting_user=cast.manager, run=run)
    assert exc.value.field == "is_active"
    runbooks.reject_run(acting_user=cast.manager, run=run)  # it can still be cleared away


def test_instance_metadata_and_link_local_are_refused_however_reached(cast, settings):  # type: ignore[no-untyped-def]
    org = cast.org_a
    with pytest.raises(FieldError) as exc:
        runbook(cast.manager, org, action={"url": "http://169.254.169.254/latest/meta-data/"})
    assert "may not call" in exc.value.errors["action.url"]
    with hook_server() as hook:
        # A redirect from an allowed host to the metadata service is refused before connecting.
        hook.redirects = {"/meta": "http://169.254.169.254/latest/meta-data/iam/"}
        runbook(cast.manager, org, name="meta", action={"url": hook.url + "/meta"})
        (run,) = runbooks.consider(alert_group(org, [ci(org, "web-01")]))
        assert runbook_runs.execute_run(run.pk) == RunState.FAILED
        run.refresh_from_db()
        assert "169.254.169.254" in run.response["error"] and "may not call" in run.reason
        # A name resolving into a denied network (here loopback, denied by the setting).
        settings.EVENTS_RUNBOOK_HTTP_DENY = ["127.0.0.0/8", "::1/128"]
        port = hook.url.rsplit(":", 1)[1]
        runbook(cast.manager, org, name="named", action={"url": f"http://localhost:{port}/x"})
        runs = runbooks.consider(alert_group(org, [ci(org, "web-02")]))
        (run,) = [r for r in runs if r.runbook.name == "named"]
        assert runbook_runs.execute_run(run.pk) == RunState.FAILED
        assert [r.path for r in hook.received] == ["/meta"]
