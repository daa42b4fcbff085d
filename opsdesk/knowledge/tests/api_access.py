"""The knowledge base's rows in the isolation and bad-input meta-tests
(opsdesk/core/tests/test_api_access.py and test_bad_input.py merge these tables).

``incident_id`` is mapped by the service desk's own contribution.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opsdesk.core.testing.cast import Cast

LIST = "list"
OBJECT = "object"
CREATE = "create"

_A = "/api/v1/kb/articles/{article_id}"

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/kb/articles"): LIST,
    ("POST", "/api/v1/kb/articles"): CREATE,
    ("GET", _A): OBJECT,
    ("PATCH", _A): OBJECT,
    ("POST", f"{_A}/submit"): OBJECT,
    ("POST", f"{_A}/request-changes"): OBJECT,
    ("POST", f"{_A}/publish"): OBJECT,
    ("POST", f"{_A}/revise"): OBJECT,
    ("POST", f"{_A}/retire"): OBJECT,
    ("GET", f"{_A}/versions"): OBJECT,
    ("POST", f"{_A}/feedback"): OBJECT,
    ("POST", f"{_A}/uses"): OBJECT,
    ("GET", "/api/v1/incidents/{incident_id}/articles"): OBJECT,
}


def _published(org: Any, author: Any, publisher: Any, title: str) -> Any:
    """A published public article of `org` (made once, so building bodies writes nothing)."""
    from opsdesk.knowledge.models import Article
    from opsdesk.knowledge.tests.factories import article

    found = Article.objects.filter(organization=org, title=title).first()
    return found or article(
        author, org, title, body="Steps.", publish_as=publisher, visibility="everyone"
    )


def _b_article(cast: Cast) -> Any:
    return _published(cast.org_b, cast.admin_b, cast.admin_b, "B's VPN guide")


def _a_article(cast: Cast) -> Any:
    return _published(cast.org_a, cast.agent, cast.manager, "A's VPN guide")


PATH_PARAMETERS: dict[str, Callable[[Cast], int]] = {
    "article_id": lambda c: _b_article(c).pk,
}

BODIES: dict[tuple[str, str], Callable[[Cast], dict]] = {
    ("POST", "/api/v1/kb/articles"): lambda c: {
        "organization_id": c.org_b.pk,
        "title": "Intruder's article",
    },
    ("PATCH", _A): lambda c: {"tags": ["hijacked"]},
    ("POST", f"{_A}/request-changes"): lambda c: {"reason": "hijacked"},
    ("POST", f"{_A}/publish"): lambda c: {"note": "hijacked"},
    ("POST", f"{_A}/revise"): lambda c: {},
    ("POST", f"{_A}/retire"): lambda c: {},
    ("POST", f"{_A}/feedback"): lambda c: {"helpful": False},
    ("POST", f"{_A}/uses"): lambda c: {"incident_id": 1},
}

CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/kb/articles"): 404,
}

LISTS: dict[str, tuple[Callable[..., bool], Callable[[Cast], dict]]] = {
    "/api/v1/kb/articles": (
        lambda c, caller, item: item["organization_id"] == c.org_b.pk,
        lambda c: {"organization": c.org_b.pk},
    ),
}


def _rows(cast: Cast) -> None:
    _a_article(cast)
    _b_article(cast)


LIST_DATA: list[Callable[[Cast], None]] = [_rows]

REAL_IDS: dict[str, Callable[[Cast], int]] = {
    "article_id": lambda c: _a_article(c).pk,
}
