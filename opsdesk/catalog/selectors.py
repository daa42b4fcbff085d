"""Reads of the catalogue and of service requests, always restricted to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from opsdesk.catalog.choices import ApprovalState
from opsdesk.catalog.models import (
    Approval,
    CatalogItem,
    FulfilmentTask,
    RequestItem,
    ServiceRequest,
)
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access


def catalog_items(
    user: Any,
    *,
    organization: int | None = None,
    category: str | None = None,
    active: bool | None = None,
    q: str | None = None,
) -> QuerySet[CatalogItem]:
    qs = CatalogItem.objects.restrict(user, Action.VIEW)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if category:
        qs = qs.filter(category=category)
    if active is not None:
        qs = qs.filter(active=active)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return qs.order_by("category", "name", "pk")


def access_catalog_item(user: Any, item_id: int, action: str = Action.VIEW) -> CatalogItem:
    return access(CatalogItem.objects.restrict(user, action), item_id, "catalogue item")


def requests_for_user(
    user: Any,
    *,
    organization: int | None = None,
    state: str | None = None,
    requester: int | None = None,
    mine: bool = False,
    q: str | None = None,
) -> QuerySet[ServiceRequest]:
    qs = ServiceRequest.objects.restrict(user, Action.VIEW).select_related("requester")
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if state:
        qs = qs.filter(state=state)
    if requester is not None:
        qs = qs.filter(requester_id=requester)
    if mine:
        qs = qs.filter(Q(requester_id=user.pk) | Q(opened_by_id=user.pk))
    if q:
        qs = qs.filter(Q(number__iexact=q) | Q(title__icontains=q))
    return qs.order_by("-opened_at", "-pk")


def access_request(user: Any, request_id: int, action: str = Action.VIEW) -> ServiceRequest:
    return access(
        ServiceRequest.objects.restrict(user, action).select_related("requester", "opened_by"),
        request_id,
        "request",
    )


def request_items(user: Any, request: ServiceRequest) -> QuerySet[RequestItem]:
    return (
        RequestItem.objects.restrict(user)
        .filter(request=request)
        .select_related("catalog_item")
        .prefetch_related(
            Prefetch("approvals", queryset=Approval.objects.select_related("approver")),
            Prefetch(
                "tasks",
                queryset=FulfilmentTask.objects.restrict(user).select_related("team", "assignee"),
            ),
        )
        .order_by("pk")
    )


def approvals_for_user(
    user: Any, *, pending: bool = True, organization: int | None = None
) -> QuerySet[Approval]:
    """The approvals `user` is asked for (pending ones by default), oldest first."""
    qs = (
        Approval.objects.restrict(user)
        .filter(approver_id=user.pk)
        .select_related("item__catalog_item", "item__requester", "request")
    )
    if pending:
        qs = qs.filter(state=ApprovalState.REQUESTED)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    return qs.order_by("requested_at", "pk")


def access_approval(user: Any, approval_id: int) -> Approval:
    return access(
        Approval.objects.restrict(user).select_related("item", "request"), approval_id, "approval"
    )


def tasks_for_user(
    user: Any,
    *,
    organization: int | None = None,
    mine: bool = False,
    my_teams: bool = False,
    state: str | None = None,
    open_only: bool = False,
    team: int | None = None,
) -> QuerySet[FulfilmentTask]:
    from opsdesk.catalog.choices import OPEN_TASK_STATES

    qs = FulfilmentTask.objects.restrict(user).select_related(
        "team", "assignee", "item__catalog_item", "item__request", "item__requester"
    )
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if mine:
        qs = qs.filter(assignee_id=user.pk)
    if my_teams:
        qs = qs.filter(team__members=user)
    if team is not None:
        qs = qs.filter(team_id=team)
    if state:
        qs = qs.filter(state=state)
    elif open_only:
        qs = qs.filter(state__in=OPEN_TASK_STATES)
    return qs.order_by("opened_at", "pk")


def access_task(user: Any, task_id: int, action: str = Action.VIEW) -> FulfilmentTask:
    return access(
        FulfilmentTask.objects.restrict(user, action).select_related("team", "item"),
        task_id,
        "task",
    )


def categories(user: Any, organization: int) -> list[str]:
    return sorted(
        set(
            catalog_items(user, organization=organization, active=True)
            .exclude(category="")
            .values_list("category", flat=True)
        )
    )
