"""Pages of deployments: the list (filters: service, outcome, environment, flag), a
deployment with the change it opened, and the integrations page where managers create an
integration (its token shown once), rotate its token, disable it, and see the deliveries
that were refused.

Views check the shape of input and call `opsdesk.changes.deployments` (reads) and
`opsdesk.changes.integration_actions` (writes), like the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from opsdesk.changes import deployments as domain
from opsdesk.changes import integration_actions as actions
from opsdesk.changes.choices import DeploymentOutcome, DeploymentSource
from opsdesk.changes.models import Deployment, DeploymentIntegration, WebhookDelivery
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.pages import object_in_organization, page_organization
from opsdesk.core.permissions import Action, has_permission

PAGE_SIZE = 50
WEBHOOK_PATHS = {
    DeploymentSource.GENERIC: "/api/v1/deployments",
    DeploymentSource.GITHUB: "/api/v1/deployments/github",
    DeploymentSource.GITLAB: "/api/v1/deployments/gitlab",
    DeploymentSource.AZURE_DEVOPS: "/api/v1/deployments/azure-devops",
}


def _services(org: Any) -> Any:
    return ConfigurationItem.objects.filter(
        organization_id=org.pk, ci_class__is_service=True
    ).order_by("name")


class DeploymentFilterForm(forms.Form):
    service = forms.ModelChoiceField(
        required=False, queryset=ConfigurationItem.objects.none(), empty_label="Any"
    )
    outcome = forms.ChoiceField(required=False, choices=[("", "Any"), *DeploymentOutcome.choices])
    environment = forms.CharField(required=False, max_length=100)
    flag = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ("no_change", "Without a change"), ("freeze", "During a freeze")],
    )

    def __init__(self, *args: Any, services: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = services


class IntegrationForm(forms.Form):
    name = forms.CharField(max_length=200)
    source = forms.ChoiceField(choices=DeploymentSource.choices)
    default_service = forms.ModelChoiceField(
        required=False, queryset=ConfigurationItem.objects.none(), empty_label="None"
    )
    with_secret = forms.BooleanField(
        required=False, label="Sign deliveries with a secret (GitHub, GitLab, generic)"
    )

    def __init__(self, *args: Any, services: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_service"].queryset = services


@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    org = page_organization(request, Deployment, "Deployments are not part of your role.")
    services = _services(org)
    form = DeploymentFilterForm(request.GET or None, services=services)
    filters: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "service_id": data["service"].pk if data["service"] else None,
            "outcome": data["outcome"],
            "environment": data["environment"].strip(),
            "flag": data["flag"],
        }
    qs = domain.filter_deployments(
        domain.deployments(request.user), organization_id=org.pk, **filters
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    return render(
        request,
        "changes/deployments/list.html",
        {
            "form": form,
            "page": page,
            "querystring": querystring.urlencode(),
            "can_manage": has_permission(
                request.user, DeploymentIntegration, Action.CHANGE, org.pk
            ),
        },
    )


@login_required
def deployment_detail(request: HttpRequest, deployment_id: int) -> HttpResponse:
    org = page_organization(request, Deployment, "Deployments are not part of your role.")
    deployment = object_in_organization(
        lambda: domain.access_deployment(request.user, deployment_id), org, "deployment"
    )
    return render(request, "changes/deployments/detail.html", {"deployment": deployment})


def _integrations_page(
    request: HttpRequest, org: Any, form: IntegrationForm, created: dict[str, Any] | None = None
) -> HttpResponse:
    integrations = DeploymentIntegration.objects.restrict(request.user, Action.VIEW).filter(
        organization_id=org.pk
    )
    refused = WebhookDelivery.objects.filter(organization_id=org.pk).select_related("integration")[
        :20
    ]
    base = request.build_absolute_uri("/").rstrip("/")
    return render(
        request,
        "changes/deployments/integrations.html",
        {
            "form": form,
            "integrations": integrations.select_related("default_service"),
            "refused": refused,
            "created": created,
            "webhook_paths": {k: base + v for k, v in WEBHOOK_PATHS.items()},
            "gate_url": base + "/api/v1/changes/gate",
        },
    )


@login_required
def integrations(request: HttpRequest) -> HttpResponse:
    org = page_organization(
        request,
        DeploymentIntegration,
        "Deployment integrations are managed by change managers and admins.",
        Action.CHANGE,
    )
    services = _services(org)
    created = None
    if request.method == "POST":
        form = IntegrationForm(request.POST, services=services)
        if form.is_valid():
            data = form.cleaned_data
            try:
                integration, token, secret = actions.create_integration(
                    acting_user=request.user,
                    organization=org,
                    name=data["name"],
                    source=data["source"],
                    default_service=data["default_service"],
                    with_secret=data["with_secret"],
                )
            except FieldError as exc:
                for field, message in exc.errors.items():
                    form.add_error(field if field in form.fields else None, message)
            except PermissionDenied as exc:
                raise Http404(exc.detail) from exc
            else:
                created = {"integration": integration, "token": token, "secret": secret}
                form = IntegrationForm(services=services)
    else:
        form = IntegrationForm(services=services)
    return _integrations_page(request, org, form, created)


def _integration(request: HttpRequest, integration_id: int) -> tuple[Any, DeploymentIntegration]:
    org = page_organization(
        request,
        DeploymentIntegration,
        "Deployment integrations are managed by change managers and admins.",
        Action.CHANGE,
    )
    found = (
        DeploymentIntegration.objects.restrict(request.user, Action.CHANGE)
        .filter(pk=integration_id, organization_id=org.pk)
        .first()
    )
    if found is None:
        raise Http404("No integration matches the given id.")
    return org, found


@login_required
@require_POST
def integration_rotate(request: HttpRequest, integration_id: int) -> HttpResponse:
    org, integration = _integration(request, integration_id)
    token = actions.rotate_token(acting_user=request.user, integration=integration)
    created = {"integration": integration, "token": token, "secret": "", "rotated": True}
    return _integrations_page(request, org, IntegrationForm(services=_services(org)), created)


@login_required
@require_POST
def integration_active(request: HttpRequest, integration_id: int) -> HttpResponse:
    _, integration = _integration(request, integration_id)
    active = request.POST.get("active") == "1"
    try:
        actions.set_active(acting_user=request.user, integration=integration, active=active)
    except (FieldError, Conflict) as exc:
        messages.error(request, str(exc))
    else:
        state = "enabled" if active else "disabled: its requests are refused"
        messages.success(request, f"{integration.name} {state}.")
    return HttpResponseRedirect(reverse("changes-deploy-integrations"))


urlpatterns = [
    path("", deployment_list, name="changes-deployments"),
    path("<int:deployment_id>/", deployment_detail, name="changes-deployment"),
    path("integrations/", integrations, name="changes-deploy-integrations"),
    path(
        "integrations/<int:integration_id>/rotate/",
        integration_rotate,
        name="changes-deploy-integration-rotate",
    ),
    path(
        "integrations/<int:integration_id>/active/",
        integration_active,
        name="changes-deploy-integration-active",
    ),
]
