"""API operations of notifications and mail in: my preferences, the outbox, chat webhooks,
received mail."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import Team
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.notify import actions, rendering, selectors
from opsdesk.notify.choices import Event
from opsdesk.notify.schemas import (
    InboundFilter,
    InboundOut,
    NotificationFilter,
    NotificationOut,
    PreferenceOut,
    PreferencesIn,
    PreviewIn,
    PreviewOut,
    TemplateFilter,
    TemplateIn,
    TemplateOut,
    WebhookFilter,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)

router = Router(tags=["Notifications"])


def _preferences(user: Any) -> list[dict[str, Any]]:
    labels = dict(Event.choices)
    return [
        {"event": event, "label": labels[event], **channels}
        for event, channels in actions.preferences_of(user).items()
    ]


@router.get(
    "/notification-preferences",
    response={200: list[PreferenceOut], **ERROR_RESPONSES},
    summary="My notification preferences: per event, email and being named in chat posts",
)
def get_preferences(request: HttpRequest):  # type: ignore[no-untyped-def]
    return _preferences(request.auth)


@router.put(
    "/notification-preferences",
    response={200: list[PreferenceOut], **ERROR_RESPONSES},
    summary="Change my notification preferences (events not given are left as they are)",
)
def put_preferences(request: HttpRequest, payload: PreferencesIn):  # type: ignore[no-untyped-def]
    changes: dict[str, dict[str, bool]] = {}
    for item in payload.preferences:
        channels = {k: v for k, v in (("email", item.email), ("chat", item.chat)) if v is not None}
        changes.setdefault(item.event, {}).update(channels)
    actions.set_preferences(acting_user=request.auth, changes=changes)
    return _preferences(request.auth)


# --- the outbox ----------------------------------------------------------------------------


@router.get(
    "/notifications",
    response={200: list[NotificationOut], **ERROR_RESPONSES},
    summary="The outbox: notifications sent, pending and failed (managers and admins)",
)
@paginate(Paginated)
def list_notifications(request: HttpRequest, filters: Query[NotificationFilter]):  # type: ignore[no-untyped-def]
    return selectors.notifications(request.auth, **filters.dict())


@router.post(
    "/notifications/{notification_id}/retry",
    response={200: NotificationOut, **ERROR_RESPONSES},
    summary="Send a failed notification again now",
)
def retry_notification(request: HttpRequest, notification_id: int):  # type: ignore[no-untyped-def]
    row = selectors.access_notification(request.auth, notification_id, Action.CHANGE)
    actions.retry_notification(acting_user=request.auth, notification=row)
    return selectors.access_notification(request.auth, notification_id)


# --- chat webhooks -------------------------------------------------------------------------


def _team(user: Any, organization_id: int, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    team = Team.objects.restrict(user).filter(pk=team_id, organization_id=organization_id).first()
    if team is None:
        raise FieldError({"team_id": "No team of this organisation has this id."})
    return team


@router.get(
    "/chat-webhooks",
    response={200: list[WebhookOut], **ERROR_RESPONSES},
    summary="Slack and Microsoft Teams incoming webhooks (URLs masked)",
)
@paginate(Paginated)
def list_webhooks(request: HttpRequest, filters: Query[WebhookFilter]):  # type: ignore[no-untyped-def]
    return selectors.webhooks(request.auth, **filters.dict()).order_by("name", "pk")


@router.post(
    "/chat-webhooks",
    response={201: WebhookOut, **ERROR_RESPONSES},
    summary="Add a chat webhook (events empty: every event)",
)
def create_webhook(request: HttpRequest, payload: WebhookIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    hook = actions.create_webhook(
        acting_user=user,
        organization=org,
        name=payload.name,
        kind=payload.kind,
        url=payload.url,
        events=[str(e) for e in payload.events],
        team=_team(user, org.pk, payload.team_id),
        is_active=payload.is_active,
    )
    return Status(201, hook)


@router.patch(
    "/chat-webhooks/{webhook_id}",
    response={200: WebhookOut, **ERROR_RESPONSES},
    summary="Change a chat webhook",
)
def update_webhook(request: HttpRequest, webhook_id: int, payload: WebhookPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    hook = selectors.access_webhook(user, webhook_id)
    changes = payload.dict(exclude_unset=True)
    if "team_id" in changes:
        changes["team"] = _team(user, hook.organization_id, changes.pop("team_id"))
    if "events" in changes:
        changes["events"] = [str(e) for e in changes["events"] or []]
    for name in ("name", "kind", "url", "is_active"):
        if name in changes and changes[name] is None:
            raise FieldError({name: "Cannot be null."})
    return actions.update_webhook(acting_user=user, webhook=hook, **changes)


@router.delete(
    "/chat-webhooks/{webhook_id}",
    response={204: None, **ERROR_RESPONSES},
    summary="Remove a chat webhook",
)
def delete_webhook(request: HttpRequest, webhook_id: int):  # type: ignore[no-untyped-def]
    hook = selectors.access_webhook(request.auth, webhook_id)
    actions.delete_webhook(acting_user=request.auth, webhook=hook)
    return Status(204, None)


# --- templates -----------------------------------------------------------------------------


@router.get(
    "/notification-templates",
    response={200: list[TemplateOut], **ERROR_RESPONSES},
    summary="The organisations' own wording of notifications (the built-in one applies otherwise)",
)
@paginate(Paginated)
def list_templates(request: HttpRequest, filters: Query[TemplateFilter]):  # type: ignore[no-untyped-def]
    return selectors.templates(request.auth, **filters.dict())


@router.put(
    "/notification-templates",
    response={200: TemplateOut, **ERROR_RESPONSES},
    summary="Set an organisation's wording of one event on one channel; a template that does "
    "not render is refused (422 naming subject or body)",
)
def put_template(request: HttpRequest, payload: TemplateIn):  # type: ignore[no-untyped-def]
    org = access_organization(request.auth, payload.organization_id)
    return actions.save_template(
        acting_user=request.auth,
        organization=org,
        event=payload.event,
        channel=payload.channel,
        subject=payload.subject,
        body=payload.body,
    )


@router.post(
    "/notification-templates/preview",
    response={200: PreviewOut, **ERROR_RESPONSES},
    summary="Render a subject and body with sample ticket data, as the editor's preview does",
)
def preview_template(request: HttpRequest, payload: PreviewIn):  # type: ignore[no-untyped-def]
    return rendering.preview(payload.subject, payload.body)


# --- mail in -------------------------------------------------------------------------------


@router.get(
    "/inbound-mail",
    response={200: list[InboundOut], **ERROR_RESPONSES},
    summary="Mail received by the service desk, with what became of it (managers and admins)",
)
@paginate(Paginated)
def list_inbound_mail(request: HttpRequest, filters: Query[InboundFilter]):  # type: ignore[no-untyped-def]
    return selectors.inbound_mail(request.auth, **filters.dict())


@router.post(
    "/inbound-mail/{mail_id}/reprocess",
    response={200: InboundOut, **ERROR_RESPONSES},
    summary="Process a received message again (after fixing what kept it for review)",
)
def reprocess_inbound_mail(request: HttpRequest, mail_id: int):  # type: ignore[no-untyped-def]
    mail = selectors.access_mail(request.auth, mail_id, Action.CHANGE)
    actions.reprocess_mail(acting_user=request.auth, mail=mail)
    return selectors.access_mail(request.auth, mail_id)
