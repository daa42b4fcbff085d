"""The catalogue's and requests' part of the API isolation meta-tests
(see opsdesk/core/tests/test_api_access.py and test_bad_input.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LIST = "list"
OBJECT = "object"
CREATE = "create"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/catalog/items"): LIST,
    ("POST", "/api/v1/catalog/items"): CREATE,
    ("GET", "/api/v1/catalog/items/{item_id}"): OBJECT,
    ("PATCH", "/api/v1/catalog/items/{item_id}"): OBJECT,
    ("GET", "/api/v1/requests"): LIST,
    ("POST", "/api/v1/requests"): CREATE,
    ("GET", "/api/v1/requests/{request_id}"): OBJECT,
    ("POST", "/api/v1/requests/{request_id}/cancel"): OBJECT,
    ("GET", "/api/v1/requests/{request_id}/items"): OBJECT,
    ("POST", "/api/v1/requests/{request_id}/comments"): OBJECT,
    ("GET", "/api/v1/approvals"): LIST,
    ("POST", "/api/v1/approvals/{approval_id}/approve"): OBJECT,
    ("POST", "/api/v1/approvals/{approval_id}/reject"): OBJECT,
    ("GET", "/api/v1/tasks"): LIST,
    ("POST", "/api/v1/tasks/{task_id}/assign"): OBJECT,
    ("POST", "/api/v1/tasks/{task_id}/start"): OBJECT,
    ("POST", "/api/v1/tasks/{task_id}/complete"): OBJECT,
    ("POST", "/api/v1/tasks/{task_id}/cancel"): OBJECT,
}


def _item(org: Any, name: str, **fields: Any) -> Any:
    from opsdesk.catalog.models import CatalogItem
    from opsdesk.catalog.tests.factories import catalog_item

    found = CatalogItem.objects.filter(organization=org, name=name).first()
    return found or catalog_item(org, name, form=[], **fields)


def _request(org: Any, requester: Any, approver: Any, team: Any, tag: str = "") -> Any:
    """A request of `org` by `requester` waiting for `approver`, made once per (org, tag)."""
    from opsdesk.catalog import actions
    from opsdesk.catalog.models import ServiceRequest

    item = _item(
        org,
        f"Access{tag}",
        approval_steps=[{"kind": "users", "user_ids": [approver.pk]}],
        tasks=[{"title": "Grant access", "team_id": team.pk}],
    )
    found = ServiceRequest.objects.filter(organization=org, title=item.name).first()
    if found is not None:
        return found
    return actions.submit_request(
        acting_user=requester,
        organization=org,
        items=[{"catalog_item": item, "answers": {}}],
    )


def _task(org: Any, requester: Any, team: Any, tag: str = "") -> Any:
    """An open fulfilment task of `org` (an item without approval), made once per (org, tag)."""
    from opsdesk.catalog import actions
    from opsdesk.catalog.models import FulfilmentTask

    item = _item(org, f"Mailbox{tag}", tasks=[{"title": "Create mailbox", "team_id": team.pk}])
    found = FulfilmentTask.objects.filter(organization=org, item__catalog_item=item).first()
    if found is not None:
        return found
    actions.submit_request(
        acting_user=requester, organization=org, items=[{"catalog_item": item, "answers": {}}]
    )
    return FulfilmentTask.objects.filter(organization=org, item__catalog_item=item).get()


def _b_request(cast: Any) -> int:
    return _request(cast.org_b, cast.admin_b, cast.admin_b, cast.team_b).pk


def _b_approval(cast: Any) -> int:
    from opsdesk.catalog.models import Approval

    return Approval.objects.filter(request_id=_b_request(cast)).first().pk


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "item_id": lambda c: _item(c.org_b, "B item").pk,
    "request_id": _b_request,
    "approval_id": _b_approval,
    "task_id": lambda c: _task(c.org_b, c.admin_b, c.team_b).pk,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/catalog/items"): lambda c: {"organization_id": c.org_b.pk, "name": "Evil"},
    ("PATCH", "/api/v1/catalog/items/{item_id}"): lambda c: {"description": "hijacked"},
    ("POST", "/api/v1/requests"): lambda c: {
        "organization_id": c.org_b.pk,
        "items": [{"catalog_item_id": _item(c.org_b, "B item").pk, "answers": {}}],
    },
    ("POST", "/api/v1/requests/{request_id}/cancel"): lambda c: {"reason": "hijacked"},
    ("POST", "/api/v1/requests/{request_id}/comments"): lambda c: {"body": "hijacked"},
    ("POST", "/api/v1/approvals/{approval_id}/approve"): lambda c: {"comment": "ok"},
    ("POST", "/api/v1/approvals/{approval_id}/reject"): lambda c: {"comment": "no"},
    ("POST", "/api/v1/tasks/{task_id}/assign"): lambda c: {"assignee_id": None},
    ("POST", "/api/v1/tasks/{task_id}/complete"): lambda c: {"notes": "done"},
    ("POST", "/api/v1/tasks/{task_id}/cancel"): lambda c: {"reason": "hijacked"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/catalog/items"): 404,
    ("POST", "/api/v1/requests"): 404,
}


def _of_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


def _b_filter(c: Any) -> dict:
    return {"organization": c.org_b.pk}


LISTS: dict[str, tuple[Callable, Callable]] = {
    path: (_of_b, _b_filter)
    for path in ("/api/v1/catalog/items", "/api/v1/requests", "/api/v1/approvals", "/api/v1/tasks")
}


def _rows(cast: Any) -> None:
    """A request waiting for each admin's approval, and an open task, in A and in B."""
    _request(cast.org_a, cast.requester, cast.admin, cast.team_a, " (list)")
    _request(cast.org_b, cast.admin_b, cast.admin_b, cast.team_b, " (list)")
    _task(cast.org_a, cast.requester, cast.team_a, " (list)")
    _task(cast.org_b, cast.admin_b, cast.team_b, " (list)")


LIST_DATA: list[Callable[[Any], None]] = [_rows]


# --- test_bad_input: real objects of A --------------------------------------------------------


def _a_approval(cast: Any) -> int:
    from opsdesk.catalog.models import Approval

    request = _request(cast.org_a, cast.admin, cast.admin, cast.team_a, " (fuzz)")
    return Approval.objects.filter(request_id=request.pk).first().pk


REAL_IDS: dict[str, Callable[[Any], int]] = {
    "item_id": lambda c: _item(c.org_a, "Fuzzed item").pk,
    "request_id": lambda c: _request(c.org_a, c.admin, c.admin, c.team_a, " (fuzz)").pk,
    "approval_id": _a_approval,
    "task_id": lambda c: _task(c.org_a, c.admin, c.team_a, " (fuzz)").pk,
}
