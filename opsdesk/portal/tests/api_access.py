"""The surveys' part of the API isolation meta-tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/surveys"): "list",
    ("GET", "/api/v1/surveys/{survey_id}"): "object",
    ("POST", "/api/v1/surveys/{survey_id}/answer"): "object",
}


def _survey(org: Any, requester: Any, title: str) -> int:
    """A survey on a resolved incident of `org` raised by `requester`, made once per title."""
    from opsdesk.core.context import acting_as
    from opsdesk.portal.actions import send_survey
    from opsdesk.servicedesk.models import Incident

    incident = Incident.objects.filter(organization=org, title=title).first()
    if incident is None:
        with acting_as(None):
            incident = Incident.objects.create(
                organization=org, title=title, requester=requester, state="resolved"
            )
    return send_survey(incident).pk


PATH_PARAMETERS: dict[str, Callable[[Any], int]] = {
    "survey_id": lambda c: _survey(c.org_b, c.admin_b, "B's resolved printer"),
}

BODIES: dict[tuple[str, str], Callable[[Any], dict]] = {
    ("POST", "/api/v1/surveys/{survey_id}/answer"): lambda c: {"rating": 1, "comment": "bad"},
}


LISTS: dict[str, tuple[Callable, Callable]] = {
    "/api/v1/surveys": (
        lambda c, caller, item: item["organization_id"] == c.org_b.pk,
        lambda c: {"organization": c.org_b.pk},
    ),
}


def _rows(cast: Any) -> None:
    _survey(cast.org_a, cast.requester, "A's resolved printer")
    _survey(cast.org_b, cast.admin_b, "B's resolved printer")


LIST_DATA: list[Callable[[Any], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Any], int]] = {
    "survey_id": lambda c: _survey(c.org_a, c.admin, "A's fuzzed incident"),
}
