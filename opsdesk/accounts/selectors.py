"""Reads on accounts, restricted to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from opsdesk.accounts.models import ApiToken, Membership, Team, User
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access


def teams_for_user(user: Any, action: str = Action.VIEW) -> QuerySet[Team]:
    return (
        Team.objects.restrict(user, action)
        .select_related("organization", "manager")
        .prefetch_related(
            Prefetch("members", queryset=User.objects.only("id", "email", "full_name"))
        )
    )


def access_team(user: Any, team_id: int) -> Team:
    return access(teams_for_user(user), team_id, "team")


def my_teams(user: Any) -> QuerySet[Team]:
    return (
        Team.objects.filter(members=user)
        .select_related("organization")
        .order_by("organization__name", "name")
    )


def users_for_user(user: Any) -> QuerySet[User]:
    return User.objects.restrict(user, Action.VIEW)


def access_user(user: Any, user_id: int) -> User:
    return access(users_for_user(user), user_id, "user")


def memberships_for_user(user: Any) -> QuerySet[Membership]:
    return Membership.objects.restrict(user, Action.VIEW).select_related("organization", "user")


def access_membership(user: Any, membership_id: int) -> Membership:
    return access(memberships_for_user(user), membership_id, "membership")


def tokens_for_user(user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.restrict(user)


def access_token(user: Any, token_id: int) -> ApiToken:
    return access(tokens_for_user(user), token_id, "token")


def users_in_organization(
    user: Any, organization_id: int, ids: list[int], field: str
) -> list[User]:
    """Resolve user ids given in input; unknown or invisible ids are a field error."""
    from opsdesk.core.errors import FieldError

    found = {
        u.pk: u
        for u in users_for_user(user).filter(
            pk__in=ids, memberships__organization_id=organization_id
        )
    }
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise FieldError({field: f"Unknown users in this organisation: {', '.join(missing)}."})
    return [found[i] for i in ids]
