"""The SLA chain's operations in the isolation meta-test (opsdesk/core/tests/test_api_access.py)
and the bad-input meta-test (opsdesk/core/tests/test_bad_input.py).

``incident_id`` is mapped by the service desk (opsdesk/servicedesk/tests/api_access.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, REPORT = "object", "report"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/sla/chain"): REPORT,
    ("GET", "/api/v1/incidents/{incident_id}/sla/attribution"): OBJECT,
}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/sla/chain"): lambda c: {"organization": c.org_b.pk},
}
