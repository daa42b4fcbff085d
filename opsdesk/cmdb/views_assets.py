"""Web pages of assets, licences, expiring items and CMDB health.

Views check the shape of input (forms) and call the same selectors and actions as the API.
Every page is scoped to the current organisation (``request.organization``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import User
from opsdesk.cmdb import asset_actions as actions
from opsdesk.cmdb import asset_selectors as selectors
from opsdesk.cmdb import health, licensing
from opsdesk.cmdb.asset_workflows import allowed_transitions
from opsdesk.cmdb.choices import AssetLifecycle, LicenceMetric
from opsdesk.cmdb.models import (
    ConfigurationItem,
    HardwareAsset,
    SoftwareInstallation,
    SoftwareLicence,
)
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission

PAGE_SIZE = 50

# --- helpers -------------------------------------------------------------------------------------


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    return org


def _can(request: HttpRequest, model: type, action: str) -> bool:
    return has_permission(request.user, model, action, _org(request).pk)


def _in_org(request: HttpRequest, getter: Any, obj_id: int) -> Any:
    try:
        obj = getter(request.user, obj_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if obj.organization_id != _org(request).pk:
        raise Http404("Not found in this organisation.")
    return obj


#: Names used by actions (the API's) -> names of the form fields.
FORM_FIELD = {"ci_id": "ci", "assigned_user_id": "assigned_user", "user_id": "user"}


def _report(form: forms.Form, exc: Exception) -> None:
    """Put an action's error on the form, on the field it names."""
    if isinstance(exc, FieldError):
        for field, message in exc.errors.items():
            name = FORM_FIELD.get(field, field)
            form.add_error(name if name in form.fields else None, f"{field}: {message}")
    elif isinstance(exc, Conflict):
        form.add_error(None, exc.detail)
    else:
        form.add_error(None, str(getattr(exc, "detail", exc)))


DATE = forms.DateInput(attrs={"type": "date"})


class AssetForm(forms.ModelForm):
    class Meta:
        model = HardwareAsset
        fields = [
            "name",
            "serial_number",
            "vendor",
            "model",
            "purchase_date",
            "cost",
            "currency",
            "warranty_end",
            "assigned_user",
            "location",
            "country",
            "ci",
            "notes",
        ]
        widgets = {
            "purchase_date": DATE,
            "warranty_end": DATE,
            "notes": forms.Textarea(attrs={"rows": 3}),
        }
        labels = {"ci": "Configuration item"}

    lifecycle = forms.ChoiceField(
        choices=[
            (s, AssetLifecycle(s).label) for s in ("ordered", "in_stock", "in_use", "in_repair")
        ],
        initial=AssetLifecycle.IN_USE,
    )

    def __init__(self, *args: Any, organization: Any, creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ci"].queryset = ConfigurationItem.objects.filter(
            organization_id=organization.pk
        ).select_related("ci_class")
        self.fields["ci"].label_from_instance = lambda c: f"{c.name} ({c.ci_class.label})"
        self.fields["assigned_user"].queryset = User.objects.filter(
            memberships__organization_id=organization.pk
        ).order_by("full_name", "email")
        if not creating:
            del self.fields["lifecycle"]

    def _post_clean(self) -> None:  # validation is the action's job, not the model form's
        pass


class LifecycleForm(forms.Form):
    lifecycle = forms.ChoiceField(choices=AssetLifecycle.choices)
    disposed_on = forms.DateField(required=False, widget=DATE)
    disposal_method = forms.CharField(required=False, max_length=100)
    disposal_reference = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, asset: HardwareAsset, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        targets = allowed_transitions(asset.lifecycle)
        self.fields["lifecycle"].choices = [(s, AssetLifecycle(s).label) for s in targets]


class LicenceForm(forms.ModelForm):
    class Meta:
        model = SoftwareLicence
        fields = [
            "publisher",
            "product",
            "metric",
            "entitlements",
            "cost",
            "currency",
            "renewal_date",
            "contract_reference",
            "notes",
        ]
        widgets = {"renewal_date": DATE, "notes": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"cost": "What this licence costs for all its entitlements."}

    def _post_clean(self) -> None:
        pass


def _asset_data(form: AssetForm) -> dict[str, Any]:
    return {
        k: (
            ""
            if v is None
            and k not in {"ci", "assigned_user", "purchase_date", "warranty_end", "cost"}
            else v
        )
        for k, v in form.cleaned_data.items()
    }


# --- assets --------------------------------------------------------------------------------------


@login_required
def asset_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    params = request.GET
    lifecycle = (
        params.get("lifecycle") if params.get("lifecycle") in AssetLifecycle.values else None
    )
    assets = selectors.filter_assets(
        selectors.assets_for_user(request.user),
        organization=org.pk,
        lifecycle=lifecycle,
        vendor=params.get("vendor", "").strip()[:200] or None,
        q=params.get("q", "").strip()[:200] or None,
    ).order_by("number")
    vendors = (
        selectors.assets_for_user(request.user)
        .filter(organization_id=org.pk)
        .exclude(vendor="")
        .order_by("vendor")
        .values_list("vendor", flat=True)
        .distinct()
    )
    page = Paginator(assets, PAGE_SIZE).get_page(params.get("page"))
    querystring = params.copy()
    querystring.pop("page", None)
    return render(
        request,
        "cmdb/assets/asset_list.html",
        {
            "page": page,
            "filters": params,
            "lifecycles": AssetLifecycle.choices,
            "vendors": list(vendors),
            "querystring": querystring.urlencode(),
            "can_add": _can(request, HardwareAsset, Action.ADD),
        },
    )


@login_required
def asset_create(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, HardwareAsset, Action.ADD):
        raise Http404("You may not add assets here.")
    form = AssetForm(request.POST or None, organization=org, creating=True)
    if request.method == "POST" and form.is_valid():
        data = _asset_data(form)
        try:
            asset = actions.create_asset(
                acting_user=request.user,
                organization=org,
                name=data.pop("name"),
                lifecycle=data.pop("lifecycle"),
                ci=data.pop("ci"),
                **data,
            )
        except (FieldError, Conflict, PermissionDenied) as exc:
            _report(form, exc)
        else:
            messages.success(request, f"Asset {asset.number} recorded.")
            return HttpResponseRedirect(reverse("cmdb-asset-detail", args=[asset.pk]))
    return render(request, "cmdb/assets/asset_form.html", {"form": form, "asset": None})


@login_required
def asset_detail(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = _in_org(request, selectors.access_asset, asset_id)
    can_change = _can(request, HardwareAsset, Action.CHANGE) and asset.lifecycle != "disposed"
    return render(
        request,
        "cmdb/assets/asset_detail.html",
        {
            "asset": asset,
            "lifecycle_form": LifecycleForm(asset=asset) if can_change else None,
            "can_change": can_change,
            "can_delete": _can(request, HardwareAsset, Action.DELETE)
            and asset.lifecycle != "disposed",
            "installations": SoftwareInstallation.objects.filter(ci_id=asset.ci_id).order_by(
                "publisher", "product"
            )
            if asset.ci_id
            else [],
        },
    )


@login_required
def asset_edit(request: HttpRequest, asset_id: int) -> HttpResponse:
    org = _org(request)
    asset = _in_org(request, selectors.access_asset, asset_id)
    if asset.lifecycle == AssetLifecycle.DISPOSED:
        messages.error(request, f"{asset.number} is disposed: it can no longer be changed.")
        return HttpResponseRedirect(reverse("cmdb-asset-detail", args=[asset.pk]))
    form = AssetForm(request.POST or None, instance=asset, organization=org, creating=False)
    if request.method == "POST" and form.is_valid():
        fresh = selectors.access_asset(request.user, asset.pk)
        try:
            actions.update_asset(acting_user=request.user, asset=fresh, **_asset_data(form))
        except (FieldError, Conflict, PermissionDenied) as exc:
            _report(form, exc)
        else:
            messages.success(request, f"Asset {asset.number} saved.")
            return HttpResponseRedirect(reverse("cmdb-asset-detail", args=[asset.pk]))
    return render(request, "cmdb/assets/asset_form.html", {"form": form, "asset": asset})


@require_POST
@login_required
def asset_lifecycle(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = _in_org(request, selectors.access_asset, asset_id)
    form = LifecycleForm(request.POST, asset=asset)
    if form.is_valid():
        try:
            actions.change_asset_lifecycle(
                acting_user=request.user,
                asset=asset,
                lifecycle=form.cleaned_data["lifecycle"],
                disposed_on=form.cleaned_data["disposed_on"],
                disposal_method=form.cleaned_data["disposal_method"],
                disposal_reference=form.cleaned_data["disposal_reference"],
            )
        except (FieldError, Conflict, PermissionDenied) as exc:
            _report(form, exc)
        else:
            asset.refresh_from_db()
            messages.success(
                request, f"{asset.number} is now {asset.get_lifecycle_display().lower()}."
            )
            return HttpResponseRedirect(reverse("cmdb-asset-detail", args=[asset.pk]))
    return render(
        request,
        "cmdb/assets/asset_detail.html",
        {
            "asset": asset,
            "lifecycle_form": form,
            "can_change": True,
            "can_delete": False,
            "installations": [],
        },
        status=422,
    )


@require_POST
@login_required
def asset_delete(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = _in_org(request, selectors.access_asset, asset_id)
    try:
        actions.delete_asset(acting_user=request.user, asset=asset)
    except (Conflict, PermissionDenied) as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("cmdb-asset-detail", args=[asset.pk]))
    messages.success(request, f"Asset {asset.number} deleted.")
    return HttpResponseRedirect(reverse("cmdb-assets"))


# --- licences ------------------------------------------------------------------------------------

CHART_WIDTH = 640
CHART_LABEL = 220
CHART_ROW = 34


def _chart(rows: list[licensing.Position]) -> dict[str, Any]:
    """Geometry of the entitlements-vs-consumption bar chart (server-rendered SVG)."""
    top = max([max(p.entitlements, p.consumption) for p in rows] + [1])
    span = CHART_WIDTH - CHART_LABEL - 60
    bars = []
    for i, pos in enumerate(rows):
        y = i * CHART_ROW + 4
        bars.append(
            {
                "pos": pos,
                "y": y,
                "label_y": y + 15,
                "ent_w": max(1, round(span * pos.entitlements / top)) if pos.entitlements else 0,
                "use_w": max(1, round(span * pos.consumption / top)) if pos.consumption else 0,
                "use_y": y + 13,
                "value_x": CHART_LABEL
                + 6
                + round(span * max(pos.entitlements, pos.consumption) / top),
            }
        )
    return {
        "bars": bars,
        "width": CHART_WIDTH,
        "height": len(rows) * CHART_ROW + 8,
        "x0": CHART_LABEL,
        "label_x": CHART_LABEL - 8,
    }


@login_required
def licence_position(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    licences = selectors.licences_for_user(request.user).filter(organization_id=org.pk)
    installations = selectors.installations_for_user(request.user)
    rows = licensing.positions(licences, installations)
    return render(
        request,
        "cmdb/assets/licences.html",
        {
            "rows": rows,
            "unlicensed": licensing.unlicensed(
                licences, installations.filter(organization_id=org.pk)
            ),
            "summary": licensing.summary(rows),
            "chart": _chart(rows),
            "licences": licences.order_by("publisher", "product", "number"),
            "can_add": _can(request, SoftwareLicence, Action.ADD),
            "metrics": LicenceMetric.choices,
        },
    )


@login_required
def licence_create(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, SoftwareLicence, Action.ADD):
        raise Http404("You may not add licences here.")
    form = LicenceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {
            k: ("" if v is None and k in {"contract_reference", "notes"} else v)
            for k, v in form.cleaned_data.items()
        }
        try:
            licence = actions.create_licence(acting_user=request.user, organization=org, **data)
        except (FieldError, Conflict, PermissionDenied) as exc:
            _report(form, exc)
        else:
            messages.success(request, f"Licence {licence.number} recorded.")
            return HttpResponseRedirect(reverse("cmdb-licence-detail", args=[licence.pk]))
    return render(request, "cmdb/assets/licence_form.html", {"form": form, "licence": None})


@login_required
def licence_detail(request: HttpRequest, licence_id: int) -> HttpResponse:
    licence = _in_org(request, selectors.access_licence, licence_id)
    can_change = _can(request, SoftwareLicence, Action.CHANGE)
    form = LicenceForm(request.POST or None, instance=licence) if can_change else None
    if request.method == "POST":
        if form is None:
            raise Http404("You may not change licences here.")
        if form.is_valid():
            fresh = selectors.access_licence(request.user, licence.pk)
            try:
                actions.update_licence(acting_user=request.user, licence=fresh, **form.cleaned_data)
            except (FieldError, Conflict, PermissionDenied) as exc:
                _report(form, exc)
            else:
                messages.success(request, f"Licence {licence.number} saved.")
                return HttpResponseRedirect(reverse("cmdb-licence-detail", args=[licence.pk]))
    same_product = selectors.licences_for_user(request.user).filter(
        organization_id=licence.organization_id,
        publisher__iexact=licence.publisher,
        product__iexact=licence.product,
        metric=licence.metric,
    )
    rows = licensing.positions(same_product, selectors.installations_for_user(request.user))
    installations = selectors.filter_installations(
        selectors.installations_for_user(request.user),
        organization=licence.organization_id,
        publisher=licence.publisher,
        product=licence.product,
    )
    return render(
        request,
        "cmdb/assets/licence_detail.html",
        {
            "licence": selectors.access_licence(request.user, licence.pk),
            "form": form,
            "position": rows[0] if rows else None,
            "installations": installations[:200],
            "installation_count": installations.count(),
            "can_delete": _can(request, SoftwareLicence, Action.DELETE),
        },
        status=422 if form is not None and form.errors else 200,
    )


@require_POST
@login_required
def licence_delete(request: HttpRequest, licence_id: int) -> HttpResponse:
    licence = _in_org(request, selectors.access_licence, licence_id)
    try:
        actions.delete_licence(acting_user=request.user, licence=licence)
    except PermissionDenied as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("cmdb-licence-detail", args=[licence.pk]))
    messages.success(request, f"Licence {licence.number} deleted.")
    return HttpResponseRedirect(reverse("cmdb-licences"))


# --- expiring and health -------------------------------------------------------------------------


@login_required
def expiring(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    try:
        days = int(request.GET.get("days", 30))
    except ValueError:
        days = 30
    if days not in selectors.EXPIRY_WINDOWS:
        days = 30
    items = selectors.expiring(request.user, organization=org.pk, days=days)
    upcoming = [i for i in items if not i.expired]
    expired = [i for i in items if i.expired]
    money: dict[str, Decimal] = {}
    for item in upcoming:
        if item.cost is not None:
            money[item.currency] = money.get(item.currency, Decimal(0)) + item.cost
    return render(
        request,
        "cmdb/assets/expiring.html",
        {
            "days": days,
            "windows": selectors.EXPIRY_WINDOWS,
            "warranties": [i for i in upcoming if i.kind == "warranty"],
            "renewals": [i for i in upcoming if i.kind == "renewal"],
            "expired": expired,
            "money": sorted(money.items()),
        },
    )


@login_required
def cmdb_health(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not _can(request, ConfigurationItem, Action.VIEW):
        raise Http404("You may not see configuration items here.")
    report = health.evaluate(org.pk)
    return render(
        request,
        "cmdb/assets/health.html",
        {
            "report": report,
            "class_bars": [
                {
                    "cls": c,
                    "width": round(4 * (c.score or 0)),
                    "y": i * 30 + 4,
                    "text_y": i * 30 + 19,
                }
                for i, c in enumerate(report.classes)
            ],
            "class_chart_height": len(report.classes) * 30 + 8,
        },
    )


urlpatterns = [
    path("assets/", asset_list, name="cmdb-assets"),
    path("assets/new/", asset_create, name="cmdb-asset-create"),
    path("assets/<int:asset_id>/", asset_detail, name="cmdb-asset-detail"),
    path("assets/<int:asset_id>/edit/", asset_edit, name="cmdb-asset-edit"),
    path("assets/<int:asset_id>/lifecycle/", asset_lifecycle, name="cmdb-asset-lifecycle"),
    path("assets/<int:asset_id>/delete/", asset_delete, name="cmdb-asset-delete"),
    path("licences/", licence_position, name="cmdb-licences"),
    path("licences/new/", licence_create, name="cmdb-licence-create"),
    path("licences/<int:licence_id>/", licence_detail, name="cmdb-licence-detail"),
    path("licences/<int:licence_id>/delete/", licence_delete, name="cmdb-licence-delete"),
    path("expiring/", expiring, name="cmdb-expiring"),
    path("health/", cmdb_health, name="cmdb-health"),
]
