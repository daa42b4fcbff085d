"""Web pages of notifications and mail in: my preferences, templates with a live preview,
chat webhooks, the outbox and the inbound-mail review list.

Every page is scoped to the current organisation (``request.organization``) and calls the
same selectors and actions as the API.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.notify import actions, rendering, selectors
from opsdesk.notify.choices import Event, TemplateChannel
from opsdesk.notify.forms import (
    InboundFilterForm,
    OutboxFilterForm,
    TemplateForm,
    WebhookForm,
    add_action_error,
)
from opsdesk.notify.inbound import body_text
from opsdesk.notify.models import ChatWebhook, InboundMail, Notification, NotificationTemplate

PAGE_SIZE = 50


def _org(request: HttpRequest) -> Any:
    org = getattr(request, "organization", None)
    if org is None:
        raise Http404("Choose an organisation first.")
    return org


def _can(request: HttpRequest, model: type, action: str) -> bool:
    return has_permission(request.user, model, action, _org(request).pk)


def _nav(request: HttpRequest) -> dict[str, bool]:
    org = getattr(request, "organization", None)
    if org is None:
        return {}
    user = request.user
    return {
        "can_templates": has_permission(user, NotificationTemplate, Action.VIEW, org.pk),
        "can_webhooks": has_permission(user, ChatWebhook, Action.VIEW, org.pk),
        "can_outbox": has_permission(user, Notification, Action.VIEW, org.pk),
        "can_inbound": has_permission(user, InboundMail, Action.VIEW, org.pk),
    }


def _page(request: HttpRequest, qs: Any) -> Any:
    return Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))


def _denied(exc: PermissionDenied) -> DjangoPermissionDenied:
    return DjangoPermissionDenied(exc.detail)


# --- my preferences ------------------------------------------------------------------------


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        changes = {
            event: {
                "email": request.POST.get(f"{event}-email") == "on",
                "chat": request.POST.get(f"{event}-chat") == "on",
            }
            for event in Event.values
        }
        actions.set_preferences(acting_user=request.user, changes=changes)
        messages.success(request, "Your notification preferences are saved.")
        return HttpResponseRedirect(reverse("notify-preferences"))
    current = actions.preferences_of(request.user)
    rows = [{"event": event, "label": label, **current[event]} for event, label in Event.choices]
    return render(request, "notify/preferences.html", {"rows": rows, **_nav(request)})


# --- templates -----------------------------------------------------------------------------


@login_required
def template_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, NotificationTemplate, Action.VIEW):
        raise DjangoPermissionDenied("Managers and admins see the notification templates.")
    own = {(t.event, t.channel): t for t in NotificationTemplate.objects.filter(organization=org)}
    rows = [
        {
            "event": event,
            "label": label,
            "channel": channel,
            "channel_label": channel_label,
            "custom": (event, channel) in own,
            "wording": rendering.wording_for(org.pk, event, channel),
        }
        for event, label in Event.choices
        for channel, channel_label in TemplateChannel.choices
    ]
    context = {"rows": rows, "can_edit": _can(request, NotificationTemplate, Action.CHANGE)}
    return render(request, "notify/templates.html", {**context, **_nav(request)})


@login_required
def template_edit(request: HttpRequest, event: str, channel: str) -> HttpResponse:
    org = _org(request)
    if event not in Event.values or channel not in TemplateChannel.values:
        raise Http404("No such template.")
    if not _can(request, NotificationTemplate, Action.CHANGE):
        raise DjangoPermissionDenied("Only admins edit notification templates.")
    own = NotificationTemplate.objects.filter(
        organization=org, event=event, channel=channel
    ).first()
    wording = rendering.wording_for(org.pk, event, channel)
    status = 200
    if request.method == "POST" and request.POST.get("reset") and own is not None:
        try:
            actions.reset_template(acting_user=request.user, template=own)
        except PermissionDenied as exc:
            raise _denied(exc) from exc
        messages.success(request, "The template is back to the default wording.")
        return HttpResponseRedirect(reverse("notify-templates"))
    if request.method == "POST":
        form = TemplateForm(request.POST)
        if form.is_valid():
            try:
                actions.save_template(
                    acting_user=request.user,
                    organization=org,
                    event=event,
                    channel=channel,
                    subject=form.cleaned_data["subject"],
                    body=form.cleaned_data["body"],
                )
            except (FieldError, Conflict) as exc:
                add_action_error(form, exc)
            except PermissionDenied as exc:
                raise _denied(exc) from exc
            else:
                messages.success(request, "Template saved.")
                return HttpResponseRedirect(reverse("notify-templates"))
        status = 422
    else:
        form = TemplateForm(initial={"subject": wording.subject, "body": wording.body})
    subject = form["subject"].value() or ""
    body = form["body"].value() or ""
    context = {
        "form": form,
        "event": event,
        "event_label": Event(event).label,
        "channel": channel,
        "channel_label": TemplateChannel(channel).label,
        "custom": own is not None,
        "names": rendering.CONTEXT_HELP,
        "preview": rendering.preview(subject, body),
    }
    return render(request, "notify/template_edit.html", {**context, **_nav(request)}, status=status)


@require_POST
@login_required
def template_preview(request: HttpRequest) -> HttpResponse:
    _org(request)
    if not _can(request, NotificationTemplate, Action.VIEW):
        raise DjangoPermissionDenied("Managers and admins preview notification templates.")
    subject = request.POST.get("subject", "")[:300]
    body = request.POST.get("body", "")[:20_000]
    return render(request, "notify/_preview.html", {"preview": rendering.preview(subject, body)})


# --- chat webhooks -------------------------------------------------------------------------


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, ChatWebhook, Action.VIEW):
        raise DjangoPermissionDenied("Managers and admins see the chat webhooks.")
    hooks = selectors.webhooks(request.user, organization=org.pk).order_by("name")
    context = {"hooks": hooks, "can_edit": _can(request, ChatWebhook, Action.CHANGE)}
    return render(request, "notify/webhooks.html", {**context, **_nav(request)})


def _teams(org: Any) -> list[Team]:
    return list(Team.objects.filter(organization_id=org.pk).order_by("name"))


@login_required
def webhook_edit(request: HttpRequest, webhook_id: int | None = None) -> HttpResponse:
    org = _org(request)
    hook = None
    if webhook_id is not None:
        try:
            hook = selectors.access_webhook(request.user, webhook_id)
        except NotFound as exc:
            raise Http404(str(exc)) from exc
        if hook.organization_id != org.pk:
            raise Http404("No chat webhook matches the given id.")
    if not _can(request, ChatWebhook, Action.CHANGE if hook else Action.ADD):
        raise DjangoPermissionDenied("Only admins manage chat webhooks.")
    teams = _teams(org)
    status = 200
    if request.method == "POST" and request.POST.get("delete") and hook is not None:
        try:
            actions.delete_webhook(acting_user=request.user, webhook=hook)
        except PermissionDenied as exc:
            raise _denied(exc) from exc
        messages.success(request, f"Chat webhook “{hook.name}” removed.")
        return HttpResponseRedirect(reverse("notify-webhooks"))
    if request.method == "POST":
        form = WebhookForm(request.POST, teams=teams, creating=hook is None)
        if form.is_valid():
            try:
                if hook is None:
                    hook = actions.create_webhook(
                        acting_user=request.user, organization=org, **form.action_fields()
                    )
                else:
                    actions.update_webhook(
                        acting_user=request.user, webhook=hook, **form.action_fields()
                    )
            except (FieldError, Conflict) as exc:
                add_action_error(form, exc)
                if hook is not None and hook.pk:
                    hook.refresh_from_db()
            except PermissionDenied as exc:
                raise _denied(exc) from exc
            else:
                messages.success(request, f"Chat webhook “{hook.name}” saved.")
                return HttpResponseRedirect(reverse("notify-webhooks"))
        status = 422
    else:
        initial = (
            {
                "name": hook.name,
                "kind": hook.kind,
                "events": hook.events,
                "team": hook.team_id,
                "is_active": hook.is_active,
            }
            if hook
            else {"is_active": True}
        )
        form = WebhookForm(initial=initial, teams=teams, creating=hook is None)
    context = {"form": form, "hook": hook}
    return render(request, "notify/webhook_form.html", {**context, **_nav(request)}, status=status)


# --- outbox --------------------------------------------------------------------------------


@login_required
def outbox(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, Notification, Action.VIEW):
        raise DjangoPermissionDenied("Managers and admins see the outbox.")
    form = OutboxFilterForm(request.GET or None)
    filters = {k: v for k, v in form.cleaned_data.items() if v} if form.is_valid() else {}
    rows = selectors.notifications(request.user, organization=org.pk, **filters)
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "form": form,
        "page": _page(request, rows),
        "querystring": querystring.urlencode(),
        "can_retry": _can(request, Notification, Action.CHANGE),
    }
    return render(request, "notify/outbox.html", {**context, **_nav(request)})


@require_POST
@login_required
def outbox_retry(request: HttpRequest, notification_id: int) -> HttpResponse:
    org = _org(request)
    try:
        row = selectors.access_notification(request.user, notification_id, Action.CHANGE)
        if row.organization_id != org.pk:
            raise NotFound("No notification matches the given id.")
        actions.retry_notification(acting_user=request.user, notification=row)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    except Conflict as exc:
        messages.error(request, exc.detail)
    except PermissionDenied as exc:
        raise _denied(exc) from exc
    else:
        messages.success(request, f"Notification to {row.recipient_label} queued again.")
    return HttpResponseRedirect(reverse("notify-outbox") + "?status=failed")


# --- inbound mail --------------------------------------------------------------------------


@login_required
def inbound_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, InboundMail, Action.VIEW):
        raise DjangoPermissionDenied("Managers and admins see the received mail.")
    form = InboundFilterForm(request.GET or None)
    status = form.cleaned_data.get("status") if form.is_valid() else None
    rows = selectors.inbound_mail(request.user, status=status or None)
    if request.user.is_superuser:  # mail that reached no organisation waits for them too
        rows = rows.filter(Q(organization=org) | Q(organization__isnull=True))
    else:
        rows = rows.filter(organization=org)
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "form": form,
        "page": _page(request, rows),
        "querystring": querystring.urlencode(),
    }
    return render(request, "notify/inbound.html", {**context, **_nav(request)})


def _mail_in_org(request: HttpRequest, mail_id: int, action: str = Action.VIEW) -> InboundMail:
    org = _org(request)
    try:
        mail = selectors.access_mail(request.user, mail_id, action)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if mail.organization_id not in (org.pk, None):
        raise Http404("No inbound mail matches the given id.")
    return mail


@login_required
def inbound_detail(request: HttpRequest, mail_id: int) -> HttpResponse:
    mail = _mail_in_org(request, mail_id)
    headers: list[tuple[str, str]] = []
    text = ""
    try:
        parsed = message_from_bytes(bytes(mail.raw), policy=policy.default)
        for name in (
            "From",
            "To",
            "Cc",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "Precedence",
            "X-OpsDesk-Loop",
        ):
            value = parsed.get(name)
            if value is not None:
                headers.append((name, str(value)))
        text = body_text(parsed)
    except Exception:  # shown raw below; the point of the page is to look at what failed
        text = ""
    raw = bytes(mail.raw)[:20_000].decode("utf-8", "replace")
    context = {
        "mail": mail,
        "headers": headers,
        "text": text[:20_000],
        "raw": raw,
        "can_change": has_permission(
            request.user, InboundMail, Action.CHANGE, mail.organization_id
        ),
    }
    return render(request, "notify/inbound_detail.html", {**context, **_nav(request)})


@require_POST
@login_required
def inbound_action(request: HttpRequest, mail_id: int) -> HttpResponse:
    mail = _mail_in_org(request, mail_id, Action.CHANGE)
    try:
        if request.POST.get("action") == "dismiss":
            actions.dismiss_mail(
                acting_user=request.user, mail=mail, reason=request.POST.get("reason", "")[:200]
            )
            messages.success(request, "Message dismissed.")
        else:
            mail = actions.reprocess_mail(acting_user=request.user, mail=mail)
            if mail.status == "processed":
                messages.success(request, "Message processed.")
            else:
                messages.error(request, f"Still {mail.get_status_display().lower()}: {mail.reason}")
    except Conflict as exc:
        messages.error(request, exc.detail)
    except PermissionDenied as exc:
        raise _denied(exc) from exc
    return HttpResponseRedirect(reverse("notify-inbound-detail", args=[mail.pk]))
