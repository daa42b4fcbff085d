"""Silences in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and the
bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_S = "/api/v1/silences"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", _S): LIST,
    ("POST", _S): CREATE,
    ("GET", f"{_S}/{{silence_id}}"): OBJECT,
    ("POST", f"{_S}/{{silence_id}}/expire"): OBJECT,
}


def _silence(org: Any, user: Any, comment: str) -> Any:
    """The silence with this comment in `org`, made once (active for a day)."""
    from django.utils import timezone

    from opsdesk.events.models import Silence
    from opsdesk.events.silences import create_silence

    found = Silence.objects.filter(organization=org, comment=comment).first()
    if found is not None:
        return found
    return create_silence(
        acting_user=user,
        organization=org,
        matchers=[{"name": "alertname", "op": "=", "value": "DiskFull"}],
        ends_at=timezone.now() + timedelta(days=1),
        comment=comment,
    )


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "silence_id": lambda c: _silence(c.org_b, c.admin_b, "B's silence").pk,
}


def _body(c: Any) -> dict:
    from django.utils import timezone

    return {
        "organization_id": c.org_b.pk,
        "matchers": [{"name": "instance", "op": "=~", "value": "db-.*"}],
        "ends_at": (timezone.now() + timedelta(hours=2)).isoformat(),
        "comment": "Intruder",
    }


BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {("POST", _S): _body}

CREATE_IN_B: dict[tuple[str, str], int] = {("POST", _S): 404}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    _S: (_is_b, lambda c: {"organization_id": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    _silence(c.org_a, c.admin, "A's silence")
    _silence(c.org_b, c.admin_b, "B's silence")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "silence_id": lambda c: _silence(c.org_a, c.admin, "Fuzzed silence").pk,
}
