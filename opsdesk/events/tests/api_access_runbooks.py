"""Runbooks and their runs in the isolation meta-test (opsdesk/core/tests/test_api_access.py)
and the bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_R = "/api/v1/runbooks"
_RUNS = "/api/v1/runbook-runs"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", _R): LIST,
    ("POST", _R): CREATE,
    **{(m, f"{_R}/{{runbook_id}}"): OBJECT for m in ("GET", "PATCH", "DELETE")},
    ("GET", _RUNS): LIST,
    ("GET", f"{_RUNS}/{{runbook_run_id}}"): OBJECT,
    ("POST", f"{_RUNS}/{{runbook_run_id}}/approve"): OBJECT,
    ("POST", f"{_RUNS}/{{runbook_run_id}}/reject"): OBJECT,
}


def _runbook(org: Any, user: Any, name: str, **fields: Any) -> Any:
    from opsdesk.events.models import Runbook
    from opsdesk.events.runbooks import create_runbook

    found = Runbook.objects.filter(organization=org, name=name).first()
    if found is not None:
        return found
    fields.setdefault("requires_approval", True)
    return create_runbook(
        acting_user=user,
        organization=org,
        name=name,
        action_kind="http",
        action={"url": "http://127.0.0.1:9/hook", "body": {"ci": "{ci}"}},
        conditions={"title_contains": "disk" if "disk" in name else "memory"},
        dry_run=False,
        **fields,
    )


def _run(org: Any, user: Any, prefix: str) -> Any:
    """A run of `org` awaiting approval (made once)."""
    from django.utils import timezone

    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.cmdb.tests.factories import ci
    from opsdesk.events.models import Alert, AlertGroup, RunbookRun
    from opsdesk.events.runbooks import consider

    book = _runbook(org, user, f"{prefix} heal disk")
    found = RunbookRun.objects.filter(runbook=book).first()
    if found is not None:
        return found
    now = timezone.now()
    server = ConfigurationItem.objects.filter(organization=org, name=f"{prefix}-disk-srv").first()
    server = server or ci(org, f"{prefix}-disk-srv", "server")
    group = AlertGroup.objects.create(
        organization=org, title="Disk full", severity="major", onset_at=now, last_event_at=now
    )
    Alert.objects.create(
        organization=org,
        source="generic",
        fingerprint=f"runbook-access-{prefix}",
        status="firing",
        severity="major",
        title="Disk full",
        starts_at=now,
        first_seen=now,
        last_seen=now,
        ci=server,
        group=group,
    )
    return next(r for r in consider(group) if r.runbook_id == book.pk)


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "runbook_id": lambda c: _runbook(c.org_b, c.admin_b, "B's runbook").pk,
    "runbook_run_id": lambda c: _run(c.org_b, c.admin_b, "B").pk,
}


def _body(c: Any) -> dict:
    return {
        "organization_id": c.org_b.pk,
        "name": "Intruder runbook",
        "conditions": {"title_contains": "disk"},
        "action_kind": "http",
        "action": {"url": "https://awx.example/api/v2/job_templates/1/launch/"},
    }


BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", _R): _body,
    ("PATCH", f"{_R}/{{runbook_id}}"): lambda c: {"name": "hijacked", "dry_run": False},
    ("POST", f"{_RUNS}/{{runbook_run_id}}/approve"): lambda c: {"note": "sure"},
    ("POST", f"{_RUNS}/{{runbook_run_id}}/reject"): lambda c: {"note": "no"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {("POST", _R): 404}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    _R: (_is_b, lambda c: {"organization_id": c.org_b.pk}),
    _RUNS: (_is_b, lambda c: {"organization_id": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    for org, user, prefix in ((c.org_a, c.admin, "A"), (c.org_b, c.admin_b, "B")):
        _run(org, user, prefix)


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "runbook_id": lambda c: _runbook(c.org_a, c.admin, "Fuzzed runbook").pk,
    "runbook_run_id": lambda c: _run(c.org_a, c.admin, "A").pk,
}
