"""Event intake in the isolation meta-test (opsdesk/core/tests/test_api_access.py) and the
bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``).

The intake authenticates with an event integration's token, not a user's: listed as SELF
(checked by (a): no token, a garbage token or a user's token gets 401). That an integration
of A stores only into A is tested in test_intake.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SELF = "self"

OPERATIONS: dict[tuple[str, str], str] = {("POST", "/api/v1/events/{source}"): SELF}
PATH_PARAMETERS: dict[str, Callable[[Any], Any]] = {"source": lambda c: "generic"}
REAL_IDS: dict[str, Callable[[Any], Any]] = {"source": lambda c: "generic"}
BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/events/{source}"): lambda c: {"title": "Disk full", "severity": "major"}
}
