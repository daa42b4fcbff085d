"""Every write on accounts: users, memberships, teams and API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from opsdesk.accounts.models import ApiToken, Membership, Team, User
from opsdesk.core.actions import apply_changes, require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, NotFound
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, Role, forget_roles

TEAM_FIELDS = ("name", "description", "email", "manager")


def _save_team(team: Team) -> Team:
    """save_validated, with the slug (derived from the name) reported as the name."""
    try:
        return save_validated(team)
    except FieldError as exc:
        if "slug" in exc.errors:
            exc.errors.pop("slug")
            exc.errors["name"] = "A team with this name already exists in this organisation."
        raise


def _check_members(organization_id: int, users: list[User], field: str) -> None:
    member_ids = set(
        Membership.objects.filter(organization_id=organization_id, user__in=users).values_list(
            "user_id", flat=True
        )
    )
    outsiders = [u.email for u in users if u.pk not in member_ids]
    if outsiders:
        raise FieldError({field: f"Not members of this organisation: {', '.join(outsiders)}."})


@transaction.atomic
def create_team(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    description: str = "",
    email: str = "",
    manager: User | None = None,
    members: list[User] | None = None,
) -> Team:
    require(acting_user, Team, Action.ADD, organization.pk)
    if manager is not None:
        _check_members(organization.pk, [manager], "manager_id")
    if members:
        _check_members(organization.pk, members, "member_ids")
    with acting_as(acting_user):
        team = Team(
            organization=organization,
            name=name,
            slug=slugify(name)[:100] or "team",
            description=description,
            email=email,
            manager=manager,
        )
        _save_team(team)
        if members:
            team.members.add(*members)
        return team


@transaction.atomic
def update_team(*, acting_user: Any, team: Team, **changes: Any) -> Team:
    require(acting_user, Team, Action.CHANGE, team.organization_id)
    members = changes.pop("members", None)
    if changes.get("manager") is not None:
        _check_members(team.organization_id, [changes["manager"]], "manager_id")
    with acting_as(acting_user):
        apply_changes(team, changes, TEAM_FIELDS)
        if "name" in changes:
            team.slug = slugify(team.name)[:100] or "team"
        _save_team(team)
        if members is not None:
            _check_members(team.organization_id, members, "member_ids")
            team.members.set(members)
        return team


@transaction.atomic
def delete_team(*, acting_user: Any, team: Team) -> None:
    require(acting_user, Team, Action.DELETE, team.organization_id)
    with acting_as(acting_user):
        team.delete()


@transaction.atomic
def add_user(
    *,
    acting_user: Any,
    organization: Organization,
    email: str,
    full_name: str,
    role: str,
    password: str | None = None,
) -> Membership:
    """Give someone a role in an organisation, creating their account if it is new."""
    require(acting_user, Membership, Action.ADD, organization.pk)
    if role not in Role.values:
        raise FieldError({"role": f"Choose one of: {', '.join(Role.values)}."})
    with acting_as(acting_user):
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User(email=email.lower(), full_name=full_name)
            if password:
                user.set_password(password)
            else:
                user.set_unusable_password()
            save_validated(user, exclude=["password"])
        if Membership.objects.filter(user=user, organization=organization).exists():
            raise Conflict(f"{email} is already a member of {organization}.", field="email")
        membership = save_validated(Membership(user=user, organization=organization, role=role))
        forget_roles(user)
        return membership


@transaction.atomic
def change_role(*, acting_user: Any, membership: Membership, role: str) -> Membership:
    require(acting_user, Membership, Action.CHANGE, membership.organization_id)
    if role not in Role.values:
        raise FieldError({"role": f"Choose one of: {', '.join(Role.values)}."})
    _keep_an_admin(membership, new_role=role)
    with acting_as(acting_user):
        membership.role = role
        save_validated(membership)
        forget_roles(membership.user)
        return membership


@transaction.atomic
def remove_membership(*, acting_user: Any, membership: Membership) -> None:
    require(acting_user, Membership, Action.DELETE, membership.organization_id)
    _keep_an_admin(membership, new_role=None)
    with acting_as(acting_user):
        for team in Team.objects.filter(
            organization_id=membership.organization_id, members=membership.user
        ):
            team.members.remove(membership.user)
        membership.delete()


def _keep_an_admin(membership: Membership, new_role: str | None) -> None:
    if membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return
    others = Membership.objects.filter(
        organization_id=membership.organization_id, role=Role.ADMIN
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise Conflict("An organisation keeps at least one admin.", field="role")


@transaction.atomic
def update_profile(*, acting_user: User, **changes: Any) -> User:
    with acting_as(acting_user):
        apply_changes(acting_user, changes, ("full_name", "time_zone"))
        return save_validated(acting_user, exclude=["password"])


@transaction.atomic
def create_api_token(
    *,
    acting_user: User,
    user: User | None = None,
    name: str,
    expires_at: datetime | None = None,
    never_expires: bool = False,
) -> tuple[ApiToken, str]:
    """A new token for `user` (yourself unless a platform admin); returns (token, secret)."""
    owner = user or acting_user
    if owner.pk != acting_user.pk and not acting_user.is_superuser:
        raise NotFound("No such user.")
    if expires_at is not None and expires_at <= timezone.now():
        raise FieldError({"expires_at": "The expiry must be in the future."})
    raw, prefix, digest = ApiToken.generate()
    with acting_as(acting_user):
        token = ApiToken(
            user=owner,
            name=name,
            key_prefix=prefix,
            key_hash=digest,
            expires_at=None if never_expires else (expires_at or ApiToken.default_expiry()),
        )
        save_validated(token)
    return token, raw


@transaction.atomic
def revoke_api_token(*, acting_user: User, token: ApiToken) -> ApiToken:
    if token.user_id != acting_user.pk and not acting_user.is_superuser:
        raise NotFound("No such token.")
    if token.revoked_at is None:
        with acting_as(acting_user):
            token.revoked_at = timezone.now()
            token.save()
    return token
