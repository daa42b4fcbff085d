"""API routes of accounts: me, users, memberships, teams and tokens."""

from django.http import HttpRequest
from ninja import Router, Status
from ninja.pagination import paginate

from opsdesk.accounts import actions, selectors
from opsdesk.accounts.schemas import (
    MembershipOut,
    MembershipPatch,
    MeOut,
    MePatch,
    TeamIn,
    TeamOut,
    TeamPatch,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
    UserCreateIn,
    UserOut,
)
from opsdesk.core.api import ERROR_RESPONSES, ObjectId, Paginated
from opsdesk.core.selectors import access_organization

me_router = Router(tags=["me"])
users_router = Router(tags=["users"])
teams_router = Router(tags=["teams"])
tokens_router = Router(tags=["tokens"])


def _me(user):  # type: ignore[no-untyped-def]
    return {
        "id": user.pk,
        "email": user.email,
        "full_name": user.full_name,
        "is_active": user.is_active,
        "time_zone": user.time_zone,
        "is_superuser": user.is_superuser,
        "memberships": list(
            user.memberships.select_related("organization").filter(organization__is_active=True)
        ),
        "team_ids": list(user.teams.values_list("id", flat=True)),
    }


@me_router.get(
    "/me", response={200: MeOut, **ERROR_RESPONSES}, summary="Who I am, my roles and my teams"
)
def me(request: HttpRequest):  # type: ignore[no-untyped-def]
    return _me(request.auth)


@me_router.patch(
    "/me", response={200: MeOut, **ERROR_RESPONSES}, summary="Change my name or time zone"
)
def update_me(request: HttpRequest, payload: MePatch):  # type: ignore[no-untyped-def]
    user = actions.update_profile(acting_user=request.auth, **payload.dict(exclude_unset=True))
    return _me(user)


@users_router.get(
    "/users", response={200: list[UserOut], **ERROR_RESPONSES}, summary="People in my organisations"
)
@paginate(Paginated)
def list_users(request: HttpRequest, organization: ObjectId | None = None, q: str | None = None):  # type: ignore[no-untyped-def]
    qs = selectors.users_for_user(request.auth)
    if organization is not None:
        qs = qs.filter(memberships__organization_id=organization)
    if q:
        qs = qs.filter(full_name__icontains=q) | qs.filter(email__icontains=q)
    return qs.order_by("full_name", "email")


@users_router.post(
    "/users",
    response={201: MembershipOut, **ERROR_RESPONSES},
    summary="Add a person to an organisation (its admins)",
)
def create_user(request: HttpRequest, payload: UserCreateIn):  # type: ignore[no-untyped-def]
    org = access_organization(request.auth, payload.organization_id)
    membership = actions.add_user(
        acting_user=request.auth,
        organization=org,
        email=str(payload.email),
        full_name=payload.full_name,
        role=payload.role,
    )
    return Status(201, membership)


@users_router.get("/users/{user_id}", response={200: UserOut, **ERROR_RESPONSES})
def get_user(request: HttpRequest, user_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_user(request.auth, user_id)


@users_router.get(
    "/memberships",
    response={200: list[MembershipOut], **ERROR_RESPONSES},
    summary="Roles of people in my organisations",
)
@paginate(Paginated)
def list_memberships(
    request: HttpRequest, organization: ObjectId | None = None, user: ObjectId | None = None
):  # type: ignore[no-untyped-def]
    qs = selectors.memberships_for_user(request.auth)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if user is not None:
        qs = qs.filter(user_id=user)
    return qs


@users_router.get("/memberships/{membership_id}", response={200: MembershipOut, **ERROR_RESPONSES})
def get_membership(request: HttpRequest, membership_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_membership(request.auth, membership_id)


@users_router.patch(
    "/memberships/{membership_id}",
    response={200: MembershipOut, **ERROR_RESPONSES},
    summary="Change someone's role",
)
def update_membership(request: HttpRequest, membership_id: int, payload: MembershipPatch):  # type: ignore[no-untyped-def]
    membership = selectors.access_membership(request.auth, membership_id)
    return actions.change_role(acting_user=request.auth, membership=membership, role=payload.role)


@users_router.delete(
    "/memberships/{membership_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Remove someone from an organisation",
)
def delete_membership(request: HttpRequest, membership_id: int):  # type: ignore[no-untyped-def]
    membership = selectors.access_membership(request.auth, membership_id)
    actions.remove_membership(acting_user=request.auth, membership=membership)
    return Status(204, None)


@teams_router.get(
    "/teams",
    response={200: list[TeamOut], **ERROR_RESPONSES},
    summary="Teams (assignment groups) I may see",
)
@paginate(Paginated)
def list_teams(request: HttpRequest, organization: ObjectId | None = None, q: str | None = None):  # type: ignore[no-untyped-def]
    qs = selectors.teams_for_user(request.auth)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if q:
        qs = qs.filter(name__icontains=q)
    return qs


@teams_router.post("/teams", response={201: TeamOut, **ERROR_RESPONSES}, summary="Create a team")
def create_team(request: HttpRequest, payload: TeamIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    manager = (
        selectors.users_in_organization(user, org.pk, [payload.manager_id], "manager_id")[0]
        if payload.manager_id is not None
        else None
    )
    members = selectors.users_in_organization(user, org.pk, payload.member_ids, "member_ids")
    team = actions.create_team(
        acting_user=user,
        organization=org,
        name=payload.name,
        description=payload.description,
        email=str(payload.email or ""),
        manager=manager,
        members=members,
    )
    return Status(201, selectors.access_team(user, team.pk))


@teams_router.get("/teams/{team_id}", response={200: TeamOut, **ERROR_RESPONSES})
def get_team(request: HttpRequest, team_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_team(request.auth, team_id)


@teams_router.patch(
    "/teams/{team_id}",
    response={200: TeamOut, **ERROR_RESPONSES},
    summary="Change a team, its manager or members",
)
def update_team(request: HttpRequest, team_id: int, payload: TeamPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    team = selectors.access_team(user, team_id)
    data = payload.dict(exclude_unset=True)
    changes: dict = {k: v for k, v in data.items() if k in {"name", "description"}}
    if "email" in data:
        changes["email"] = str(data["email"] or "")
    if "manager_id" in data:
        mid = data["manager_id"]
        changes["manager"] = (
            selectors.users_in_organization(user, team.organization_id, [mid], "manager_id")[0]
            if mid is not None
            else None
        )
    if data.get("member_ids") is not None:
        changes["members"] = selectors.users_in_organization(
            user, team.organization_id, data["member_ids"], "member_ids"
        )
    actions.update_team(acting_user=user, team=team, **changes)
    return selectors.access_team(user, team.pk)


@teams_router.delete(
    "/teams/{team_id}", response={204: None, **ERROR_RESPONSES}, summary="Delete a team"
)
def delete_team(request: HttpRequest, team_id: int):  # type: ignore[no-untyped-def]
    team = selectors.access_team(request.auth, team_id)
    actions.delete_team(acting_user=request.auth, team=team)
    return Status(204, None)


@tokens_router.get(
    "/tokens", response={200: list[TokenOut], **ERROR_RESPONSES}, summary="My API tokens"
)
@paginate(Paginated)
def list_tokens(request: HttpRequest):  # type: ignore[no-untyped-def]
    return selectors.tokens_for_user(request.auth)


@tokens_router.post(
    "/tokens",
    response={201: TokenCreatedOut, **ERROR_RESPONSES},
    summary="Create an API token (the secret is shown once)",
)
def create_token(request: HttpRequest, payload: TokenIn):  # type: ignore[no-untyped-def]
    token, raw = actions.create_api_token(
        acting_user=request.auth, name=payload.name, expires_at=payload.expires_at
    )
    out = TokenOut.from_orm(token).dict()
    return Status(201, {**out, "token": raw})


@tokens_router.delete(
    "/tokens/{token_id}", response={200: TokenOut, **ERROR_RESPONSES}, summary="Revoke an API token"
)
def revoke_token(request: HttpRequest, token_id: int):  # type: ignore[no-untyped-def]
    token = selectors.access_token(request.auth, token_id)
    return actions.revoke_api_token(acting_user=request.auth, token=token)
