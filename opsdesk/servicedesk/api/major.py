"""API routes of major incidents: declaring one, its children, the communications log and the
post-incident review with its actions."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.core.api import ERROR_RESPONSES, ObjectId, Paginated
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.servicedesk import major, selectors
from opsdesk.servicedesk.api.incidents import incident_detail, member
from opsdesk.servicedesk.api.schemas import (
    ChildIn,
    CommunicationIn,
    CommunicationOut,
    DeclareMajorIn,
    IncidentDetailOut,
    IncidentOut,
    MajorIncidentOut,
    ReviewActionIn,
    ReviewActionOut,
    ReviewActionPatch,
    ReviewIn,
    ReviewOut,
    StateFilter,
)
from opsdesk.servicedesk.models import (
    CommunicationUpdate,
    Incident,
    PostIncidentReview,
    ReviewAction,
)
from opsdesk.servicedesk.selectors import IncidentFilter

router = Router(tags=["Major incidents"])


@router.get(
    "/major-incidents",
    response={200: list[MajorIncidentOut], **ERROR_RESPONSES},
    summary="Major incidents, open ones first by default",
)
@paginate(Paginated)
def list_major_incidents(  # type: ignore[no-untyped-def]
    request: HttpRequest,
    organization: ObjectId | None = None,
    state: Query[list[StateFilter] | None] = None,
):
    f = IncidentFilter(
        organization=organization, state=state, is_major=True, sort=["-opened", "priority"]
    )
    return selectors.list_related(selectors.incidents(request.auth, f)).select_related(
        "major_manager"
    )


@router.post(
    "/incidents/{incident_id}/declare-major",
    response={200: IncidentDetailOut, **ERROR_RESPONSES},
    summary="Declare a major incident (any priority) with its manager, or change the manager",
)
def declare_major(request: HttpRequest, incident_id: int, payload: DeclareMajorIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    manager = member(incident.organization_id, payload.manager_id, "manager_id")
    major.declare_major(acting_user=user, incident=incident, manager=manager, reason=payload.reason)
    return incident_detail(user, incident.pk)


# --- children ---------------------------------------------------------------------------------


@router.get(
    "/incidents/{incident_id}/children",
    response={200: list[IncidentOut], **ERROR_RESPONSES},
    summary="The incidents attached to a major incident",
)
@paginate(Paginated)
def list_children(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    parent = selectors.access_incident(user, incident_id)
    return selectors.list_related(
        Incident.objects.restrict(user).filter(parent=parent).order_by("-opened_at", "-id")
    )


@router.post(
    "/incidents/{incident_id}/children",
    response={201: IncidentOut, **ERROR_RESPONSES},
    summary="Attach an incident of the same organisation to this major incident",
)
def attach_child(request: HttpRequest, incident_id: int, payload: ChildIn):  # type: ignore[no-untyped-def]
    user = request.auth
    parent = selectors.access_incident(user, incident_id)
    child = (
        Incident.objects.restrict(user)
        .filter(pk=payload.child_id, organization_id=parent.organization_id)
        .first()
    )
    if child is None:
        raise FieldError({"child_id": "No incident of this organisation has this id."})
    major.attach_child(acting_user=user, parent=parent, child=child)
    return Status(201, selectors.list_related(Incident.objects.filter(pk=child.pk)).get())


@router.delete(
    "/incidents/{incident_id}/children/{child_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Detach a child incident",
)
def detach_child(request: HttpRequest, incident_id: int, child_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    parent = selectors.access_incident(user, incident_id)
    child = Incident.objects.restrict(user).filter(pk=child_id, parent=parent).first()
    if child is None:
        raise NotFound("No child of this incident matches the given id.")
    major.detach_child(acting_user=user, parent=parent, child=child)
    return Status(204, None)


# --- communications ---------------------------------------------------------------------------


@router.get(
    "/incidents/{incident_id}/communications",
    response={200: list[CommunicationOut], **ERROR_RESPONSES},
    summary="The communications log of a major incident, oldest first",
)
@paginate(Paginated)
def list_communications(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    return CommunicationUpdate.objects.restrict(user).filter(incident=incident)


@router.post(
    "/incidents/{incident_id}/communications",
    response={201: CommunicationOut, **ERROR_RESPONSES},
    summary="Log a stakeholder update (public on the timeline only for customers)",
)
def add_communication(request: HttpRequest, incident_id: int, payload: CommunicationIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    update = major.add_communication(acting_user=user, incident=incident, **payload.dict())
    return Status(201, update)


# --- post-incident review ---------------------------------------------------------------------


def _review_out(review: PostIncidentReview) -> dict[str, Any]:
    review = (
        PostIncidentReview.objects.select_related("facilitator")
        .prefetch_related("actions__owner")
        .get(pk=review.pk)
    )
    return {
        **{f: getattr(review, f) for f in ReviewOut.model_fields if hasattr(review, f)},
        "facilitator": review.facilitator,
        "actions": list(review.actions.all()),
        "allowed_states": major.REVIEW.targets(review.state),
    }


def _review(user: Any, incident_id: int, action: str = Action.VIEW) -> PostIncidentReview:
    incident = selectors.access_incident(user, incident_id)
    found = PostIncidentReview.objects.restrict(user, action).filter(incident=incident).first()
    if found is None:
        raise NotFound(f"{incident.number} has no post-incident review yet.")
    return found


@router.get(
    "/incidents/{incident_id}/review",
    response={200: ReviewOut, **ERROR_RESPONSES},
    summary="The post-incident review of a major incident, with its actions",
)
def get_review(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    return _review_out(_review(request.auth, incident_id))


@router.put(
    "/incidents/{incident_id}/review",
    response={200: ReviewOut, **ERROR_RESPONSES},
    summary="Create or update the review; state moves draft -> in_review -> completed "
    "(completed needs summary and root_cause)",
)
def put_review(request: HttpRequest, incident_id: int, payload: ReviewIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    data = payload.dict(exclude_unset=True)
    for name in ("summary", "customer_impact", "root_cause", "went_well", "went_badly"):
        if name in data and data[name] is None:
            data[name] = ""
    if "facilitator_id" in data:
        data["facilitator"] = member(
            incident.organization_id, data.pop("facilitator_id"), "facilitator_id"
        )
    review = major.save_review(acting_user=user, incident=incident, **data)
    return _review_out(review)


@router.post(
    "/incidents/{incident_id}/review/actions",
    response={201: ReviewActionOut, **ERROR_RESPONSES},
    summary="Add an action to the review (the review is created as a draft if needed)",
)
def add_review_action(request: HttpRequest, incident_id: int, payload: ReviewActionIn):  # type: ignore[no-untyped-def]
    user = request.auth
    incident = selectors.access_incident(user, incident_id)
    review = PostIncidentReview.objects.restrict(user).filter(incident=incident).first()
    owner = member(incident.organization_id, payload.owner_id, "owner_id")
    if review is None:
        review = major.save_review(acting_user=user, incident=incident)
    item = major.add_review_action(
        acting_user=user,
        review=review,
        description=payload.description,
        owner=owner,
        due_on=payload.due_on,
    )
    return Status(201, item)


@router.patch(
    "/review-actions/{action_id}",
    response={200: ReviewActionOut, **ERROR_RESPONSES},
    summary="Change a review action (description, owner, due date, state)",
)
def update_review_action(request: HttpRequest, action_id: int, payload: ReviewActionPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    item = access(
        ReviewAction.objects.restrict(user).select_related("review__incident"),
        action_id,
        "review action",
    )
    selectors.access_incident(user, item.review.incident_id)
    data = payload.dict(exclude_unset=True)
    if "description" in data and data["description"] is None:
        raise FieldError({"description": "Cannot be null."})
    if "state" in data and data["state"] is None:
        raise FieldError({"state": "Cannot be null."})
    if "owner_id" in data:
        data["owner"] = member(item.organization_id, data.pop("owner_id"), "owner_id")
    major.update_review_action(acting_user=user, action=item, **data)
    return ReviewAction.objects.select_related("owner").get(pk=item.pk)
