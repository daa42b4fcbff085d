"""Changes and change templates in the isolation meta-test
(opsdesk/core/tests/test_api_access.py) and the bad-input meta-test
(opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``).

This module owns the path parameters ``change_id`` and ``template_id``: the other parts of
change enablement (risk, approvals, windows, ...) reuse them for their operations under
``/changes/{change_id}/...`` without mapping them again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

OBJECT, LIST, CREATE, GLOBAL = "object", "list", "create", "global"
_C = "/api/v1/changes/{change_id}"
_T = "/api/v1/change-templates/{template_id}"
TRANSITIONS = (
    "assess",
    "request_authorisation",
    "authorise",
    "reject",
    "revise",
    "schedule",
    "implement",
    "complete",
    "close",
    "cancel",
)

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/changes"): LIST,
    ("POST", "/api/v1/changes"): CREATE,
    ("GET", _C): OBJECT,
    ("PATCH", _C): OBJECT,
    ("PUT", f"{_C}/cis"): OBJECT,
    **{("POST", f"{_C}/{t}"): OBJECT for t in TRANSITIONS},
    ("GET", f"{_C}/timeline"): OBJECT,
    ("POST", f"{_C}/notes"): OBJECT,
    ("GET", "/api/v1/change-workflows"): GLOBAL,
    ("GET", "/api/v1/change-templates"): LIST,
    ("POST", "/api/v1/change-templates"): CREATE,
    ("GET", _T): OBJECT,
    ("PATCH", _T): OBJECT,
}


def _change(org: Any, user: Any, title: str) -> Any:
    from opsdesk.changes.models import Change

    found = Change.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    from django.utils import timezone

    from opsdesk.changes.actions import create_change

    start = timezone.now().replace(microsecond=0) + timedelta(days=30)
    return create_change(
        acting_user=user,
        organization=org,
        title=title,
        implementation_plan="Upgrade.",
        backout_plan="Restore.",
        planned_start=start,
        planned_end=start + timedelta(hours=1),
    )


def _template(org: Any, user: Any, name: str) -> Any:
    from opsdesk.changes.models import ChangeTemplate

    found = ChangeTemplate.objects.filter(organization=org, name=name).first()
    if found is not None:
        return found
    from opsdesk.changes.template_actions import create_template

    return create_template(
        acting_user=user,
        organization=org,
        name=name,
        implementation_plan="Patch and reboot.",
        backout_plan="Restore the snapshot.",
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "change_id": lambda c: _change(c.org_b, c.admin_b, "B's change").pk,
    "template_id": lambda c: _template(c.org_b, c.admin_b, "B's template").pk,
}

_REASON = {"reason": "hijacked"}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/changes"): lambda c: {"organization_id": c.org_b.pk, "title": "Intruder"},
    ("PATCH", _C): lambda c: {"title": "hijacked"},
    ("PUT", f"{_C}/cis"): lambda c: {"ci_ids": []},
    ("POST", f"{_C}/request_authorisation"): lambda c: {},
    ("POST", f"{_C}/authorise"): lambda c: {},
    ("POST", f"{_C}/reject"): lambda c: _REASON,
    ("POST", f"{_C}/revise"): lambda c: _REASON,
    ("POST", f"{_C}/schedule"): lambda c: {},
    ("POST", f"{_C}/implement"): lambda c: {},
    ("POST", f"{_C}/complete"): lambda c: {"close_code": "successful"},
    ("POST", f"{_C}/close"): lambda c: {"close_notes": "hijacked"},
    ("POST", f"{_C}/cancel"): lambda c: _REASON,
    ("POST", f"{_C}/notes"): lambda c: {"body": "hijacked"},
    ("POST", "/api/v1/change-templates"): lambda c: {
        "organization_id": c.org_b.pk,
        "name": "Intruder",
    },
    ("PATCH", _T): lambda c: {"name": "hijacked", "is_active": False},
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/changes"): 404,
    ("POST", "/api/v1/change-templates"): 404,
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/changes": (_is_b, lambda c: {"organization_id": c.org_b.pk}),
    "/api/v1/change-templates": (_is_b, lambda c: {"organization_id": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    """A change and a template in A and in B, for the list checks."""
    _change(c.org_a, c.admin, "A's change")
    _change(c.org_b, c.admin_b, "B's change")
    _template(c.org_a, c.admin, "A's template")
    _template(c.org_b, c.admin_b, "B's template")


LIST_DATA: list[Callable[[Any], None]] = [_rows]


def _a_change(c: Any) -> int:
    from opsdesk.changes.actions import transition_change

    # A normal change in assessment, so that generated transitions reach the workflow.
    change = _change(c.org_a, c.admin, "Fuzzed change")
    if change.state == "new":
        transition_change(acting_user=c.admin, change=change, name="assess")
    return change.pk


REAL_IDS: dict[str, Callable[[Any], int]] = {
    "change_id": _a_change,
    "template_id": lambda c: _template(c.org_a, c.admin, "Fuzzed template").pk,
}
