"""Isolation tables (merged into core/tests/test_api_access.py) and real ids (merged into
core/tests/test_bad_input.py) for the incident, major-incident and configuration API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsdesk.core.testing.cast import Cast

OBJECT, CREATE, LIST, GLOBAL = "object", "create", "list", "global"

_INC = "/api/v1/incidents/{incident_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/incidents"): LIST,
    ("POST", "/api/v1/incidents"): CREATE,
    ("GET", _INC): OBJECT,
    ("PATCH", _INC): OBJECT,
    ("GET", "/api/v1/workflows/incident"): GLOBAL,
    ("GET", f"{_INC}/transitions"): OBJECT,
    **{("POST", f"{_INC}/{name}"): OBJECT for name in ("start", "close")},
    **{("POST", f"{_INC}/{name}"): OBJECT for name in ("hold", "resolve", "reopen", "cancel")},
    ("POST", f"{_INC}/assign"): OBJECT,
    ("GET", f"{_INC}/timeline"): OBJECT,
    ("POST", f"{_INC}/comments"): OBJECT,
    ("POST", f"{_INC}/attachments"): OBJECT,
    ("GET", f"{_INC}/attachments"): OBJECT,
    ("GET", "/api/v1/attachments/{attachment_id}/content"): OBJECT,
    ("POST", f"{_INC}/watchers"): OBJECT,
    ("DELETE", f"{_INC}/watchers/{{user_id}}"): OBJECT,
    ("POST", f"{_INC}/links"): OBJECT,
    ("DELETE", f"{_INC}/links"): OBJECT,
    # major incidents
    ("GET", "/api/v1/major-incidents"): LIST,
    ("POST", f"{_INC}/declare-major"): OBJECT,
    ("GET", f"{_INC}/children"): OBJECT,
    ("POST", f"{_INC}/children"): OBJECT,
    ("DELETE", f"{_INC}/children/{{child_id}}"): OBJECT,
    ("GET", f"{_INC}/communications"): OBJECT,
    ("POST", f"{_INC}/communications"): OBJECT,
    ("GET", f"{_INC}/review"): OBJECT,
    ("PUT", f"{_INC}/review"): OBJECT,
    ("POST", f"{_INC}/review/actions"): OBJECT,
    ("PATCH", "/api/v1/review-actions/{action_id}"): OBJECT,
    # configuration
    ("GET", "/api/v1/service-desk-settings/{organization_id}"): OBJECT,
    ("PATCH", "/api/v1/service-desk-settings/{organization_id}"): OBJECT,
    ("GET", "/api/v1/categories"): LIST,
    ("POST", "/api/v1/categories"): CREATE,
    ("PATCH", "/api/v1/categories/{category_id}"): OBJECT,
}


def _major_in(cast: Cast, org: Any, author: Any, tag: str) -> Any:
    """A major incident of `org` with a child, a communication, a review with an action and an
    attachment: every path parameter below points into it. Made once per test."""
    from opsdesk.servicedesk import actions, major
    from opsdesk.servicedesk.models import Incident

    title = f"{tag} major outage"
    found = Incident.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    incident = actions.create_incident(acting_user=author, organization=org, title=title)
    major.declare_major(acting_user=author, incident=incident, reason="fixture")
    child = actions.create_incident(
        acting_user=author, organization=org, title=f"{tag} child incident"
    )
    major.attach_child(acting_user=author, parent=incident, child=child)
    major.add_communication(acting_user=author, incident=incident, body="We are on it.")
    review = major.save_review(acting_user=author, incident=incident, summary="What happened")
    major.add_review_action(acting_user=author, review=review, description="Add monitoring")
    actions.add_attachment(
        acting_user=author,
        subject=incident,
        filename="log.txt",
        content=b"error at 10:00\n",
        content_type="text/plain",
    )
    return incident


def _b_major(cast: Cast) -> Any:
    return _major_in(cast, cast.org_b, cast.admin_b, "B")


def _a_major(cast: Cast) -> Any:
    return _major_in(cast, cast.org_a, cast.admin, "A")


def _child_of(incident: Any) -> int:
    return incident.children.get().pk


def _attachment_of(incident: Any) -> int:
    from opsdesk.servicedesk.models import Attachment

    return (
        Attachment.objects.filter(subject_type="incident", subject_id=incident.pk).latest("pk").pk
    )


def _action_of(incident: Any) -> int:
    from opsdesk.servicedesk.models import ReviewAction

    return ReviewAction.objects.filter(review__incident=incident).latest("pk").pk


def _category_in(org: Any, name: str) -> int:
    from opsdesk.servicedesk.models import Category

    found = Category.objects.filter(organization=org, name=name, parent=None).first()
    return (found or Category.objects.create(organization=org, name=name)).pk


PATH_PARAMETERS: dict[str, Callable[[Cast], int]] = {
    "incident_id": lambda c: _b_major(c).pk,
    "child_id": lambda c: _child_of(_b_major(c)),
    "attachment_id": lambda c: _attachment_of(_b_major(c)),
    "action_id": lambda c: _action_of(_b_major(c)),
    "category_id": lambda c: _category_in(c.org_b, "B hardware"),
}

BODIES: dict[tuple[str, str], Callable[[Cast], dict]] = {
    ("POST", "/api/v1/incidents"): lambda c: {"organization_id": c.org_b.pk, "title": "Intruder"},
    ("PATCH", _INC): lambda c: {"title": "hijacked"},
    ("POST", f"{_INC}/hold"): lambda c: {"hold_reason": "awaiting_vendor"},
    ("POST", f"{_INC}/resolve"): lambda c: {
        "resolution_code": "solved_permanently",
        "resolution_notes": "hijacked",
    },
    ("POST", f"{_INC}/reopen"): lambda c: {"reason": "hijacked"},
    ("POST", f"{_INC}/cancel"): lambda c: {"reason": "hijacked"},
    ("POST", f"{_INC}/assign"): lambda c: {"assignment_group_id": c.team_b.pk},
    ("POST", f"{_INC}/comments"): lambda c: {"body": "hijacked", "public": True},
    # A multipart upload: the JSON body reaches no further than the incident lookup (404).
    ("POST", f"{_INC}/attachments"): lambda c: {},
    ("POST", f"{_INC}/watchers"): lambda c: {"user_id": c.agent_b.pk},
    ("POST", f"{_INC}/links"): lambda c: {"problem_id": 1},
    ("POST", f"{_INC}/declare-major"): lambda c: {"reason": "hijacked"},
    ("POST", f"{_INC}/children"): lambda c: {"child_id": _child_of(_b_major(c))},
    ("POST", f"{_INC}/communications"): lambda c: {"body": "hijacked"},
    ("PUT", f"{_INC}/review"): lambda c: {"summary": "hijacked"},
    ("POST", f"{_INC}/review/actions"): lambda c: {"description": "hijacked"},
    ("PATCH", "/api/v1/review-actions/{action_id}"): lambda c: {"state": "done"},
    ("PATCH", "/api/v1/service-desk-settings/{organization_id}"): lambda c: {"auto_close_days": 1},
    ("POST", "/api/v1/categories"): lambda c: {"organization_id": c.org_b.pk, "name": "Intruder"},
    ("PATCH", "/api/v1/categories/{category_id}"): lambda c: {"name": "hijacked"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/incidents"): 404,
    ("POST", "/api/v1/categories"): 404,
}


def _is_b(c: Cast, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Cast], dict]]] = {
    "/api/v1/incidents": (_is_b, lambda c: {"organization": c.org_b.pk}),
    "/api/v1/major-incidents": (_is_b, lambda c: {"organization": c.org_b.pk}),
    "/api/v1/categories": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _rows(cast: Cast) -> None:
    """A major incident (with its child) raised by A's requester in A, one in B, and a
    category in each: every role of A sees something in each list."""
    from opsdesk.servicedesk import actions

    _b_major(cast)
    _a_major(cast)
    actions.create_incident(acting_user=cast.requester, organization=cast.org_a, title="Mine")
    for org in (cast.org_a, cast.org_b):
        _category_in(org, f"{org.slug} software")


LIST_DATA: list[Callable[[Cast], None]] = [_rows]


# --- test_bad_input: real ids of A so generated bodies reach the actions -----------------------

REAL_IDS: dict[str, Callable[[Cast], int]] = {
    "incident_id": lambda c: _a_major(c).pk,
    "child_id": lambda c: _child_of(_a_major(c)),
    "attachment_id": lambda c: _attachment_of(_a_major(c)),
    "action_id": lambda c: _action_of(_a_major(c)),
    "category_id": lambda c: _category_in(c.org_a, "A hardware"),
}
