"""Azure DevOps service hooks (Web Hooks consumer): release deployments
(``ms.vss-release.deployment-started-event``, ``ms.vss-release.deployment-completed-event``)
and builds (``build.complete``, for pipelines that deploy from the build). Other event types
are ignored with a note.

Shape: Microsoft's "Service hooks events" reference (sample payloads, resource version
3.0-preview.1 for releases, 1.0 for builds).
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

STARTED = "ms.vss-release.deployment-started-event"
COMPLETED = "ms.vss-release.deployment-completed-event"
BUILD = "build.complete"

#: Release environment status -> (outcome, partial).
ENVIRONMENT_STATUSES = {
    "notstarted": (IN_PROGRESS, False),
    "queued": (IN_PROGRESS, False),
    "scheduled": (IN_PROGRESS, False),
    "inprogress": (IN_PROGRESS, False),
    "succeeded": (SUCCESS, False),
    "partiallysucceeded": (SUCCESS, True),
    "rejected": (FAILURE, False),
    "failed": (FAILURE, False),
    "canceled": (CANCELLED, False),
}
#: Build result (or the old ``status`` field) -> (outcome, partial).
BUILD_RESULTS = {
    "succeeded": (SUCCESS, False),
    "partiallysucceeded": (SUCCESS, True),
    "failed": (FAILURE, False),
    "canceled": (CANCELLED, False),
    "stopped": (CANCELLED, False),
}


def parse(payload: Mapping[str, Any], headers: Mapping[str, str]) -> dict[str, Any] | Ignored:
    event = dig(payload, "eventType")
    if event in (STARTED, COMPLETED):
        return _release(payload, event)
    if event == BUILD:
        return _build(payload)
    return Ignored(f"Azure DevOps {event} events are not deployments: ignored.")


def _release(payload: Mapping[str, Any], event: str) -> dict[str, Any]:
    env = dig(payload, "resource.environment", dict)
    env_id = dig(payload, "resource.environment.id", int)
    release_id = dig(payload, "resource.environment.release.id", int)
    at = when(dig(payload, "createdDate"), "createdDate", required=True)
    if event == STARTED:
        outcome, partial = IN_PROGRESS, False
    else:
        status = str(dig(payload, "resource.environment.status")).lower()
        if status not in ENVIRONMENT_STATUSES:
            raise PayloadError(
                "resource.environment.status",
                f"Unknown status {status!r}; one of {', '.join(ENVIRONMENT_STATUSES)}.",
            )
        outcome, partial = ENVIRONMENT_STATUSES[status]
    release = env.get("release") or {}
    links = release.get("_links") or {}
    url = (links.get("web") or {}).get("href") or release.get("url") or ""
    return normalised(
        external_id=f"release:{release_id}:environment:{env_id}",
        environment=text(dig(payload, "resource.environment.name"), 100),
        version=text(release.get("name"), 200),
        outcome=outcome,
        partial=partial,
        started_at=at if outcome == IN_PROGRESS else None,
        finished_at=at if outcome != IN_PROGRESS else None,
        repository=text(dig(payload, "resource.project.name", required=False), 300),
        pipeline_url=text(url, 500),
        triggered_by=text(
            dig(payload, "resource.environment.owner.displayName", required=False), 200
        ),
        event=event,
    )


def _build(payload: Mapping[str, Any]) -> dict[str, Any]:
    build_id = dig(payload, "resource.id", int)
    result = dig(payload, "resource.result", required=False) or dig(payload, "resource.status")
    key = str(result).lower()
    if key not in BUILD_RESULTS:
        raise PayloadError(
            "resource.result", f"Unknown result {result!r}; one of {', '.join(BUILD_RESULTS)}."
        )
    outcome, partial = BUILD_RESULTS[key]
    source = dig(payload, "resource.sourceVersion", required=False) or ""
    if not source:
        source = (dig(payload, "resource.sourceGetVersion", required=False) or "").rsplit(":", 1)[
            -1
        ]
    requests = dig(payload, "resource.requests", list, required=False) or []
    requested_for = (
        requests[0].get("requestedFor", {}) if requests and isinstance(requests[0], dict) else {}
    )
    return normalised(
        external_id=f"build:{build_id}",
        version=text(dig(payload, "resource.buildNumber", required=False), 200),
        outcome=outcome,
        partial=partial,
        started_at=when(dig(payload, "resource.startTime", required=False), "resource.startTime"),
        finished_at=when(
            dig(payload, "resource.finishTime", required=False), "resource.finishTime"
        ),
        repository=text(
            dig(payload, "resource.repository.name", required=False)
            or dig(payload, "resource.definition.name", required=False),
            300,
        ),
        commit_sha=sha(source),
        pipeline_url=text(dig(payload, "resource.url", required=False), 500),
        triggered_by=text(
            (requested_for or {}).get("displayName")
            or dig(payload, "resource.lastChangedBy.displayName", required=False),
            200,
        ),
        event=BUILD,
    )
