"""Event integrations (managers and admins): the list, creating one (its token, and its
secret when asked, shown once, with the URL to configure in the monitoring tool and a
snippet for it), rotating the token, disabling and enabling; and the correlation settings
page (everyone who works events reads it, managers and admins change it)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.permissions import Action
from opsdesk.events import integrations as actions
from opsdesk.events.choices import Source
from opsdesk.events.forms import IntegrationForm, SettingsForm
from opsdesk.events.models import CorrelationSettings, EventIntegration
from opsdesk.events.settings_actions import update_settings
from opsdesk.events.views import (
    CONFIG_REFUSAL,
    can,
    form_errors,
    in_org,
    org_for,
    report,
    subnav_for,
)

#: What to do in each tool with the URL and the token (the page fills them in).
HOW_TO: dict[str, str] = {
    Source.ALERTMANAGER: (
        "Add a receiver to alertmanager.yml and route alerts to it:\n"
        "receivers:\n"
        "  - name: opsdesk\n"
        "    webhook_configs:\n"
        "      - url: {url}\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        "            type: Bearer\n"
        "            credentials: {token}\n"
    ),
    Source.GRAFANA: (
        "Alerting → Contact points → New → Webhook.\n"
        "URL: {url}\n"
        "Authorization header scheme: Bearer, credentials: {token}"
    ),
    Source.AZURE_MONITOR: (
        "Action group → Actions → Webhook, with the common alert schema enabled.\n"
        "URI: {url}?token={token}"
    ),
    Source.CLOUDWATCH: (
        "SNS topic → Create subscription → Protocol HTTPS.\n"
        "Endpoint: {url}?token={token}\n"
        "OpsDesk confirms the subscription and verifies every message's SNS signature."
    ),
    Source.ZABBIX: (
        "Alerts → Media types → Webhook; make its script POST the event as JSON to\n"
        "{url} with the header Authorization: Bearer {token}"
    ),
    Source.DATADOG: (
        "Integrations → Webhooks → New. URL: {url}\n"
        'Custom headers: {{"Authorization": "Bearer {token}"}}; then notify @webhook-<name> '
        "in your monitors."
    ),
    Source.CLOUDEVENTS: (
        "POST CloudEvents 1.0 (structured, binary or batch mode) to {url}\n"
        "with the header Authorization: Bearer {token}"
    ),
    Source.GENERIC: (
        'POST one event or {{"events": [...]}} as JSON (see docs/events.md) to {url}\n'
        "with the header Authorization: Bearer {token}\n"
        "curl -X POST {url} -H 'Authorization: Bearer {token}' -H 'Content-Type: "
        'application/json\' -d \'{{"title": "Disk full on db-07", "severity": "major", '
        '"resource": {{"host.name": "db-07"}}}}\''
    ),
}
SIGNING = (
    "Sign each delivery: header X-OpsDesk-Signature-256: sha256=<hex HMAC-SHA256 of the "
    "body with this secret>."
)


def endpoint(request: HttpRequest, source: str) -> str:
    return request.build_absolute_uri(f"/api/v1/events/{source}")


def _page(
    request: HttpRequest, org: Any, form: IntegrationForm, created: dict[str, Any] | None = None
) -> HttpResponse:
    integrations = (
        EventIntegration.objects.restrict(request.user, Action.VIEW)
        .filter(organization_id=org.pk)
        .select_related("default_service")
        .order_by("name")
    )
    if created:
        integration = created["integration"]
        url = endpoint(request, integration.source)
        created["url"] = url
        created["how_to"] = HOW_TO.get(integration.source, "").format(
            url=url, token=created["token"]
        )
        if created.get("secret") and integration.source != Source.CLOUDWATCH:
            created["signing"] = SIGNING
    rows = [{"i": i, "url": endpoint(request, i.source)} for i in integrations]
    return render(
        request,
        "events/integrations.html",
        {
            "form": form,
            "rows": rows,
            "created": created,
            "subnav": subnav_for(request),
            "subnav_here": "integrations",
        },
        status=422 if request.method == "POST" and form.is_bound and form.errors else 200,
    )


def _manage_org(request: HttpRequest) -> Any:
    return org_for(request, EventIntegration, Action.CHANGE, CONFIG_REFUSAL)


@login_required
def integration_list(request: HttpRequest) -> HttpResponse:
    org = _manage_org(request)
    created = None
    if request.method == "POST":
        form = IntegrationForm(request.POST, organization=org)
        if form.is_valid():
            data = form.cleaned_data
            try:
                integration, token, secret = actions.create_integration(
                    acting_user=request.user,
                    organization=org,
                    name=data["name"],
                    source=data["source"],
                    default_service=data.get("default_service"),
                    with_secret=data.get("with_secret", False),
                )
            except (FieldError, Conflict) as exc:
                form_errors(form, exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            else:
                created = {"integration": integration, "token": token, "secret": secret}
                form = IntegrationForm(organization=org)
    else:
        form = IntegrationForm(organization=org)
    return _page(request, org, form, created)


def _integration(request: HttpRequest, integration_id: int) -> tuple[Any, EventIntegration]:
    org = _manage_org(request)
    return org, in_org(request, EventIntegration, integration_id, org, "integration")


@require_POST
@login_required
def integration_rotate(request: HttpRequest, integration_id: int) -> HttpResponse:
    org, integration = _integration(request, integration_id)
    try:
        token = actions.rotate_token(acting_user=request.user, integration=integration)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    created = {"integration": integration, "token": token, "secret": "", "rotated": True}
    return _page(request, org, IntegrationForm(organization=org), created)


@require_POST
@login_required
def integration_active(request: HttpRequest, integration_id: int) -> HttpResponse:
    _org, integration = _integration(request, integration_id)
    active = request.POST.get("active") == "1"
    try:
        actions.set_active(acting_user=request.user, integration=integration, active=active)
    except (FieldError, Conflict) as exc:
        report(request, exc)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    else:
        state = "enabled" if active else "disabled: its requests are refused"
        messages.success(request, f"{integration.name} {state}.")
    return HttpResponseRedirect(reverse("events-integrations"))


# --- correlation settings ------------------------------------------------------------------


def _initial(conf: CorrelationSettings) -> dict[str, Any]:
    return {
        "window_seconds": conf.window_seconds,
        "topology_hops": conf.topology_hops,
        "group_by": ", ".join(conf.group_by or []),
        "text_similarity": conf.text_similarity,
        "flap_transitions": conf.flap_transitions,
        "flap_window_seconds": conf.flap_window_seconds,
        "open_incidents": conf.open_incidents,
        "incident_min_severity": conf.incident_min_severity,
        "incident_team": conf.incident_team_id,
        "resolve_after_seconds": conf.resolve_after_seconds,
        "propagation_seconds": conf.propagation_seconds,
        "reopen_seconds": conf.reopen_seconds,
    }


@login_required
def correlation_settings(request: HttpRequest) -> HttpResponse:
    org = org_for(request, CorrelationSettings, Action.VIEW, CONFIG_REFUSAL)
    can_change = can(request, CorrelationSettings, Action.CHANGE)
    conf = CorrelationSettings.for_org(org.pk)
    if request.method == "POST" and not can_change:
        raise DjangoPermissionDenied(CONFIG_REFUSAL)
    form = SettingsForm(request.POST or None, organization=org, initial=_initial(conf))
    if request.method == "POST" and form.is_valid():
        try:
            update_settings(acting_user=request.user, organization=org, **form.values())
        except (FieldError, Conflict) as exc:
            form_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, "Correlation settings saved; the next events use them.")
            return HttpResponseRedirect(reverse("events-settings"))
    if not can_change:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "events/settings.html",
        {
            "form": form,
            "conf": conf,
            "can_change": can_change,
            "subnav": subnav_for(request),
            "subnav_here": "settings",
        },
        status=422 if request.method == "POST" else 200,
    )
