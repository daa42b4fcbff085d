"""API routes of change risk: a change's risk explained (live) and assessed (saved), and the
organisation's risk settings and questionnaire. Writes go through `opsdesk.changes.risk`."""

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from opsdesk.changes import risk
from opsdesk.changes.models import Change, RiskSettings
from opsdesk.changes.selectors import access_change
from opsdesk.core.actions import require
from opsdesk.core.api import ERROR_RESPONSES, InSchema, ObjectId
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization

router = Router(tags=["Changes"])

Weight = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Points = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Key = Annotated[str, Field(min_length=1, max_length=40)]


# --- schemas -------------------------------------------------------------------------------


class FactorOut(Schema):
    key: str
    label: str
    value: str = Field(description="The raw value as people read it.")
    score: float = Field(description="0..1")
    weight: float
    contribution: float = Field(description="Points of the 0..100 score this factor adds.")
    evidence: str
    raw: dict[str, Any]


class AnswerOut(Schema):
    key: str
    label: str
    points: float


class QuestionOut(Schema):
    key: str
    question: str
    answers: list[AnswerOut]


class AnsweredQuestionOut(QuestionOut):
    answer: str | None
    answer_label: str | None
    points: float = Field(description="Points counted (the riskiest answer's when unanswered).")
    max_points: float


class SavedRiskOut(Schema):
    score: float | None
    risk_class: str
    assessed_at: datetime | None


class RiskOut(Schema):
    change_id: int
    change_number: str
    score: float
    risk_class: str
    class_label: str
    standard: bool = Field(description="A standard change keeps its template's risk class.")
    computed_class: str | None = Field(
        None, description="For a standard change: the class the data alone would give."
    )
    factors: list[FactorOut]
    questionnaire: list[AnsweredQuestionOut]
    weights: dict[str, float]
    thresholds: dict[str, float]
    assessed_at: datetime
    saved: SavedRiskOut = Field(description="What is stored on the change.")


class RiskIn(InSchema):
    answers: dict[Key, Key | None] | None = Field(
        None,
        description="{question key: answer key}, merged over the stored answers; null or an "
        "empty answer clears one.",
    )


class AnswerIn(InSchema):
    key: Key
    label: Annotated[str, Field(min_length=1, max_length=120)]
    points: Points


class QuestionIn(InSchema):
    key: Key
    question: Annotated[str, Field(min_length=1, max_length=300)]
    answers: Annotated[list[AnswerIn], Field(min_length=2, max_length=risk.MAX_ANSWERS)]


class FactorInfoOut(Schema):
    key: str
    label: str
    default_weight: float


class RiskSettingsOut(Schema):
    organization_id: int
    weights: dict[str, float]
    thresholds: dict[str, float]
    questionnaire: list[QuestionOut]
    induced_window_hours: int
    customised: list[str] = Field(description="Settings that differ from the defaults.")
    factors: list[FactorInfoOut]
    default_thresholds: dict[str, float]


class RiskSettingsIn(InSchema):
    organization_id: ObjectId
    weights: dict[Key, Weight] | None = Field(
        None, description="Weights by factor; missing factors keep their default; {} = defaults."
    )
    thresholds: dict[Key, Weight] | None = Field(
        None, description="Lowest score of moderate, high and very_high; {} = defaults."
    )
    questionnaire: Annotated[list[QuestionIn], Field(max_length=risk.MAX_QUESTIONS)] | None = Field(
        None, description="The questions; [] = the default questionnaire."
    )
    induced_window_hours: Annotated[int, Field(ge=1, le=720)] | None = None


# --- helpers -------------------------------------------------------------------------------


def risk_out(change: Change, result: dict[str, Any]) -> dict[str, Any]:
    return {
        **result,
        "change_id": change.pk,
        "change_number": change.number,
        "risk_class": result["class"],
        "saved": {
            "score": change.risk_score,
            "risk_class": change.risk_class,
            "assessed_at": change.risk_assessed_at,
        },
    }


def settings_out(organization_id: int) -> dict[str, Any]:
    config = risk.settings_for(organization_id)
    return {
        "organization_id": organization_id,
        "weights": config.weights,
        "thresholds": config.thresholds,
        "questionnaire": config.questionnaire,
        "induced_window_hours": config.induced_window_hours,
        "customised": sorted(config.customised),
        "factors": [
            {"key": k, "label": label, "default_weight": risk.DEFAULT_WEIGHTS[k]}
            for k, label in risk.FACTORS.items()
        ],
        "default_thresholds": risk.DEFAULT_THRESHOLDS,
    }


# --- routes --------------------------------------------------------------------------------


@router.get(
    "/changes/{change_id}/risk",
    response={200: RiskOut, **ERROR_RESPONSES},
    summary="The change's risk now, explained factor by factor (computed live, not saved)",
)
def get_risk(request: HttpRequest, change_id: int):  # type: ignore[no-untyped-def]
    change = access_change(request.auth, change_id)
    return risk_out(change, risk.assess(change))


@router.post(
    "/changes/{change_id}/risk",
    response={200: RiskOut, **ERROR_RESPONSES},
    summary="Answer the questionnaire and assess the risk: the explanation, score and class "
    "are saved on the change",
)
def assess_risk(request: HttpRequest, change_id: int, payload: RiskIn):  # type: ignore[no-untyped-def]
    change = access_change(request.auth, change_id)
    risk.assess_risk(acting_user=request.auth, change=change, answers=payload.answers)
    return risk_out(change, change.risk_assessment)


@router.get(
    "/change-risk-settings",
    response={200: RiskSettingsOut, **ERROR_RESPONSES},
    summary="The organisation's risk weights, class thresholds and questionnaire (defaults "
    "filled in)",
)
def get_risk_settings(request: HttpRequest, organization_id: ObjectId):  # type: ignore[no-untyped-def]
    org = access_organization(request.auth, organization_id)
    require(request.auth, RiskSettings, Action.VIEW, org.pk)
    return settings_out(org.pk)


@router.put(
    "/change-risk-settings",
    response={200: RiskSettingsOut, **ERROR_RESPONSES},
    summary="Change the risk settings (managers): omitted settings keep their value, empty "
    "ones mean the defaults; 422 names the field (weights.timing, thresholds.high, "
    "questionnaire.0.answers.1.points)",
)
def put_risk_settings(request: HttpRequest, payload: RiskSettingsIn):  # type: ignore[no-untyped-def]
    data = payload.dict(exclude_unset=True)
    org = access_organization(request.auth, data.pop("organization_id"))
    risk.update_risk_settings(acting_user=request.auth, organization=org, **data)
    return settings_out(org.pk)


@router.get(
    "/change-risk-questionnaire",
    response={200: list[QuestionOut], **ERROR_RESPONSES},
    summary="The questions a change's risk assessment asks in this organisation",
)
def get_questionnaire(request: HttpRequest, organization_id: ObjectId):  # type: ignore[no-untyped-def]
    org = access_organization(request.auth, organization_id)
    require(request.auth, Change, Action.VIEW, org.pk)
    return risk.settings_for(org.pk).questionnaire
