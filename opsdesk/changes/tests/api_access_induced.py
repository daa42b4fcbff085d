"""The part "after the change" (reviews, change-induced incidents, metrics) in the isolation
meta-test (opsdesk/core/tests/test_api_access.py) and the bad-input meta-test
(opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``).

``change_id`` is mapped by api_access_changes.py and ``incident_id`` by the service desk's;
this module owns ``link_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, REPORT = "object", "report"
_C = "/api/v1/changes/{change_id}"
_L = "/api/v1/induced-links/{link_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", f"{_C}/review"): OBJECT,
    ("POST", f"{_C}/review"): OBJECT,
    ("PATCH", f"{_C}/review"): OBJECT,
    ("POST", f"{_C}/review/complete"): OBJECT,
    ("GET", f"{_C}/induced"): OBJECT,
    ("POST", f"{_C}/induced"): OBJECT,
    ("GET", "/api/v1/incidents/{incident_id}/induced"): OBJECT,
    ("POST", f"{_L}/confirm"): OBJECT,
    ("POST", f"{_L}/dismiss"): OBJECT,
    ("GET", "/api/v1/change-metrics"): REPORT,
}


def _link(org: Any, user: Any, title: str) -> Any:
    """A suggested link between an incident and a change of `org` (made once)."""
    from opsdesk.changes.models import InducedLink

    found = InducedLink.objects.filter(organization=org, incident__title=title).first()
    if found is not None:
        return found
    from opsdesk.changes.actions import create_change
    from opsdesk.servicedesk.actions import create_incident

    change = create_change(acting_user=user, organization=org, title=f"Cause of {title}")
    incident = create_incident(acting_user=user, organization=org, title=title)
    return InducedLink.objects.create(
        organization=org, incident=incident, change=change, reason="Fixture", score=0.5
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "link_id": lambda c: _link(c.org_b, c.admin_b, "B's induced incident").pk,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("PATCH", f"{_C}/review"): lambda c: {"summary": "hijacked"},
    ("POST", f"{_C}/induced"): lambda c: {
        "incident_id": _link(c.org_b, c.admin_b, "B's induced incident").incident_id
    },
    ("POST", f"{_L}/dismiss"): lambda c: {"reason": "hijacked"},
}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/change-metrics"): lambda c: {"organization_id": c.org_b.pk},
}

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "link_id": lambda c: _link(c.org_a, c.admin, "A's induced incident").pk,
}

#: B's change has no review: the superuser's 404 must say that, not "no change matches".
SUB_RESOURCE_ABSENT: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/changes/{change_id}/review"): "has no post-implementation review",
}
