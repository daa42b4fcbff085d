"""Service-level clocks in the isolation meta-test (opsdesk/core/tests/test_api_access.py)
and the bad-input meta-test (opsdesk/core/tests/test_bad_input.py).

``incident_id`` is mapped by the service desk's own contribution
(opsdesk/servicedesk/tests/api_access.py), which owns the incident operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST = "object", "list"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/incidents/{incident_id}/sla"): OBJECT,
    ("GET", "/api/v1/sla/clocks"): LIST,
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/sla/clocks": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _clocks_in(org: Any, user: Any) -> None:
    """A 24x7 SLA and one incident under it, its clocks computed."""
    from opsdesk.servicedesk.actions import create_incident
    from opsdesk.servicedesk.models import Incident
    from opsdesk.sla.clocks import recompute_incidents
    from opsdesk.sla.models import Definition

    Definition.objects.get_or_create(
        organization=org,
        name="Meta-test SLA",
        defaults={
            "response_minutes": {str(p): 60 for p in range(1, 6)},
            "resolution_minutes": {str(p): 480 for p in range(1, 6)},
        },
    )
    incident = Incident.objects.filter(organization=org, title="Meta-test SLA incident").first()
    if incident is None:
        incident = create_incident(
            acting_user=user, organization=org, title="Meta-test SLA incident", impact=3, urgency=3
        )
    recompute_incidents([incident])


def _rows(c: Any) -> None:
    _clocks_in(c.org_a, c.admin)
    _clocks_in(c.org_b, c.admin_b)


LIST_DATA: list[Callable[[Any], None]] = [_rows]
