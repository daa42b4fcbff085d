"""API routes of silences: list, read, create and expire early.

Matchers are Alertmanager's (``=``, ``!=``, ``=~``, ``!~``; regular expressions fully
anchored) over an event's labels and resource attributes; see `opsdesk.events.silences`.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from opsdesk.core.api import ERROR_RESPONSES, ApiDateTime, InSchema, ObjectId, Paginated
from opsdesk.core.selectors import access_organization
from opsdesk.events import silences
from opsdesk.events.models import Silence

router = Router(tags=["Silences"])


class MatcherIn(InSchema):
    name: Annotated[str, Field(min_length=1, max_length=silences.MAX_NAME)]
    op: Annotated[str, Field(max_length=2, description="=, !=, =~ or !~ (default =)")] = "="
    value: Annotated[str, Field(max_length=silences.MAX_VALUE)] = ""


class SilenceIn(InSchema):
    organization_id: ObjectId
    matchers: Annotated[list[MatcherIn], Field(max_length=silences.MAX_MATCHERS)]
    starts_at: ApiDateTime | None = Field(None, description="Default: now")
    ends_at: ApiDateTime
    comment: Annotated[str, Field(max_length=silences.MAX_COMMENT)]


class SilenceFilterIn(Schema):
    organization_id: ObjectId | None = None
    state: Literal["active", "pending", "expired"] | None = Field(
        None, description="active (muting now), pending (starts later) or expired"
    )
    active: bool | None = Field(None, description="true: muting now; false: pending or expired")


class MatcherOut(Schema):
    name: str
    op: str
    value: str


class SilenceOut(Schema):
    id: int
    organization_id: int
    matchers: list[MatcherOut]
    starts_at: datetime
    ends_at: datetime
    expired_early_at: datetime | None
    comment: str
    created_by: str | None
    matched_count: int
    state: str
    created_at: datetime

    @staticmethod
    def resolve_created_by(obj: Silence) -> str | None:
        user = obj.created_by
        return (user.full_name or user.email) if user is not None else None

    @staticmethod
    def resolve_state(obj: Silence) -> str:
        return silences.state_of(obj, timezone.now())


@router.get(
    "/silences",
    response={200: list[SilenceOut], **ERROR_RESPONSES},
    summary="Silences, newest first; filter by organisation, state (active, pending, expired) "
    "or active (true: muting now)",
)
@paginate(Paginated)
def list_silences(request: HttpRequest, filters: Query[SilenceFilterIn]):  # type: ignore[no-untyped-def]
    return silences.silences_for(
        request.auth,
        organization_id=filters.organization_id,
        state=filters.state,
        active=filters.active,
    )


@router.post(
    "/silences",
    response={201: SilenceOut, **ERROR_RESPONSES},
    summary="Create a silence (agents and up): matchers over labels and resource attributes "
    "(=, !=, =~, !~; regexes fully anchored), an end, and a comment saying why",
)
def create_silence(request: HttpRequest, payload: SilenceIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    silence = silences.create_silence(
        acting_user=user,
        organization=org,
        matchers=[m.dict() for m in payload.matchers],
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
        comment=payload.comment,
    )
    return Status(201, silence)


@router.get(
    "/silences/{silence_id}",
    response={200: SilenceOut, **ERROR_RESPONSES},
    summary="A silence",
)
def get_silence(request: HttpRequest, silence_id: int):  # type: ignore[no-untyped-def]
    return silences.access_silence(request.auth, silence_id)


@router.post(
    "/silences/{silence_id}/expire",
    response={200: SilenceOut, **ERROR_RESPONSES},
    summary="Expire a silence now (409 when it is already over); a pending one never starts",
)
def expire_silence(request: HttpRequest, silence_id: int) -> Any:
    silence = silences.access_silence(request.auth, silence_id)
    return silences.expire_silence(acting_user=request.auth, silence=silence)
