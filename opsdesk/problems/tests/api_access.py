"""Problems and known errors in the isolation meta-test (opsdesk/core/tests/test_api_access.py)
and the bad-input meta-test (opsdesk/core/tests/test_bad_input.py, ``REAL_IDS``).

``incident_id`` is mapped by the service desk's own contribution
(opsdesk/servicedesk/tests/api_access.py), which owns the incident operations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OBJECT, LIST, CREATE = "object", "list", "create"
_P = "/api/v1/problems/{problem_id}"
_K = "/api/v1/known-errors/{known_error_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/problems"): LIST,
    ("POST", "/api/v1/problems"): CREATE,
    ("GET", _P): OBJECT,
    ("PATCH", _P): OBJECT,
    **{
        ("POST", f"{_P}/{t}"): OBJECT
        for t in ("assess", "analyse", "fix", "resolve", "close", "reopen", "cancel")
    },
    ("GET", f"{_P}/incidents"): OBJECT,
    ("POST", f"{_P}/incidents"): OBJECT,
    ("GET", "/api/v1/known-errors"): LIST,
    ("POST", "/api/v1/known-errors"): CREATE,
    ("GET", _K): OBJECT,
    ("PATCH", _K): OBJECT,
    ("POST", f"{_K}/publish"): OBJECT,
    ("POST", f"{_K}/retire"): OBJECT,
    ("GET", "/api/v1/incidents/{incident_id}/suggested-known-errors"): OBJECT,
}


def _problem(org: Any, user: Any, title: str) -> Any:
    from opsdesk.problems.models import Problem

    found = Problem.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    from opsdesk.problems.actions import create_problem

    return create_problem(acting_user=user, organization=org, title=title)


def _known_error(org: Any, user: Any, title: str, state: str = "published") -> Any:
    from opsdesk.problems.models import KnownError

    found = KnownError.objects.filter(organization=org, title=title).first()
    if found is not None:
        return found
    from opsdesk.problems.actions import create_known_error

    return create_known_error(
        acting_user=user, organization=org, title=title, workaround="Restart it.", state=state
    )


def _b_problem(c: Any) -> int:
    return _problem(c.org_b, c.admin_b, "B's problem").pk


def _b_known_error(c: Any) -> int:
    return _known_error(c.org_b, c.admin_b, "B's known error", state="draft").pk


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "problem_id": _b_problem,
    "known_error_id": _b_known_error,
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/problems"): lambda c: {"organization_id": c.org_b.pk, "title": "Intruder"},
    ("PATCH", _P): lambda c: {"title": "hijacked"},
    ("POST", f"{_P}/fix"): lambda c: {"root_cause": "hijacked"},
    ("POST", f"{_P}/resolve"): lambda c: {
        "root_cause": "hijacked",
        "resolution_notes": "hijacked",
        "resolve_incidents": True,
    },
    ("POST", f"{_P}/reopen"): lambda c: {"reason": "hijacked"},
    ("POST", f"{_P}/cancel"): lambda c: {"reason": "hijacked"},
    ("POST", f"{_P}/incidents"): lambda c: {"incident_ids": [1]},
    ("POST", "/api/v1/known-errors"): lambda c: {
        "organization_id": c.org_b.pk,
        "title": "Intruder",
        "workaround": "None",
    },
    ("PATCH", _K): lambda c: {"title": "hijacked"},
    ("POST", f"{_K}/retire"): lambda c: {"reason": "hijacked"},
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/problems"): 404,
    ("POST", "/api/v1/known-errors"): 404,
}


def _is_b(c: Any, caller: Any, item: dict) -> bool:
    return item["organization_id"] == c.org_b.pk


LISTS: dict[str, tuple[Callable[..., bool], Callable[[Any], dict]]] = {
    "/api/v1/problems": (_is_b, lambda c: {"organization": c.org_b.pk}),
    "/api/v1/known-errors": (_is_b, lambda c: {"organization": c.org_b.pk}),
}


def _rows(c: Any) -> None:
    """A problem and a known error in A and in B, for the list checks."""
    _problem(c.org_a, c.admin, "A's problem")
    _known_error(c.org_a, c.admin, "A's known error")
    _b_problem(c)
    _b_known_error(c)


LIST_DATA: list[Callable[[Any], None]] = [_rows]


def _a_problem(c: Any) -> int:
    from opsdesk.problems.actions import transition_problem

    # A problem in root-cause analysis, so that generated transitions reach the workflow.
    problem = _problem(c.org_a, c.admin, "Fuzzed problem")
    if problem.state == "new":
        transition_problem(acting_user=c.admin, problem=problem, transition="analyse")
    return problem.pk


REAL_IDS: dict[str, Callable[[Any], int]] = {
    "problem_id": _a_problem,
    "known_error_id": lambda c: _known_error(c.org_a, c.admin, "Fuzzed known error").pk,
}
