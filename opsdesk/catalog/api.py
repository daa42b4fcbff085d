"""API routes of the service catalogue, service requests, approvals and fulfilment tasks.

Transitions are explicit operations (``POST /requests/{id}/cancel``,
``POST /approvals/{id}/approve``, ``POST /tasks/{id}/complete`` ...) that call the same
actions, and so obey the same declared workflows, as the web pages.
"""

from typing import Any

from django.db.models import Q
from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import User
from opsdesk.catalog import actions, selectors
from opsdesk.catalog.models import RequestItem, ServiceRequest
from opsdesk.catalog.schemas import (
    ActivityOut,
    ApprovalFilter,
    ApprovalOut,
    AssignIn,
    CatalogFilter,
    CatalogItemIn,
    CatalogItemOut,
    CatalogItemPatch,
    CommentIn,
    CompleteIn,
    DecisionIn,
    ReasonIn,
    RequestDetailOut,
    RequestFilter,
    RequestIn,
    RequestItemOut,
    RequestOut,
    TaskFilter,
    TaskOut,
)
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError, NotFound
from opsdesk.core.selectors import access_organization
from opsdesk.servicedesk.actions import add_comment
from opsdesk.servicedesk.choices import SubjectType
from opsdesk.servicedesk.models import Activity

router = Router(tags=["Catalogue and requests"])


def request_timeline(user: Any, request: ServiceRequest) -> Any:
    """The timeline of a request and of its items, as `user` may read it (requesters: the
    public entries), oldest first."""
    item_ids = list(RequestItem.objects.filter(request=request).values_list("pk", flat=True))
    return (
        Activity.objects.restrict(user)
        .filter(
            Q(subject_type=SubjectType.REQUEST, subject_id=request.pk)
            | Q(subject_type=SubjectType.REQUEST_ITEM, subject_id__in=item_ids)
        )
        .order_by("at", "id")
    )


def _request_detail(user: Any, request_id: int) -> dict[str, Any]:
    request = selectors.access_request(user, request_id)
    data = RequestOut.from_orm(request).dict()
    data["items"] = list(selectors.request_items(user, request))
    data["timeline"] = list(request_timeline(user, request))
    return data


# --- Catalogue ------------------------------------------------------------------------------------


@router.get(
    "/catalog/items",
    response={200: list[CatalogItemOut], **ERROR_RESPONSES},
    summary="Catalogue items, filtered by organisation, category, active, text",
)
@paginate(Paginated)
def list_catalog_items(request: HttpRequest, filters: Query[CatalogFilter]):  # type: ignore[no-untyped-def]
    return selectors.catalog_items(request.auth, **filters.dict())


@router.post(
    "/catalog/items",
    response={201: CatalogItemOut, **ERROR_RESPONSES},
    summary="Create a catalogue item with its form, approval steps and fulfilment tasks",
)
def create_catalog_item(request: HttpRequest, payload: CatalogItemIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    data = payload.dict()
    data.pop("organization_id")
    item = actions.create_catalog_item(acting_user=user, organization=org, **data)
    return Status(201, item)


@router.get("/catalog/items/{item_id}", response={200: CatalogItemOut, **ERROR_RESPONSES})
def get_catalog_item(request: HttpRequest, item_id: int):  # type: ignore[no-untyped-def]
    return selectors.access_catalog_item(request.auth, item_id)


@router.patch(
    "/catalog/items/{item_id}",
    response={200: CatalogItemOut, **ERROR_RESPONSES},
    summary="Change a catalogue item (requests already made keep the definition they had)",
)
def update_catalog_item(request: HttpRequest, item_id: int, payload: CatalogItemPatch):  # type: ignore[no-untyped-def]
    item = selectors.access_catalog_item(request.auth, item_id)
    return actions.update_catalog_item(
        acting_user=request.auth, item=item, **payload.dict(exclude_unset=True)
    )


# --- Requests -------------------------------------------------------------------------------------


@router.get(
    "/requests",
    response={200: list[RequestOut], **ERROR_RESPONSES},
    summary="Service requests (requesters: their own), filtered by state, requester, text",
)
@paginate(Paginated)
def list_requests(request: HttpRequest, filters: Query[RequestFilter]):  # type: ignore[no-untyped-def]
    return selectors.requests_for_user(request.auth, **filters.dict())


@router.post(
    "/requests",
    response={201: RequestDetailOut, **ERROR_RESPONSES},
    summary="Order catalogue items; answers are checked against each item's form "
    "(errors name items.N.answers.FIELD)",
)
def create_request(request: HttpRequest, payload: RequestIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    lines = []
    for index, line in enumerate(payload.items):
        try:
            item = selectors.access_catalog_item(user, line.catalog_item_id)
        except NotFound as exc:
            raise NotFound(f"items.{index}.catalog_item_id: {exc.detail}") from exc
        lines.append({"catalog_item": item, "answers": line.answers, "quantity": line.quantity})
    requested_for = None
    if payload.requested_for_id is not None:
        requested_for = User.objects.filter(
            pk=payload.requested_for_id, memberships__organization=org
        ).first()
        if requested_for is None:
            raise FieldError({"requested_for_id": "No member of this organisation has this id."})
    made = actions.submit_request(
        acting_user=user, organization=org, items=lines, requested_for=requested_for
    )
    return Status(201, _request_detail(user, made.pk))


@router.get(
    "/requests/{request_id}",
    response={200: RequestDetailOut, **ERROR_RESPONSES},
    summary="A request with its items, their approvals and tasks, and the timeline",
)
def get_request(request: HttpRequest, request_id: int):  # type: ignore[no-untyped-def]
    return _request_detail(request.auth, request_id)


@router.post(
    "/requests/{request_id}/cancel",
    response={200: RequestDetailOut, **ERROR_RESPONSES},
    summary="Cancel an open request (reason required): its items, approvals and tasks too",
)
def cancel_request(request: HttpRequest, request_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    user = request.auth
    found = selectors.access_request(user, request_id)
    actions.cancel_request(acting_user=user, request=found, reason=payload.reason)
    return _request_detail(user, found.pk)


@router.get(
    "/requests/{request_id}/items",
    response={200: list[RequestItemOut], **ERROR_RESPONSES},
    summary="The items of a request with their approvals and tasks",
)
@paginate(Paginated)
def list_request_items(request: HttpRequest, request_id: int):  # type: ignore[no-untyped-def]
    found = selectors.access_request(request.auth, request_id)
    return selectors.request_items(request.auth, found)


@router.post(
    "/requests/{request_id}/comments",
    response={201: ActivityOut, **ERROR_RESPONSES},
    summary="Comment on a request (public), or add a work note (agents)",
)
def comment_request(request: HttpRequest, request_id: int, payload: CommentIn):  # type: ignore[no-untyped-def]
    user = request.auth
    found = selectors.access_request(user, request_id)
    entry = add_comment(acting_user=user, subject=found, body=payload.body, public=payload.public)
    return Status(201, entry)


# --- Approvals ------------------------------------------------------------------------------------


@router.get(
    "/approvals",
    response={200: list[ApprovalOut], **ERROR_RESPONSES},
    summary="The approvals waiting for my decision",
)
@paginate(Paginated)
def list_approvals(request: HttpRequest, filters: Query[ApprovalFilter]):  # type: ignore[no-untyped-def]
    return selectors.approvals_for_user(request.auth, organization=filters.organization)


@router.post(
    "/approvals/{approval_id}/approve",
    response={200: ApprovalOut, **ERROR_RESPONSES},
    summary="Approve (the next step is asked, or the item goes to fulfilment)",
)
def approve(request: HttpRequest, approval_id: int, payload: DecisionIn):  # type: ignore[no-untyped-def]
    found = selectors.access_approval(request.auth, approval_id)
    return actions.decide_approval(
        acting_user=request.auth, approval=found, approve=True, comment=payload.comment
    )


@router.post(
    "/approvals/{approval_id}/reject",
    response={200: ApprovalOut, **ERROR_RESPONSES},
    summary="Reject (comment required): the item is rejected",
)
def reject(request: HttpRequest, approval_id: int, payload: DecisionIn):  # type: ignore[no-untyped-def]
    found = selectors.access_approval(request.auth, approval_id)
    return actions.decide_approval(
        acting_user=request.auth, approval=found, approve=False, comment=payload.comment
    )


# --- Tasks ----------------------------------------------------------------------------------------


@router.get(
    "/tasks",
    response={200: list[TaskOut], **ERROR_RESPONSES},
    summary="Fulfilment tasks: mine, my teams', by team or state",
)
@paginate(Paginated)
def list_tasks(request: HttpRequest, filters: Query[TaskFilter]):  # type: ignore[no-untyped-def]
    return selectors.tasks_for_user(request.auth, **filters.dict())


@router.post(
    "/tasks/{task_id}/assign",
    response={200: TaskOut, **ERROR_RESPONSES},
    summary="Assign a task to a member of its team (null: unassign)",
)
def assign_task(request: HttpRequest, task_id: int, payload: AssignIn):  # type: ignore[no-untyped-def]
    user = request.auth
    task = selectors.access_task(user, task_id)
    assignee = None
    if payload.assignee_id is not None:
        assignee = User.objects.filter(
            pk=payload.assignee_id, memberships__organization_id=task.organization_id
        ).first()
        if assignee is None:
            raise FieldError({"assignee_id": "No member of this organisation has this id."})
    return actions.assign_task(acting_user=user, task=task, assignee=assignee)


@router.post("/tasks/{task_id}/start", response={200: TaskOut, **ERROR_RESPONSES})
def start_task(request: HttpRequest, task_id: int):  # type: ignore[no-untyped-def]
    task = selectors.access_task(request.auth, task_id)
    return actions.transition_task(acting_user=request.auth, task=task, transition="start")


@router.post(
    "/tasks/{task_id}/complete",
    response={200: TaskOut, **ERROR_RESPONSES},
    summary="Complete a task; the item's last task fulfils the item",
)
def complete_task(request: HttpRequest, task_id: int, payload: CompleteIn):  # type: ignore[no-untyped-def]
    task = selectors.access_task(request.auth, task_id)
    return actions.transition_task(
        acting_user=request.auth, task=task, transition="complete", notes=payload.notes
    )


@router.post(
    "/tasks/{task_id}/cancel",
    response={200: TaskOut, **ERROR_RESPONSES},
    summary="Cancel a task (reason required)",
)
def cancel_task(request: HttpRequest, task_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    task = selectors.access_task(request.auth, task_id)
    return actions.transition_task(
        acting_user=request.auth, task=task, transition="cancel", reason=payload.reason
    )
