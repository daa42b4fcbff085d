"""Reads of changes: always tenant- and permission-restricted."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from opsdesk.changes.models import Change
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access


def changes(user: Any, action: str = Action.VIEW) -> QuerySet[Change]:
    return Change.objects.restrict(user, action).select_related(
        "service", "assignment_group", "assignee", "change_manager", "template", "organization"
    )


def access_change(user: Any, change_id: int, action: str = Action.VIEW) -> Change:
    """The change if `user` may `action` it, else NotFound (the same for "not yours")."""
    return access(changes(user, action), change_id, "change")
