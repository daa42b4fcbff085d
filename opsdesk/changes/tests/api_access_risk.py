"""Change risk in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and the
bad-input meta-test (opsdesk/core/tests/test_bad_input.py). ``change_id`` is mapped by
``api_access_changes``; the settings and questionnaire are per-organisation reports chosen
by ``organization_id``, and the settings PUT names its organisation in the body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, CREATE, REPORT = "object", "create", "report"
_R = "/api/v1/changes/{change_id}/risk"
_S = "/api/v1/change-risk-settings"
_Q = "/api/v1/change-risk-questionnaire"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", _R): OBJECT,
    ("POST", _R): OBJECT,
    ("GET", _S): REPORT,
    ("PUT", _S): CREATE,
    ("GET", _Q): REPORT,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", _R): lambda c: {"answers": {"outage": "full"}},
    ("PUT", _S): lambda c: {"organization_id": c.org_b.pk, "weights": {"timing": 0}},
}

#: A's caller naming B's organisation in the body gets a 404, B's settings untouched.
CREATE_IN_B: dict[tuple[str, str], int] = {("PUT", _S): 404}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", _S): lambda c: {"organization_id": c.org_b.pk},
    ("GET", _Q): lambda c: {"organization_id": c.org_b.pk},
}
