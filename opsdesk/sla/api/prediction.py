"""API routes: Breach prediction — what the model knows per organisation, and how well it did
on history. Agents and above of the organisation only (the clocks' own permission)."""

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from opsdesk.core.api import ERROR_RESPONSES, ObjectId
from opsdesk.core.errors import PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access_organization
from opsdesk.sla import prediction
from opsdesk.sla.evaluation import last_evaluation
from opsdesk.sla.models import Clock

router = Router(tags=["Breach prediction"])


class LevelOut(Schema):
    level: str
    groups: int
    groups_with_support: int
    tickets: int
    breach_rate: float | None


class PartOut(Schema):
    kind: str
    metric: str
    tickets: int
    levels: list[LevelOut]


class ModelOut(Schema):
    organization_id: int
    min_support: int
    strength: float
    queue_beta: float
    history_days: int
    parts: list[PartOut]


class EvaluationOut(Schema):
    available: bool
    source: str
    report: dict[str, Any] | None


def _org_for_agents(user: Any, organization: int) -> Any:
    org = access_organization(user, organization)
    if not has_permission(user, Clock, Action.VIEW, org.pk):
        raise PermissionDenied("Only agents and above of this organisation see breach prediction.")
    return org


@router.get(
    "/sla/prediction/model",
    response={200: ModelOut, **ERROR_RESPONSES},
    summary="The breach-prediction model of an organisation: its back-off levels and support",
)
def prediction_model(request: HttpRequest, organization: ObjectId):  # type: ignore[no-untyped-def]
    org = _org_for_agents(request.auth, organization)
    models = prediction.load_models(org.pk)
    return {
        "organization_id": org.pk,
        "min_support": prediction.MIN_SUPPORT,
        "strength": prediction.STRENGTH,
        "queue_beta": prediction.QUEUE_BETA,
        "history_days": prediction.HISTORY_WINDOW.days,
        "parts": [
            {"kind": kind, "metric": metric, "tickets": model.total, "levels": model.summary()}
            for (kind, metric), model in sorted(models.items())
        ],
    }


@router.get(
    "/sla/prediction/evaluation",
    response={200: EvaluationOut, **ERROR_RESPONSES},
    summary="The last evaluation of the breach-prediction model on history, if any",
)
def prediction_evaluation(request: HttpRequest, organization: ObjectId):  # type: ignore[no-untyped-def]
    _org_for_agents(request.auth, organization)
    source, report = last_evaluation()
    return {"available": report is not None, "source": source, "report": report}
