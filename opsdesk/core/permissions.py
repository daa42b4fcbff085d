"""Roles, the actions they allow, and querysets that only return what a user may see.

Every read goes through `Model.objects.restrict(user, action)`. A user's role is held per
organisation (see `accounts.Membership`), so the same person can be an agent for one
client and an auditor for another.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import Q

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser


class Role(models.TextChoices):
    REQUESTER = "requester", "Requester"
    AGENT = "agent", "Agent"
    MANAGER = "manager", "Manager"
    AUDITOR = "auditor", "Auditor"
    ADMIN = "admin", "Admin"


class Action(models.TextChoices):
    VIEW = "view", "View"
    ADD = "add", "Add"
    CHANGE = "change", "Change"
    DELETE = "delete", "Delete"
    AUDIT = "audit", "Read the audit log"
    ADMIN = "admin", "Administer the organisation"


ALL_ACTIONS = frozenset(Action.values)

#: What each role may do on a tenant-owned model unless the model says otherwise
#: (a model sets ``role_actions`` to narrow or widen this).
DEFAULT_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset(),
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: ALL_ACTIONS,
}


#: Configuration that managers and admins write and agents and auditors read (change
#: templates, event integrations, runbooks, ...).
MANAGED_CONFIG_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset(
        {Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.AUDIT, Action.ADMIN}
    ),
}


def role_actions_for(model: type[models.Model]) -> dict[str, frozenset[str]]:
    return getattr(model, "role_actions", None) or DEFAULT_ROLE_ACTIONS


def organization_roles(user: Any) -> dict[int, str]:
    """{organization id: role} for an authenticated user, cached on the user object."""
    if user is None or not getattr(user, "is_authenticated", False):
        return {}
    cached = getattr(user, "_opsdesk_org_roles", None)
    if cached is None:
        from opsdesk.accounts.models import Membership

        cached = dict(
            Membership.objects.filter(user_id=user.pk, organization__is_active=True).values_list(
                "organization_id", "role"
            )
        )
        user._opsdesk_org_roles = cached
    return cached


def forget_roles(user: Any) -> None:
    if hasattr(user, "_opsdesk_org_roles"):
        del user._opsdesk_org_roles


def organizations_for(user: Any, model: type[models.Model], action: str) -> list[int]:
    """Ids of the organisations in which `user` may perform `action` on `model`."""
    matrix = role_actions_for(model)
    return [
        org_id
        for org_id, role in organization_roles(user).items()
        if action in matrix.get(role, ())
    ]


def has_permission(
    user: Any, model: type[models.Model], action: str, organization_id: int | None
) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if organization_id is None:
        return False
    role = organization_roles(user).get(organization_id)
    return role is not None and action in role_actions_for(model).get(role, ())


class RestrictedQuerySet(models.QuerySet):
    """A queryset that knows how to narrow itself to what a user may see or do."""

    def restrict(self, user: AnonymousUser | Any, action: str = Action.VIEW) -> RestrictedQuerySet:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        model = self.model
        lookup = getattr(model, "organization_lookup", "organization")
        matrix = role_actions_for(model)
        by_role: dict[str, list[int]] = {}
        for org_id, role in organization_roles(user).items():
            if action in matrix.get(role, ()):
                by_role.setdefault(role, []).append(org_id)
        if not by_role:
            return self.none()
        scope = getattr(model, "scope_for_role", None)
        condition = Q()
        for role, org_ids in by_role.items():
            clause = Q(**{f"{lookup}__in": org_ids})
            extra = scope(role, user) if scope is not None else None
            if extra is not None:
                clause &= extra
            condition |= clause
        return self.filter(condition)
