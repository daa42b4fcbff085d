"""Alert groups, alerts and the event metrics in the isolation meta-test
(opsdesk/core/tests/test_api_access.py) and the bad-input meta-test
(opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST, REPORT = "object", "list", "report"
_G = "/api/v1/alert-groups"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", _G): LIST,
    ("GET", f"{_G}/{{group_id}}"): OBJECT,
    ("POST", f"{_G}/{{group_id}}/merge"): OBJECT,
    ("POST", f"{_G}/{{group_id}}/split"): OBJECT,
    ("POST", f"{_G}/{{group_id}}/resolve"): OBJECT,
    ("GET", "/api/v1/alerts"): LIST,
    ("GET", "/api/v1/event-metrics"): REPORT,
}


def _group(org: Any, title: str, alerts: int = 2) -> Any:
    """An open group of `org` with `alerts` alerts (made once per title)."""
    from opsdesk.events.models import AlertGroup
    from opsdesk.events.tests.group_helpers import group

    found = AlertGroup.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    return group(
        org,
        *({"title": f"{title}: alert {n}", "severity": "major"} for n in range(alerts)),
        title=title,
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "group_id": lambda c: _group(c.org_b, "B's outage").pk,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", f"{_G}/{{group_id}}/merge"): lambda c: {
        "group_ids": [_group(c.org_b, "B's other outage").pk],
        "note": "same fault",
    },
    ("POST", f"{_G}/{{group_id}}/split"): lambda c: {
        "alert_ids": [_group(c.org_b, "B's outage").alerts.order_by("id").first().pk],
    },
    ("POST", f"{_G}/{{group_id}}/resolve"): lambda c: {"note": "hijacked"},
}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/event-metrics"): lambda c: {"organization_id": c.org_b.pk},
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    _G: (_is_b, lambda c: {"organization_id": c.org_b.pk}),
    "/api/v1/alerts": (_is_b, lambda c: {"organization_id": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    _group(c.org_a, "A's outage")
    _group(c.org_b, "B's outage")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "group_id": lambda c: _group(c.org_a, "Fuzzed outage", alerts=3).pk,
}
