"""API routes of alert groups and alerts: lists, a group with its alerts, decisions, root
causes and timeline, and the operators' merge, split and resolve.

Every route reaches its objects through restricted reads: another organisation's group or
alert is a 404, as if it did not exist; writes go through `opsdesk.events.group_actions`
(permission-checked, atomic, audited)."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.core.api import ERROR_RESPONSES, ObjectId, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.events import group_actions, selectors
from opsdesk.events.models import Alert, AlertGroup
from opsdesk.events.schemas import (
    AlertFilterIn,
    AlertGroupDetailOut,
    AlertGroupOut,
    AlertOut,
    GroupFilterIn,
    MergeIn,
    ResolveIn,
    SplitIn,
)

router = Router(tags=["Alert groups and alerts"])


@router.get(
    "/alert-groups",
    response={200: list[AlertGroupOut], **ERROR_RESPONSES},
    summary="Alert groups, latest activity first; filter by state, service, severity, text",
)
@paginate(Paginated)
def list_groups(request: HttpRequest, filters: Query[GroupFilterIn]):  # type: ignore[no-untyped-def]
    return selectors.groups_for(request.auth, **filters.dict())


@router.get(
    "/alert-groups/{group_id}",
    response={200: AlertGroupDetailOut, **ERROR_RESPONSES},
    summary="An alert group with its alerts, correlation decisions, root causes and timeline",
)
def get_group(request: HttpRequest, group_id: ObjectId):  # type: ignore[no-untyped-def]
    return selectors.group_for(request.auth, group_id)


def _fresh(user: Any, group: AlertGroup) -> AlertGroup:
    return selectors.group_for(user, group.pk)


@router.post(
    "/alert-groups/{group_id}/merge",
    response={200: AlertGroupDetailOut, **ERROR_RESPONSES},
    summary="Fold other groups (their alerts and history) into this one; duplicate incidents "
    "are resolved",
)
def merge(request: HttpRequest, group_id: ObjectId, payload: MergeIn):  # type: ignore[no-untyped-def]
    user = request.auth
    target = selectors.group_for(user, group_id)
    ids = list(dict.fromkeys(payload.group_ids))
    others = {
        g.pk: g
        for g in AlertGroup.objects.restrict(user, Action.VIEW).filter(
            pk__in=ids, organization_id=target.organization_id
        )
    }
    missing = [str(i) for i in ids if i not in others]
    if missing:
        raise FieldError(
            {"group_ids": f"No alert group of this organisation has id {', '.join(missing)}."}
        )
    group_actions.merge_groups(
        acting_user=user, target=target, others=[others[i] for i in ids], note=payload.note
    )
    return _fresh(user, target)


@router.post(
    "/alert-groups/{group_id}/split",
    response={201: AlertGroupDetailOut, **ERROR_RESPONSES},
    summary="Move some alerts of this group into a new group (with its own incident if "
    "warranted); answers the new group",
)
def split(request: HttpRequest, group_id: ObjectId, payload: SplitIn):  # type: ignore[no-untyped-def]
    user = request.auth
    group = selectors.group_for(user, group_id)
    ids = list(dict.fromkeys(payload.alert_ids))
    alerts = {a.pk: a for a in Alert.objects.filter(group=group, pk__in=ids)}
    missing = [str(i) for i in ids if i not in alerts]
    if missing:
        raise FieldError({"alert_ids": f"Not alerts of {group.number}: {', '.join(missing)}."})
    new = group_actions.split_group(
        acting_user=user, group=group, alerts=[alerts[i] for i in ids], note=payload.note
    )
    return Status(201, _fresh(user, new))


@router.post(
    "/alert-groups/{group_id}/resolve",
    response={200: AlertGroupDetailOut, **ERROR_RESPONSES},
    summary="Resolve an open group by hand, and its incident",
)
def resolve(request: HttpRequest, group_id: ObjectId, payload: ResolveIn):  # type: ignore[no-untyped-def]
    user = request.auth
    group = selectors.group_for(user, group_id)
    group_actions.resolve_group(acting_user=user, group=group, note=payload.note)
    return _fresh(user, group)


@router.get(
    "/alerts",
    response={200: list[AlertOut], **ERROR_RESPONSES},
    summary="Alerts (deduplicated events), last seen first; unbound=true lists those no CI "
    "was found for",
)
@paginate(Paginated)
def list_alerts(request: HttpRequest, filters: Query[AlertFilterIn]):  # type: ignore[no-untyped-def]
    return selectors.alerts_for(request.auth, **filters.dict())
