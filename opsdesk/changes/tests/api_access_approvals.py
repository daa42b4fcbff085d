"""Approval policies, approvals and CAB meetings in the isolation meta-test
(opsdesk/core/tests/test_api_access.py) and the bad-input meta-test
(opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``). ``change_id`` is mapped by
``api_access_changes``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_P = "/api/v1/approval-policies/{policy_id}"
_A = "/api/v1/change-approvals/{change_approval_id}"
_M = "/api/v1/cab-meetings/{meeting_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/approval-policies"): LIST,
    ("POST", "/api/v1/approval-policies"): CREATE,
    ("GET", _P): OBJECT,
    ("PATCH", _P): OBJECT,
    ("GET", "/api/v1/change-approvals"): LIST,
    ("GET", _A): OBJECT,
    ("POST", f"{_A}/approve"): OBJECT,
    ("POST", f"{_A}/reject"): OBJECT,
    ("GET", "/api/v1/changes/{change_id}/approvals"): OBJECT,
    ("GET", "/api/v1/cab-meetings"): LIST,
    ("POST", "/api/v1/cab-meetings"): CREATE,
    ("GET", _M): OBJECT,
    ("PATCH", _M): OBJECT,
    ("POST", f"{_M}/agenda"): OBJECT,
    ("POST", f"{_M}/items/{{agenda_item_id}}/decision"): OBJECT,
    ("POST", f"{_M}/start"): OBJECT,
    ("POST", f"{_M}/complete"): OBJECT,
    ("POST", f"{_M}/cancel"): OBJECT,
}


def _people(c: Any, org: Any) -> tuple[Any, Any]:
    """(who raises changes, who approves them) in `org`."""
    return (c.agent, c.manager) if org == c.org_a else (c.agent_b, c.admin_b)


def _policy(c: Any, org: Any, name: str) -> Any:
    from opsdesk.changes.models import ApprovalPolicy

    found = ApprovalPolicy.objects.filter(organization=org, name=name).first()
    if found is not None:
        return found
    from opsdesk.changes.approval_policies import create_policy

    # Retired: it documents a policy without changing how other tests' changes are approved.
    return create_policy(
        acting_user=c.manager if org == c.org_a else c.admin_b,
        organization=org,
        name=name,
        steps=[{"approver_kind": "cab"}],
        is_active=False,
    )


def _awaiting(c: Any, org: Any, title: str) -> Any:
    """A change of `org` awaiting its change manager's approval."""
    from opsdesk.changes.models import Change

    found = Change.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    from django.utils import timezone

    from opsdesk.changes.actions import create_change, transition_change

    raiser, approver = _people(c, org)
    start = timezone.now().replace(microsecond=0, second=0, minute=0) + timedelta(days=40)
    change = create_change(
        acting_user=raiser,
        organization=org,
        title=title,
        implementation_plan="Upgrade.",
        backout_plan="Restore.",
        planned_start=start,
        planned_end=start + timedelta(hours=1),
        change_manager=approver,
    )
    transition_change(acting_user=raiser, change=change, name="assess")
    transition_change(acting_user=raiser, change=change, name="request_authorisation")
    return change


def _approval(c: Any, org: Any, title: str) -> int:
    from opsdesk.changes.models import Approval

    return Approval.objects.filter(change=_awaiting(c, org, title)).order_by("pk").first().pk


def _meeting(c: Any, org: Any, title: str) -> Any:
    from opsdesk.changes.models import CabMeeting

    found = CabMeeting.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    from django.utils import timezone

    from opsdesk.changes.cab import build_agenda, create_meeting

    raiser, approver = _people(c, org)
    _awaiting(c, org, f"{title}: on the agenda")
    start = timezone.now().replace(microsecond=0, second=0, minute=0) + timedelta(days=2)
    meeting = create_meeting(
        acting_user=approver,
        organization=org,
        title=title,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        members=[raiser],
    )
    build_agenda(acting_user=approver, meeting=meeting, include_authorise=True)
    return meeting


def _item(c: Any, org: Any, title: str) -> int:
    return _meeting(c, org, title).items.order_by("pk").first().pk


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "policy_id": lambda c: _policy(c, c.org_b, "B's policy").pk,
    "change_approval_id": lambda c: _approval(c, c.org_b, "B's awaiting change"),
    "meeting_id": lambda c: _meeting(c, c.org_b, "B's CAB").pk,
    "agenda_item_id": lambda c: _item(c, c.org_b, "B's CAB"),
}


def _meeting_body(c: Any) -> dict:
    return {
        "organization_id": c.org_b.pk,
        "title": "Intruders' CAB",
        "starts_at": "2030-01-07T10:00:00Z",
        "ends_at": "2030-01-07T11:00:00Z",
    }


BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/approval-policies"): lambda c: {
        "organization_id": c.org_b.pk,
        "name": "Intruder",
        "steps": [{"approver_kind": "cab"}],
    },
    ("PATCH", _P): lambda c: {"name": "hijacked"},
    ("POST", f"{_A}/approve"): lambda c: {"comment": "hijacked"},
    ("POST", f"{_A}/reject"): lambda c: {"comment": "hijacked"},
    ("POST", "/api/v1/cab-meetings"): _meeting_body,
    ("PATCH", _M): lambda c: {"title": "hijacked"},
    ("POST", f"{_M}/items/{{agenda_item_id}}/decision"): lambda c: {"decision": "approved"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/approval-policies"): 404,
    ("POST", "/api/v1/cab-meetings"): 404,
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    path: (_is_b, lambda c: {"organization": c.org_b.pk})
    for path in ("/api/v1/approval-policies", "/api/v1/change-approvals", "/api/v1/cab-meetings")
}


def _rows(c: Any) -> None:
    for org, who in ((c.org_a, "A"), (c.org_b, "B")):
        _policy(c, org, f"{who}'s policy")
        _approval(c, org, f"{who}'s awaiting change")
        _meeting(c, org, f"{who}'s CAB")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "policy_id": lambda c: _policy(c, c.org_a, "Fuzzed policy").pk,
    "change_approval_id": lambda c: _approval(c, c.org_a, "Fuzzed awaiting change"),
    "meeting_id": lambda c: _meeting(c, c.org_a, "Fuzzed CAB").pk,
    "agenda_item_id": lambda c: _item(c, c.org_a, "Fuzzed CAB"),
}
