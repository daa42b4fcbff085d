"""Reads of notifications and mail in, always restricted to what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.db.models.functions import Length

from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access
from opsdesk.notify.models import ChatWebhook, InboundMail, Notification, NotificationTemplate


def notifications(user: Any, action: str = Action.VIEW, **filters: Any) -> QuerySet[Notification]:
    qs = Notification.objects.restrict(user, action).select_related("webhook", "recipient")
    return _filter(qs, filters).order_by("-created_at", "-id")


def webhooks(user: Any, action: str = Action.VIEW, **filters: Any) -> QuerySet[ChatWebhook]:
    return _filter(ChatWebhook.objects.restrict(user, action).select_related("team"), filters)


def templates(user: Any, action: str = Action.VIEW, **filters: Any) -> QuerySet:
    qs = NotificationTemplate.objects.restrict(user, action)
    return _filter(qs, filters).order_by("organization_id", "event", "channel", "pk")


def inbound_mail(user: Any, action: str = Action.VIEW, **filters: Any) -> QuerySet[InboundMail]:
    """Mail the user may see; mail that reached no organisation only for platform admins
    (`restrict` leaves those rows to superusers)."""
    qs = (
        InboundMail.objects.restrict(user, action)
        .select_related("incident")
        .defer("raw")
        .annotate(size=Length("raw"))
    )
    return _filter(qs, filters).order_by("-received_at", "-id")


def _filter(qs: QuerySet, filters: dict[str, Any]) -> QuerySet:
    for name, value in filters.items():
        if value is None or value == "":
            continue
        qs = qs.filter(**{"organization_id" if name == "organization" else name: value})
    return qs


def access_notification(user: Any, pk: int, action: str = Action.VIEW) -> Notification:
    return access(notifications(user, action), pk, "notification")


def access_webhook(user: Any, pk: int, action: str = Action.VIEW) -> ChatWebhook:
    return access(webhooks(user, action), pk, "chat webhook")


def access_mail(user: Any, pk: int, action: str = Action.VIEW) -> InboundMail:
    return access(
        InboundMail.objects.restrict(user, action)
        .select_related("incident")
        .annotate(size=Length("raw")),
        pk,
        "inbound mail",
    )
