"""Vendors in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and the
bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_V = "/api/v1/vendors/{vendor_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/vendors"): LIST,
    ("POST", "/api/v1/vendors"): CREATE,
    ("GET", _V): OBJECT,
    ("PATCH", _V): OBJECT,
    ("DELETE", _V): OBJECT,
}


def _vendor(org: Any, user: Any, name: str) -> Any:
    from opsdesk.vendors.models import Vendor

    found = Vendor.objects.filter(organization=org, name=name).first()
    if found is not None:
        return found
    from opsdesk.vendors.actions import create_vendor

    return create_vendor(acting_user=user, organization=org, name=name, country="ZA")


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "vendor_id": lambda c: _vendor(c.org_b, c.admin_b, "B's ISP").pk,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/vendors"): lambda c: {"organization_id": c.org_b.pk, "name": "Intruder"},
    ("PATCH", _V): lambda c: {"name": "hijacked"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {("POST", "/api/v1/vendors"): 404}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/vendors": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    _vendor(c.org_a, c.admin, "A's ISP")
    _vendor(c.org_b, c.admin_b, "B's ISP")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "vendor_id": lambda c: _vendor(c.org_a, c.admin, "Fuzzed vendor").pk,
}
