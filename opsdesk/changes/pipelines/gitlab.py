"""GitLab deployment events (``X-Gitlab-Event: Deployment Hook``, ``object_kind:
deployment``): a deployment starts (``running``), succeeds, fails or is canceled; one
``deployment_id`` throughout. Other hooks are ignored with a note.

Shape: GitLab's "Webhook events" reference, Deployment events.
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

STATUSES = {
    "created": IN_PROGRESS,
    "running": IN_PROGRESS,
    "success": SUCCESS,
    "failed": FAILURE,
    "canceled": CANCELLED,
    "canceling": CANCELLED,
}


def parse(payload: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, Any] | Ignored:
    kind = payload.get("object_kind")
    if kind != "deployment":
        hook = headers.get("x-gitlab-event") or kind or "unnamed"
        return Ignored(f"GitLab {hook} events are not deployments: ignored.")
    status = dig(payload, "status")
    if status not in STATUSES:
        raise PayloadError("status", f"Unknown status {status!r}; one of {', '.join(STATUSES)}.")
    outcome = STATUSES[status]
    deployment_id = dig(payload, "deployment_id", int)
    changed = when(dig(payload, "status_changed_at"), "status_changed_at", required=True)
    commit_url = dig(payload, "commit_url", required=False) or ""
    full_sha = sha(commit_url.rstrip("/").rsplit("/", 1)[-1]) if commit_url else ""
    short = sha(dig(payload, "short_sha", required=False))
    return normalised(
        external_id=str(deployment_id),
        environment=text(dig(payload, "environment"), 100),
        version=short or full_sha[:8],
        outcome=outcome,
        started_at=changed if outcome == IN_PROGRESS else None,
        finished_at=changed if outcome != IN_PROGRESS else None,
        repository=text(dig(payload, "project.path_with_namespace", required=False), 300),
        commit_sha=full_sha or short,
        pipeline_url=text(
            dig(payload, "deployable_url", required=False)
            or dig(payload, "project.web_url", required=False),
            500,
        ),
        triggered_by=text(dig(payload, "user.username", required=False), 200),
        event=f"deployment {status}",
    )
