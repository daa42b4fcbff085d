"""Service-level reports in the isolation meta-test (opsdesk/core/tests/test_api_access.py).

``organization_id`` is the core's (the organisation itself); the scorecard reports take the
organisation as a query parameter and answer 404 for another organisation's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, REPORT = "object", "report"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/sla/compliance"): REPORT,
    ("GET", "/api/v1/sla/mttr"): REPORT,
    ("GET", "/api/v1/sla/reports/{organization_id}"): OBJECT,
}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/sla/compliance"): lambda c: {"organization": c.org_b.pk},
    ("GET", "/api/v1/sla/mttr"): lambda c: {"organization": c.org_b.pk},
}
