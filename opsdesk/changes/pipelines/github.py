"""GitHub webhooks: ``deployment_status`` (a deployment's state as the workflow reports it)
and ``workflow_run`` (an Actions run, for pipelines that deploy without GitHub deployments).
``ping`` and every other event are ignored with a note.

The event is named by the ``X-GitHub-Event`` header. Shapes: GitHub's webhook reference
(payload examples as published in octokit/webhooks).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsdesk.changes.pipelines import (
    CANCELLED,
    FAILURE,
    IN_PROGRESS,
    SUCCESS,
    Ignored,
    PayloadError,
    dig,
    normalised,
    sha,
    text,
    when,
)

#: deployment_status.state -> outcome (``inactive`` means superseded: not an outcome).
STATES = {
    "queued": IN_PROGRESS,
    "pending": IN_PROGRESS,
    "in_progress": IN_PROGRESS,
    "success": SUCCESS,
    "failure": FAILURE,
    "error": FAILURE,
}
#: workflow_run.conclusion -> outcome (skipped, neutral, stale, action_required: ignored).
CONCLUSIONS = {
    "success": SUCCESS,
    "failure": FAILURE,
    "timed_out": FAILURE,
    "startup_failure": FAILURE,
    "cancelled": CANCELLED,
}


def _event(payload: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    event = headers.get("x-github-event", "").strip()
    if event:
        return event
    for key in ("deployment_status", "workflow_run"):
        if key in payload:
            return key
    return "ping" if "zen" in payload else ""


def parse(payload: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, Any] | Ignored:
    event = _event(payload, headers)
    if event == "ping":
        return Ignored("GitHub ping received: the webhook reaches OpsDesk. Nothing recorded.")
    if event == "deployment_status":
        return _deployment_status(payload)
    if event == "workflow_run":
        return _workflow_run(payload)
    return Ignored(f"GitHub {event or 'unnamed'} events are not deployments: ignored.")


def _deployment_status(payload: Mapping[str, Any]) -> dict[str, Any] | Ignored:
    state = dig(payload, "deployment_status.state")
    if state == "inactive":
        return Ignored("An inactive deployment status (superseded): nothing to record.")
    if state not in STATES:
        raise PayloadError(
            "deployment_status.state", f"Unknown state {state!r}; one of {', '.join(STATES)}."
        )
    outcome = STATES[state]
    deployment_id = dig(payload, "deployment.id", int)
    custom = dig(payload, "deployment.payload", (dict, str), required=False)
    custom = custom if isinstance(custom, dict) else {}
    status_time = when(
        dig(payload, "deployment_status.updated_at", required=False)
        or dig(payload, "deployment_status.created_at", required=False),
        "deployment_status.updated_at",
    )
    environment = dig(payload, "deployment_status.environment", required=False) or dig(
        payload, "deployment.environment"
    )
    url = (
        dig(payload, "deployment_status.log_url", required=False)
        or dig(payload, "deployment_status.target_url", required=False)
        or dig(payload, "deployment_status.environment_url", required=False)
        or ""
    )
    if not url and dig(payload, "repository.html_url", required=False):
        url = f"{payload['repository']['html_url']}/deployments"
    version = custom.get("version") if isinstance(custom.get("version"), str) else None
    return normalised(
        external_id=f"deployment:{deployment_id}",
        service=_reference(custom.get("service"), "deployment.payload.service"),
        ci=_reference(custom.get("ci"), "deployment.payload.ci"),
        environment=text(environment, 100),
        version=text(version or dig(payload, "deployment.ref", required=False), 200),
        outcome=outcome,
        started_at=when(dig(payload, "deployment.created_at", required=False), "deployment")
        or status_time,
        finished_at=status_time if outcome != IN_PROGRESS else None,
        repository=text(dig(payload, "repository.full_name", required=False), 300),
        commit_sha=sha(dig(payload, "deployment.sha", required=False)),
        pipeline_url=text(url, 500),
        triggered_by=text(
            dig(payload, "deployment.creator.login", required=False)
            or dig(payload, "sender.login", required=False),
            200,
        ),
        event=f"deployment_status {state}",
    )


def _reference(value: Any, field: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PayloadError(field, "Expected the name or id of a service or CI.")
    return value


def _workflow_run(payload: Mapping[str, Any]) -> dict[str, Any] | Ignored:
    run_id = dig(payload, "workflow_run.id", int)
    status = dig(payload, "workflow_run.status")
    if status != "completed":
        outcome = IN_PROGRESS
    else:
        conclusion = dig(payload, "workflow_run.conclusion")
        if conclusion not in CONCLUSIONS:
            return Ignored(f"A workflow run that ended {conclusion!r} deployed nothing: ignored.")
        outcome = CONCLUSIONS[conclusion]
    started = when(
        dig(payload, "workflow_run.run_started_at", required=False)
        or dig(payload, "workflow_run.created_at", required=False),
        "workflow_run.run_started_at",
    )
    finished = when(dig(payload, "workflow_run.updated_at", required=False), "workflow_run")
    name = dig(payload, "workflow_run.name", required=False) or dig(
        payload, "workflow.name", required=False
    )
    number = dig(payload, "workflow_run.run_number", int, required=False)
    head = sha(dig(payload, "workflow_run.head_sha", required=False))
    return normalised(
        external_id=f"workflow_run:{run_id}",
        version=text(head[:12] or (f"{name} #{number}" if number else ""), 200),
        outcome=outcome,
        started_at=started,
        finished_at=finished if outcome != IN_PROGRESS else None,
        repository=text(dig(payload, "repository.full_name", required=False), 300),
        commit_sha=head,
        pipeline_url=text(dig(payload, "workflow_run.html_url", required=False), 500),
        triggered_by=text(dig(payload, "workflow_run.actor.login", required=False), 200),
        event=f"workflow_run {status}",
    )
