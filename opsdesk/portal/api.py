"""API routes of satisfaction surveys: requesters read and answer theirs; agents and
managers read every survey of their organisations (CSAT)."""

from datetime import datetime
from typing import Annotated

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from opsdesk.core.api import ERROR_RESPONSES, InSchema, ObjectId, Paginated
from opsdesk.portal import actions, selectors
from opsdesk.servicedesk.choices import SubjectType

router = Router(tags=["Surveys"])


class SurveyOut(Schema):
    id: int
    organization_id: int
    subject_type: SubjectType
    subject_id: int
    requester_id: int
    rating: int | None
    comment: str
    sent_at: datetime
    answered_at: datetime | None


class SurveyFilter(Schema):
    organization: ObjectId | None = None
    answered: bool | None = None
    mine: bool = Field(False, description="Only the surveys sent to me")


class AnswerIn(InSchema):
    rating: int = Field(ge=1, le=5, description="1 (very unhappy) to 5 (very happy)")
    comment: Annotated[str, Field(max_length=5_000)] = ""


@router.get(
    "/surveys",
    response={200: list[SurveyOut], **ERROR_RESPONSES},
    summary="Satisfaction surveys: mine as a requester, all of the organisation for agents",
)
@paginate(Paginated)
def list_surveys(request: HttpRequest, filters: Query[SurveyFilter]):  # type: ignore[no-untyped-def]
    return selectors.surveys_for_user(request.auth, **filters.dict())


@router.get("/surveys/{survey_id}", response={200: SurveyOut, **ERROR_RESPONSES})
def get_survey(request: HttpRequest, survey_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_survey(request.auth, survey_id)


@router.post(
    "/surveys/{survey_id}/answer",
    response={200: SurveyOut, **ERROR_RESPONSES},
    summary="Answer a survey (the requester, once): rating 1-5 and a comment",
)
def answer_survey(request: HttpRequest, survey_id: int, payload: AnswerIn):  # type: ignore[no-untyped-def]
    survey = selectors.access_survey(request.auth, survey_id)
    return actions.answer_survey(
        acting_user=request.auth, survey=survey, rating=payload.rating, comment=payload.comment
    )
