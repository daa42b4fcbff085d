"""Maintenance and freeze windows, a change's conflicts and the change calendar in the
isolation meta-test (opsdesk/core/tests/test_api_access.py) and the bad-input meta-test
(opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``). ``change_id`` is mapped by
``api_access_changes``; this module maps ``maintenance_window_id`` and ``freeze_window_id``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

OBJECT, LIST, CREATE, REPORT = "object", "list", "create", "report"
_M = "/api/v1/maintenance-windows"
_F = "/api/v1/freeze-windows"

OPERATIONS: dict[tuple[str, str], str] = {
    **{("GET", base): LIST for base in (_M, _F)},
    **{("POST", base): CREATE for base in (_M, _F)},
    **{
        (method, item): OBJECT
        for item in (f"{_M}/{{maintenance_window_id}}", f"{_F}/{{freeze_window_id}}")
        for method in ("GET", "PATCH", "DELETE")
    },
    ("GET", "/api/v1/changes/{change_id}/conflicts"): OBJECT,
    ("GET", "/api/v1/change-calendar"): REPORT,
}


def _window(org: Any, user: Any, name: str, kind: str = "freeze") -> Any:
    from django.utils import timezone

    from opsdesk.changes.models import ChangeWindow
    from opsdesk.changes.window_actions import create_window

    found = ChangeWindow.objects.filter(organization=org, name=name, kind=kind).first()
    if found is not None:
        return found
    start = timezone.now().replace(microsecond=0) + timedelta(days=40)
    return create_window(
        acting_user=user,
        organization=org,
        kind=kind,
        name=name,
        starts_at=start,
        ends_at=start + timedelta(hours=6),
        rrule="FREQ=WEEKLY" if kind == "maintenance" else "",
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "maintenance_window_id": lambda c: (
        _window(c.org_b, c.admin_b, "B's maintenance", kind="maintenance").pk
    ),
    "freeze_window_id": lambda c: _window(c.org_b, c.admin_b, "B's freeze").pk,
}


def _window_body(c: Any) -> dict:
    from django.utils import timezone

    start = timezone.now().replace(microsecond=0) + timedelta(days=50)
    return {
        "organization_id": c.org_b.pk,
        "name": "Intruder window",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=2)).isoformat(),
    }


BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    **{("POST", base): _window_body for base in (_M, _F)},
    ("PATCH", f"{_M}/{{maintenance_window_id}}"): lambda c: {"name": "hijacked"},
    ("PATCH", f"{_F}/{{freeze_window_id}}"): lambda c: {"name": "hijacked"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {("POST", _M): 404, ("POST", _F): 404}


def _calendar_params(c: Any) -> dict:
    from django.utils import timezone

    now = timezone.now().replace(microsecond=0)
    return {
        "organization_id": c.org_b.pk,
        "from": now.isoformat(),
        "to": (now + timedelta(days=90)).isoformat(),
    }


REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/change-calendar"): _calendar_params,
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    _M: (_is_b, lambda c: {"organization_id": c.org_b.pk}),
    _F: (_is_b, lambda c: {"organization_id": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    for org, user, prefix in ((c.org_a, c.admin, "A"), (c.org_b, c.admin_b, "B")):
        _window(org, user, f"{prefix}'s freeze")
        _window(org, user, f"{prefix}'s maintenance", kind="maintenance")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "maintenance_window_id": lambda c: (
        _window(c.org_a, c.admin, "Fuzzed maintenance", kind="maintenance").pk
    ),
    "freeze_window_id": lambda c: _window(c.org_a, c.admin, "Fuzzed freeze").pk,
}
