"""Breach prediction in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and
the bad-input meta-test (opsdesk/core/tests/test_bad_input.py): both operations are
per-organisation reports chosen by the ``organization`` query parameter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

REPORT = "report"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/sla/prediction/model"): REPORT,
    ("GET", "/api/v1/sla/prediction/evaluation"): REPORT,
}

REPORTS: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("GET", "/api/v1/sla/prediction/model"): lambda c: {"organization": c.org_b.pk},
    ("GET", "/api/v1/sla/prediction/evaluation"): lambda c: {"organization": c.org_b.pk},
}
