"""API routes of the part "after the change": a change's post-implementation review, the
incidents suggested (or confirmed) as caused by a change or deployment, and the change
metrics the scorecard reads.

Every route reaches its objects through restricted reads: another organisation's change,
incident or link is a 404, as if it did not exist.
"""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status

from opsdesk.changes import induced, metrics, reviews
from opsdesk.changes.models import Change, InducedLink, PostImplementationReview
from opsdesk.changes.schemas_induced import (
    DismissIn,
    InducedLinkOut,
    LinkByHandIn,
    MetricsOut,
    MetricsQuery,
    ReviewOut,
    ReviewPatch,
)
from opsdesk.changes.selectors import access_change
from opsdesk.core.api import ERROR_RESPONSES, ObjectId
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access, access_organization
from opsdesk.servicedesk.models import Incident
from opsdesk.servicedesk.selectors import access_incident

router = Router(tags=["Changes: reviews, induced incidents, metrics"])


def _review_out(review: PostImplementationReview) -> dict[str, Any]:
    change = review.change
    return {
        "id": review.pk,
        "organization_id": review.organization_id,
        "change_id": change.pk,
        "change_number": change.number,
        "state": review.state,
        "required": reviews.review_required(change),
        "required_reason": reviews.required_reason(change),
        "required_fields": list(reviews.required_fields(change)),
        **{name: getattr(review, name) for name in reviews.REVIEW_FIELDS},
        "completed_by_id": review.completed_by_id,
        "completed_at": review.completed_at,
        "created_at": review.created_at,
        "updated_at": review.updated_at,
    }


def _review(user: Any, change_id: int) -> PostImplementationReview:
    return reviews.access_review(user, access_change(user, change_id))


# --- reviews -------------------------------------------------------------------------------


@router.get(
    "/changes/{change_id}/review",
    response={200: ReviewOut, **ERROR_RESPONSES},
    summary="The change's post-implementation review (404 when it has none)",
)
def get_review(request: HttpRequest, change_id: ObjectId):  # type: ignore[no-untyped-def]
    return _review_out(_review(request.auth, change_id))


@router.post(
    "/changes/{change_id}/review",
    response={201: ReviewOut, **ERROR_RESPONSES},
    summary="Start an optional review of a change that has been implemented",
)
def start_review(request: HttpRequest, change_id: ObjectId):  # type: ignore[no-untyped-def]
    change = access_change(request.auth, change_id)
    return Status(201, _review_out(reviews.start_review(acting_user=request.auth, change=change)))


@router.patch(
    "/changes/{change_id}/review",
    response={200: ReviewOut, **ERROR_RESPONSES},
    summary="Fill in or edit an open review",
)
def update_review(request: HttpRequest, change_id: ObjectId, payload: ReviewPatch):  # type: ignore[no-untyped-def]
    review = _review(request.auth, change_id)
    fields = payload.dict(exclude_unset=True)
    nulls = sorted(name for name, value in fields.items() if value is None)
    if nulls:
        raise FieldError({name: "Give text (empty to clear), not null." for name in nulls})
    return _review_out(reviews.update_review(acting_user=request.auth, review=review, **fields))


@router.post(
    "/changes/{change_id}/review/complete",
    response={200: ReviewOut, **ERROR_RESPONSES},
    summary="Complete the review (a 422 names each required field still empty)",
)
def complete_review(request: HttpRequest, change_id: ObjectId):  # type: ignore[no-untyped-def]
    review = _review(request.auth, change_id)
    return _review_out(reviews.complete_review(acting_user=request.auth, review=review))


# --- change-induced incidents --------------------------------------------------------------


@router.get(
    "/incidents/{incident_id}/induced",
    response={200: list[InducedLinkOut], **ERROR_RESPONSES},
    summary="Changes and deployments suggested (or confirmed) as the cause of the incident",
)
def incident_induced(request: HttpRequest, incident_id: ObjectId):  # type: ignore[no-untyped-def]
    incident = access_incident(request.auth, incident_id)
    if not has_permission(request.auth, InducedLink, Action.VIEW, incident.organization_id):
        raise PermissionDenied("Your role may not read change-induced incidents.")
    return list(induced.links_for_incident(request.auth, incident))


@router.get(
    "/changes/{change_id}/induced",
    response={200: list[InducedLinkOut], **ERROR_RESPONSES},
    summary="Incidents suggested (or confirmed) as caused by the change or its deployments",
)
def change_induced(request: HttpRequest, change_id: ObjectId):  # type: ignore[no-untyped-def]
    change = access_change(request.auth, change_id)
    return list(induced.links_for_change(request.auth, change))


@router.post(
    "/changes/{change_id}/induced",
    response={201: InducedLinkOut, **ERROR_RESPONSES},
    summary="Link an incident to the change that caused it, by hand (confirmed at once)",
)
def link_induced(request: HttpRequest, change_id: ObjectId, payload: LinkByHandIn):  # type: ignore[no-untyped-def]
    change = access_change(request.auth, change_id)
    incident = (
        Incident.objects.restrict(request.auth, Action.VIEW)
        .filter(pk=payload.incident_id, organization_id=change.organization_id)
        .first()
    )
    if incident is None:
        raise FieldError({"incident_id": "No incident of this organisation has this id."})
    link = induced.link_induced(acting_user=request.auth, incident=incident, change=change)
    return Status(201, link)


def _link(user: Any, link_id: int) -> InducedLink:
    return access(induced.links(user), link_id, "induced-incident link")


@router.post(
    "/induced-links/{link_id}/confirm",
    response={200: InducedLinkOut, **ERROR_RESPONSES},
    summary="Confirm that the change (or deployment) caused the incident",
)
def confirm_link(request: HttpRequest, link_id: ObjectId):  # type: ignore[no-untyped-def]
    link = _link(request.auth, link_id)
    return induced.confirm_induced(acting_user=request.auth, link=link)


@router.post(
    "/induced-links/{link_id}/dismiss",
    response={200: InducedLinkOut, **ERROR_RESPONSES},
    summary="Dismiss a suggestion (or undo a confirmation), with the reason",
)
def dismiss_link(request: HttpRequest, link_id: ObjectId, payload: DismissIn):  # type: ignore[no-untyped-def]
    link = _link(request.auth, link_id)
    return induced.dismiss_induced(acting_user=request.auth, link=link, reason=payload.reason)


# --- metrics -------------------------------------------------------------------------------


@router.get(
    "/change-metrics",
    response={200: MetricsOut, **ERROR_RESPONSES},
    summary="Change success rate and change-induced incident rate per service, team, month or type",
)
def change_metrics(request: HttpRequest, query: Query[MetricsQuery]):  # type: ignore[no-untyped-def]
    org = access_organization(request.auth, query.organization_id)
    if not has_permission(request.auth, Change, Action.VIEW, org.pk):
        raise PermissionDenied("Your role may not read the changes of this organisation.")
    zone = org.time_zone or "UTC"
    first, last = metrics.default_period(zone)
    start = query.from_ or (first if query.to is None else query.to.replace(day=1))
    end = query.to or last
    if end < start:
        raise FieldError({"to": "The last day must not be before the first."})
    if (end - start).days > 3 * 366:
        raise FieldError({"to": "At most three years at a time."})
    return metrics.change_metrics(org.pk, start, end, query.by, zone).as_dict()
