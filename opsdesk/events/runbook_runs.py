"""The background half of runbooks: carrying out a queued run (`execute_run`, once, outside
any transaction while the remote side works) and the verify step (`verify_runs`, the periodic
job): a run succeeds once the group's alerts on its CI have cleared, or escalates when its
``verify_until`` passes first (the incident's urgency, then impact, goes up one step).
See `opsdesk.events.runbooks` for the engine that records and queues runs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.core.errors import Conflict, FieldError
from opsdesk.events import runbook_exec as ex
from opsdesk.events.choices import EventStatus, RunbookActionKind, RunState
from opsdesk.events.models import Alert, RunbookRun
from opsdesk.events.runbooks import (
    actor_name,
    context_for,
    describe,
    note_run,
    planned_request,
    save_run,
    target_alert,
)

logger = logging.getLogger(__name__)


def execute_run(run_id: int, *, now: datetime | None = None) -> str:
    """Carry out a ``running`` run once (a second delivery of the task finds it started and
    does nothing). The remote call happens outside any transaction."""
    with transaction.atomic():
        run = (
            RunbookRun.objects.select_for_update(of=("self",))
            .select_related("runbook", "group__incident", "group__service", "ci__ci_class")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.state != RunState.RUNNING or run.started_at is not None:
            return "skipped"
        run.started_at = now or timezone.now()
        save_run(run)
    runbook = run.runbook
    alert = target_alert(run)
    ctx = context_for(run, alert)
    change = None
    if runbook.action_kind == RunbookActionKind.HTTP:
        outcome = ex.run_http(ex.http_request(runbook.sent_action(), ctx))
    elif runbook.action_kind == RunbookActionKind.COMMAND:
        outcome = ex.run_command(ex.command_request(runbook.action, ctx), ctx)
    else:
        outcome, change = _open_change(run)
    finished = timezone.now() if now is None else max(now, run.started_at)
    with transaction.atomic():
        run = RunbookRun.objects.select_for_update().get(pk=run.pk)
        run.request, run.response, run.output = outcome.request, outcome.response, outcome.output
        run.finished_at = finished
        if change is not None:
            run.change = change
        if outcome.ok:
            run.state = RunState.VERIFYING
            run.verify_until = finished + timedelta(seconds=runbook.verify_seconds)
            body = (
                f"{runbook.name} ran on {run.ci.name if run.ci else '-'}: {describe(run.request)}"
                f"{_result(outcome)}. Verifying that the alert clears by "
                f"{run.verify_until:%Y-%m-%d %H:%M:%S} UTC."
            )
        else:
            run.state = RunState.FAILED
            run.reason = outcome.reason
            body = f"{runbook.name} failed: {outcome.reason}{_result(outcome)}"
        save_run(run)
        note_run(run, body, at=finished)
    return run.state


def _result(outcome: ex.Outcome) -> str:
    if "status" in outcome.response and outcome.response["status"] is not None:
        return f" (HTTP {outcome.response['status']})"
    if outcome.response.get("exit_code") is not None:
        return f" (exit code {outcome.response['exit_code']})"
    if outcome.response.get("change"):
        return f" ({outcome.response['change']})"
    return ""


def _open_change(run: RunbookRun) -> tuple[ex.Outcome, Any]:
    from opsdesk.changes.actions import create_change
    from opsdesk.changes.models import ChangeTemplate

    request = planned_request(run)
    template = ChangeTemplate.objects.filter(
        pk=run.runbook.action.get("template_id"), organization_id=run.organization_id
    ).first()
    if template is None:
        return ex.Outcome(
            ok=False, reason="The change template no longer exists.", request=request
        ), None
    group = run.group
    try:
        with transaction.atomic():
            change = create_change(
                acting_user=None,
                organization=run.organization,
                template=template,
                system=actor_name(run.runbook),
                title=f"{template.name}: {run.ci.name if run.ci else group.title}"[:255],
                description=(
                    f"Opened by the runbook {run.runbook.name} for {group.number} "
                    f"({group.title})"
                    + (f", incident {group.incident.number}" if group.incident_id else "")
                    + "."
                ),
                cis=[run.ci] if run.ci else [],
                service=group.service,
                planned_start=timezone.now(),
            )
    except (FieldError, Conflict) as exc:
        detail = exc.detail if isinstance(exc, Conflict) else "; ".join(exc.errors.values())
        return ex.Outcome(
            ok=False, reason=f"The change was refused: {detail}", request=request
        ), None
    return (
        ex.Outcome(
            ok=True,
            request=request,
            response={"change": change.number, "change_id": change.pk},
        ),
        change,
    )


def verify_runs(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic job: runs still verifying succeed once the group's alerts on their CI
    have cleared, or escalate when ``verify_until`` passed first. Queued runs whose task was
    lost (running, never started, older than a minute) are queued again."""
    now = now or timezone.now()
    counts = {"succeeded": 0, "escalated": 0, "requeued": 0}
    for run_id in RunbookRun.objects.filter(state=RunState.VERIFYING).values_list("pk", flat=True):
        try:
            outcome = _verify_one(run_id, now)
        except Exception:
            logger.exception("verifying runbook run %s failed", run_id)
            continue
        if outcome:
            counts[outcome] += 1
    stale = RunbookRun.objects.filter(
        state=RunState.RUNNING, started_at__isnull=True, updated_at__lt=now - timedelta(minutes=1)
    ).values_list("pk", flat=True)
    for run_id in stale:
        from opsdesk.events.runbook_tasks import execute_run_task

        execute_run_task.enqueue(run_id)
        counts["requeued"] += 1
    return counts


def still_firing(run: RunbookRun) -> int:
    """The group's alerts on the run's CI that still fire."""
    return Alert.objects.filter(
        group_id=run.group_id, ci_id=run.ci_id, status=EventStatus.FIRING
    ).count()


@transaction.atomic
def _verify_one(run_id: int, now: datetime) -> str | None:
    run = (
        RunbookRun.objects.select_for_update(of=("self",))
        .select_related("runbook", "group__incident", "ci")
        .get(pk=run_id)
    )
    if run.state != RunState.VERIFYING:
        return None
    firing = still_firing(run)
    ci = run.ci.name if run.ci else "-"
    if not firing:
        run.state = RunState.SUCCEEDED
        save_run(run)
        note_run(run, f"{run.runbook.name} succeeded: the alerts on {ci} cleared.", at=now)
        return "succeeded"
    if run.verify_until is not None and now < run.verify_until:
        return None
    run.state = RunState.ESCALATED
    raised = _escalate(run)
    run.reason = (
        f"{firing} alert(s) on {ci} still firing {run.runbook.verify_seconds} s after the run"
        f"{'; ' + raised if raised else ''}."
    )
    save_run(run)
    note_run(run, f"{run.runbook.name} did not heal {ci}: {run.reason}", at=now)
    return "escalated"


def _escalate(run: RunbookRun) -> str:
    """Raise the incident's urgency one step (its impact once urgency is at the top)."""
    incident = run.group.incident
    if incident is None:
        return "no incident to escalate"
    from opsdesk.servicedesk.actions import update_incident

    if incident.urgency > 1:
        change = {"urgency": incident.urgency - 1}
    elif incident.impact > 1:
        change = {"impact": incident.impact - 1}
    else:
        return f"{incident.number} is already at the highest urgency and impact"
    before = incident.priority
    try:
        with transaction.atomic():
            update_incident(
                acting_user=None, incident=incident, system=actor_name(run.runbook), **change
            )
    except (FieldError, Conflict) as exc:
        return f"{incident.number} could not be escalated: {getattr(exc, 'detail', exc)}"
    name, value = next(iter(change.items()))
    return (
        f"{incident.number} {name} raised to {value} (priority P{before} -> P{incident.priority})"
    )
