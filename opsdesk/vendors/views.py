"""Pages of vendors: the list, a vendor with the underpinning contracts that name it, and
the add/edit form (managers and admins). Views check the shape of input and call the same
actions as the API; every page is scoped to the current organisation."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST

from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.pages import page_organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.sla.choices import Kind
from opsdesk.sla.models import Definition
from opsdesk.vendors import actions, selectors
from opsdesk.vendors.forms import VendorForm
from opsdesk.vendors.models import Vendor


def _org(request: HttpRequest) -> Any:
    return page_organization(request, Vendor, "Vendors are not part of your role.")


def _can(request: HttpRequest, action: str) -> bool:
    org = request.organization
    return org is not None and has_permission(request.user, Vendor, action, org.pk)


def _vendor_in_org(request: HttpRequest, vendor_id: int) -> Vendor:
    org = _org(request)
    try:
        vendor = selectors.access_vendor(request.user, vendor_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if vendor.organization_id != org.pk:
        raise Http404("No vendor matches the given id.")
    return vendor


def _add_errors(form: VendorForm, exc: FieldError | Conflict) -> None:
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for name, message in items.items():
        form.add_error(name if name in form.fields else None, message)


@login_required
def vendor_list(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    q = (request.GET.get("q") or "").strip()[:200]
    rows = list(selectors.vendors(request.user, organization_id=org.pk, q=q or None))
    counts: dict[int, int] = {}
    for vendor_id in Definition.objects.filter(
        organization_id=org.pk, kind=Kind.UC, vendor__isnull=False
    ).values_list("vendor_id", flat=True):
        counts[vendor_id] = counts.get(vendor_id, 0) + 1
    for vendor in rows:
        vendor.uc_count = counts.get(vendor.pk, 0)
    return render(
        request,
        "vendors/vendor_list.html",
        {"vendors": rows, "q": q, "can_add": _can(request, Action.ADD)},
    )


@login_required
def vendor_detail(request: HttpRequest, vendor_id: int) -> HttpResponse:
    vendor = _vendor_in_org(request, vendor_id)
    contracts = list(
        Definition.objects.restrict(request.user, Action.VIEW)
        .filter(organization_id=vendor.organization_id, vendor=vendor)
        .order_by("name")
    )
    return render(
        request,
        "vendors/vendor_detail.html",
        {
            "vendor": vendor,
            "contracts": contracts,
            "can_change": _can(request, Action.CHANGE),
            "can_delete": _can(request, Action.DELETE) and not contracts,
        },
    )


def _save(request: HttpRequest, vendor: Vendor | None) -> HttpResponse:
    org = _org(request)
    if not _can(request, Action.CHANGE if vendor else Action.ADD):
        raise DjangoPermissionDenied("You may not change vendors here.")
    initial: dict[str, Any] = {"is_active": True}
    if vendor is not None:
        initial = {name: getattr(vendor, name) for name in actions.VENDOR_FIELDS}
    form = VendorForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            if vendor is None:
                name = data.pop("name")
                vendor = actions.create_vendor(
                    acting_user=request.user, organization=org, name=name, **data
                )
                messages.success(request, f"{vendor.name} added.")
            else:
                vendor = actions.update_vendor(acting_user=request.user, vendor=vendor, **data)
                messages.success(request, f"{vendor.name} saved.")
        except (FieldError, Conflict) as exc:
            _add_errors(form, exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            return HttpResponseRedirect(reverse("vendors-detail", args=[vendor.pk]))
    status = 422 if request.method == "POST" else 200
    return render(
        request, "vendors/vendor_form.html", {"form": form, "vendor": vendor}, status=status
    )


@login_required
def vendor_new(request: HttpRequest) -> HttpResponse:
    return _save(request, None)


@login_required
def vendor_edit(request: HttpRequest, vendor_id: int) -> HttpResponse:
    return _save(request, _vendor_in_org(request, vendor_id))


@require_POST
@login_required
def vendor_delete(request: HttpRequest, vendor_id: int) -> HttpResponse:
    vendor = _vendor_in_org(request, vendor_id)
    try:
        actions.delete_vendor(acting_user=request.user, vendor=vendor)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return HttpResponseRedirect(reverse("vendors-detail", args=[vendor.pk]))
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"{vendor.name} removed.")
    return HttpResponseRedirect(reverse("vendors-list"))


urlpatterns = [
    path("", vendor_list, name="vendors-list"),
    path("new/", vendor_new, name="vendors-new"),
    path("<int:vendor_id>/", vendor_detail, name="vendors-detail"),
    path("<int:vendor_id>/edit/", vendor_edit, name="vendors-edit"),
    path("<int:vendor_id>/delete/", vendor_delete, name="vendors-delete"),
]
