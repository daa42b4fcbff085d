"""API schemas of accounts."""

from __future__ import annotations

from datetime import datetime

from ninja import Field, Schema
from pydantic import EmailStr

from opsdesk.core.api import ApiAwareDateTime, InSchema, ObjectId
from opsdesk.core.permissions import Role


class MembershipOut(Schema):
    id: int
    user_id: int
    organization_id: int
    organization_name: str = Field(alias="organization.name")
    role: Role


class UserOut(Schema):
    id: int
    email: str
    full_name: str
    is_active: bool
    time_zone: str


class MeOut(UserOut):
    is_superuser: bool
    memberships: list[MembershipOut]
    team_ids: list[int]


class MePatch(InSchema):
    full_name: str | None = Field(None, min_length=1, max_length=200)
    time_zone: str | None = Field(None, max_length=64)


class UserCreateIn(InSchema):
    organization_id: ObjectId
    email: EmailStr = Field(max_length=254)
    full_name: str = Field(min_length=1, max_length=200)
    role: Role


class MembershipPatch(InSchema):
    role: Role


class TeamOut(Schema):
    id: int
    organization_id: int
    name: str
    slug: str
    description: str
    email: str
    manager_id: int | None
    member_ids: list[int]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_member_ids(obj: object) -> list[int]:
        return sorted(m.pk for m in obj.members.all())  # type: ignore[attr-defined]


class TeamIn(InSchema):
    organization_id: ObjectId
    name: str = Field(min_length=1, max_length=100)
    description: str = Field("", max_length=10_000)
    email: EmailStr | None = Field(None, max_length=254)
    manager_id: ObjectId | None = None
    member_ids: list[ObjectId] = Field(default_factory=list, max_length=1000)


class TeamPatch(InSchema):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=10_000)
    email: EmailStr | None = Field(None, max_length=254)
    manager_id: ObjectId | None = None
    member_ids: list[ObjectId] | None = Field(None, max_length=1000)


class TokenOut(Schema):
    id: int
    name: str
    key_prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret. Shown once; store it now.")


class TokenIn(InSchema):
    name: str = Field(min_length=1, max_length=100)
    expires_at: ApiAwareDateTime | None = Field(
        None, description="ISO 8601 with a time zone, e.g. 2030-01-31T00:00:00Z."
    )
