"""Service-level definitions in the isolation meta-test (opsdesk/core/tests/test_api_access.py)
and the bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_D = "/api/v1/sla-definitions/{definition_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/sla-definitions"): LIST,
    ("POST", "/api/v1/sla-definitions"): CREATE,
    ("GET", _D): OBJECT,
    ("PATCH", _D): OBJECT,
    ("DELETE", _D): OBJECT,
    ("POST", f"{_D}/preview"): OBJECT,
}


def _definition(org: Any, user: Any, name: str) -> Any:
    from opsdesk.sla.models import Definition

    found = Definition.objects.filter(organization=org, name=name).first()
    if found is not None:
        return found
    from opsdesk.sla.definition_actions import create_definition

    return create_definition(
        acting_user=user,
        organization=org,
        name=name,
        response_minutes={"1": 15, "2": 30},
        resolution_minutes={"1": 240, "2": 480, "3": 1440},
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "definition_id": lambda c: _definition(c.org_b, c.admin_b, "B's SLA").pk,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/sla-definitions"): lambda c: {
        "organization_id": c.org_b.pk,
        "name": "Intruder",
        "resolution_minutes": {"1": 60},
    },
    ("PATCH", _D): lambda c: {"name": "hijacked"},
    ("POST", f"{_D}/preview"): lambda c: {"priority": 1},
}

CREATE_IN_B: dict[tuple[str, str], int] = {("POST", "/api/v1/sla-definitions"): 404}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/sla-definitions": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    _definition(c.org_a, c.admin, "A's SLA")
    _definition(c.org_b, c.admin_b, "B's SLA")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "definition_id": lambda c: _definition(c.org_a, c.admin, "Fuzzed SLA").pk,
}
