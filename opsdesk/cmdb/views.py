"""Web pages of the CMDB: CI list with saved filters, CI page with the impact graph, imports.

Views check the shape of input (forms) and call the same selectors and actions as the API.
Every page is scoped to the current organisation (``request.organization``): a CI of another
organisation answers 404 even to someone who may see it there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import Team
from opsdesk.cmdb import filter_actions, selectors
from opsdesk.cmdb.choices import ImportStatus
from opsdesk.cmdb.forms import (
    CIFilterForm,
    CIForm,
    ImportForm,
    ImportRunForm,
    RelationshipForm,
    SavedFilterForm,
    StaleForm,
)
from opsdesk.cmdb.impact import MAX_DEPTH, impact_analysis
from opsdesk.cmdb.models import ConfigurationItem, ImportJob, Relationship, SavedFilter
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.permissions import Action, has_permission

PAGE_SIZE = 50
HISTORY_LIMIT = 100
DEFAULT_DEPTH = 6


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    return org


def _teams(org: Any) -> list[Team]:
    return list(Team.objects.filter(organization_id=org.pk).order_by("name"))


def _can(user: Any, model: type, action: str, org: Any) -> bool:
    return has_permission(user, model, action, org.pk)


def _ci_in_org(request: HttpRequest, ci_id: int, action: str = Action.VIEW) -> ConfigurationItem:
    org = _org(request)
    try:
        ci = selectors.access_ci(request.user, ci_id, action)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if ci.organization_id != org.pk:
        raise Http404("No configuration item matches the given id.")
    return ci


def _partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


# --- CI list -------------------------------------------------------------------------------------


@login_required
def ci_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    classes = list(selectors.ci_classes(user))
    teams = _teams(org)
    form = CIFilterForm(request.GET or None, classes=classes, teams=teams)
    filters = form.filters() if form.is_bound and form.is_valid() else {}
    cis = selectors.filter_cis(
        selectors.cis_for_user(user), organization=org.pk, **filters
    ).select_related("ci_class", "owner_team")
    page = Paginator(cis, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    filter_query = filter_actions.normalise_query(querystring.urlencode())
    saved = filter_actions.saved_filters_for_user(user, org.pk)
    context = {
        "form": form,
        "page": page,
        "querystring": querystring.urlencode(),
        "filter_query": filter_query,
        "filtered": bool(filter_query),
        "saved_filters": saved,
        "save_form": SavedFilterForm(initial={"query": filter_query}),
        "can_add": _can(user, ConfigurationItem, Action.ADD, org),
        "can_save_filter": _can(user, SavedFilter, Action.ADD, org),
    }
    template = "cmdb/ci_list.html#results" if _partial(request) else "cmdb/ci_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required
def saved_filter_save(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    form = SavedFilterForm(request.POST)
    query = request.POST.get("query", "")
    if form.is_valid():
        try:
            saved = filter_actions.save_filter(
                acting_user=request.user,
                organization=org,
                name=form.cleaned_data["name"],
                query=form.cleaned_data["query"],
                shared=form.cleaned_data["shared"],
            )
        except FieldError as exc:
            for field, message in exc.errors.items():
                messages.error(request, f"{field}: {message}")
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            where = "shared with the organisation" if saved.shared else "for you"
            messages.success(request, f"Filter “{saved.name}” saved {where}.")
            query = saved.query
    else:
        for field, errors in form.errors.items():
            messages.error(request, f"{field}: {' '.join(errors)}")
    target = reverse("cmdb-ci-list")
    return HttpResponseRedirect(f"{target}?{query}" if query else target)


@require_POST
@login_required
def saved_filter_delete(request: HttpRequest, filter_id: int) -> HttpResponse:
    org = _org(request)
    try:
        saved = filter_actions.access_saved_filter(request.user, filter_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if saved.organization_id != org.pk:
        raise Http404("No saved filter matches the given id.")
    try:
        filter_actions.delete_filter(acting_user=request.user, saved_filter=saved)
    except PermissionDenied as exc:
        messages.error(request, exc.detail)
    else:
        messages.success(request, f"Filter “{saved.name}” deleted.")
    return HttpResponseRedirect(reverse("cmdb-ci-list"))


# --- CI page -------------------------------------------------------------------------------------


def _depth(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("depth", DEFAULT_DEPTH)), MAX_DEPTH))
    except ValueError:
        return DEFAULT_DEPTH


def _attribute_rows(ci: ConfigurationItem) -> list[dict[str, Any]]:
    schema = (ci.ci_class.attribute_schema or {}).get("properties", {})
    attributes = ci.attributes or {}
    sources = ci.attribute_sources or {}
    keys = [k for k in schema if k in attributes] + sorted(k for k in attributes if k not in schema)
    return [
        {
            "key": key,
            "value": attributes[key],
            "source": sources.get(f"attributes.{key}", ""),
            "in_schema": key in schema,
        }
        for key in keys
    ]


def _history(ci: ConfigurationItem) -> list[AuditRecord]:
    """The CI's own change records: whoever may see the CI may see how it changed."""
    return list(
        AuditRecord.objects.filter(
            organization_id=ci.organization_id,
            object_type=ConfigurationItem._meta.label_lower,
            object_id=str(ci.pk),
        ).order_by("-timestamp", "-id")[:HISTORY_LIMIT]
    )


def _history_rows(records: list[AuditRecord]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        changes = [
            {"field": field, "before": pair[0], "after": pair[1]}
            for field, pair in (record.changes or {}).items()
            if isinstance(pair, list | tuple) and len(pair) == 2
        ]
        rows.append({"record": record, "changes": changes})
    return rows


def _services(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    """Affected services with their paths as [(id, name)], failing CI first."""
    out = []
    for service in analysis["services"]:
        out.append(
            {
                **service,
                "steps": list(zip(service["path"], service["path_names"], strict=True)),
            }
        )
    return out


def _relationship_form(user: Any, data: Any = None) -> RelationshipForm:
    return RelationshipForm(data, types=list(selectors.relationship_types(user)))


def _ci_page(
    request: HttpRequest,
    ci: ConfigurationItem,
    rel_form: RelationshipForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    org = request.organization
    depth = _depth(request)
    analysis = impact_analysis(ci, depth)
    rels = selectors.relationships_for_user(user)
    outgoing = list(rels.filter(source_id=ci.pk).order_by("type__label", "target__name"))
    incoming = list(rels.filter(target_id=ci.pk).order_by("type__label", "source__name"))
    context = {
        "ci": ci,
        "depth": depth,
        "depths": range(1, MAX_DEPTH + 1),
        "analysis": analysis,
        "services": _services(analysis),
        "attributes": _attribute_rows(ci),
        "identifiers": ci.identifiers.order_by("kind"),
        "sources": ci.sources.order_by("-last_seen"),
        "outgoing": outgoing,
        "incoming": incoming,
        "rel_count": len(outgoing) + len(incoming),
        "history": _history_rows(_history(ci)),
        "rel_form": rel_form or _relationship_form(user),
        "can_change": _can(user, ConfigurationItem, Action.CHANGE, org),
        "can_delete": _can(user, ConfigurationItem, Action.DELETE, org),
        "can_add_rel": _can(user, Relationship, Action.ADD, org),
        "can_remove_rel": _can(user, Relationship, Action.DELETE, org),
    }
    if _partial(request) and request.GET.get("part") == "services":
        return render(request, "cmdb/ci/detail.html#services", context)
    response = render(request, "cmdb/ci/detail.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def ci_detail(request: HttpRequest, ci_id: int) -> HttpResponse:
    return _ci_page(request, _ci_in_org(request, ci_id))


@login_required
def ci_impact(request: HttpRequest, ci_id: int) -> JsonResponse:
    """The impact analysis as JSON, for the graph on the CI page."""
    ci = _ci_in_org(request, ci_id)
    return JsonResponse(impact_analysis(ci, _depth(request)))


@login_required
def ci_create(request: HttpRequest) -> HttpResponse:
    from opsdesk.cmdb import actions

    user = request.user
    org = _org(request)
    if not _can(user, ConfigurationItem, Action.ADD, org):
        raise DjangoPermissionDenied("You may not add configuration items here.")
    classes = selectors.ci_classes(user)
    form = CIForm(
        request.POST or None,
        classes=classes,
        teams=_teams(org),
        initial={"ci_class": classes.filter(key=request.GET.get("class", "")).first()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            ci = actions.create_ci(
                acting_user=user,
                organization=org,
                ci_class=form.cleaned_data["ci_class"],
                name=form.cleaned_data["name"],
                **form.action_fields(),
            )
        except (FieldError, Conflict) as exc:
            form.add_action_error(exc)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"{ci.ci_class.label} “{ci.name}” created.")
            return HttpResponseRedirect(reverse("cmdb-ci-detail", args=[ci.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, "cmdb/ci/form.html", {"form": form, "ci": None}, status=status)


@login_required
def ci_edit(request: HttpRequest, ci_id: int) -> HttpResponse:
    from opsdesk.cmdb import actions

    user = request.user
    ci = _ci_in_org(request, ci_id)
    org = request.organization
    if not _can(user, ConfigurationItem, Action.CHANGE, org):
        raise DjangoPermissionDenied("You may not change configuration items here.")
    form = CIForm(
        request.POST or None,
        classes=selectors.ci_classes(user),
        teams=_teams(org),
        editing=True,
        initial=CIForm.initial_for(ci),
    )
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_ci(
                acting_user=user,
                ci=ci,
                name=form.cleaned_data["name"],
                **form.action_fields(),
            )
        except (FieldError, Conflict) as exc:
            form.add_action_error(exc)
            ci.refresh_from_db()
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            messages.success(request, f"“{ci.name}” saved.")
            return HttpResponseRedirect(reverse("cmdb-ci-detail", args=[ci.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, "cmdb/ci/form.html", {"form": form, "ci": ci}, status=status)


@require_POST
@login_required
def ci_delete(request: HttpRequest, ci_id: int) -> HttpResponse:
    from opsdesk.cmdb import actions

    ci = _ci_in_org(request, ci_id)
    try:
        actions.delete_ci(acting_user=request.user, ci=ci)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"“{ci.name}” deleted.")
    return HttpResponseRedirect(reverse("cmdb-ci-list"))


@require_POST
@login_required
def relationship_add(request: HttpRequest, ci_id: int) -> HttpResponse:
    from opsdesk.cmdb import actions

    user = request.user
    ci = _ci_in_org(request, ci_id)
    form = _relationship_form(user, request.POST)
    if form.is_valid():
        name = form.cleaned_data["target"].strip()
        others = list(
            selectors.cis_for_user(user)
            .filter(organization_id=ci.organization_id, name__iexact=name)
            .exclude(pk=ci.pk)[:2]
        )
        if not others and name.lower() == ci.name.lower():
            form.add_error("target", "A configuration item cannot depend on itself.")
        elif not others:
            form.add_error("target", f"No configuration item named “{name}” here.")
        elif len(others) > 1:
            form.add_error("target", f"Several configuration items are named “{name}”.")
        else:
            other = others[0]
            direction, key = form.direction_and_type()
            source, target = (ci, other) if direction == "out" else (other, ci)
            try:
                rel = actions.add_relationship(
                    acting_user=user, source=source, type_key=key, target=target
                )
            except (FieldError, Conflict) as exc:
                form.add_action_error(exc)
            except PermissionDenied as exc:
                raise DjangoPermissionDenied(exc.detail) from exc
            else:
                messages.success(
                    request, f"{rel.source.name} {rel.type.label} {rel.target.name}: added."
                )
                return HttpResponseRedirect(reverse("cmdb-ci-detail", args=[ci.pk]))
    return _ci_page(request, ci, rel_form=form, status=422)


@require_POST
@login_required
def relationship_remove(request: HttpRequest, ci_id: int, rel_id: int) -> HttpResponse:
    from opsdesk.cmdb import actions

    ci = _ci_in_org(request, ci_id)
    try:
        rel = selectors.access_relationship(request.user, rel_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if ci.pk not in (rel.source_id, rel.target_id):
        raise Http404("No relationship of this configuration item matches the given id.")
    try:
        actions.remove_relationship(acting_user=request.user, relationship=rel)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    messages.success(request, f"{rel.source.name} {rel.type.label} {rel.target.name}: removed.")
    return HttpResponseRedirect(reverse("cmdb-ci-detail", args=[ci.pk]))


# --- Imports -------------------------------------------------------------------------------------


def _job_in_org(request: HttpRequest, job_id: int) -> ImportJob:
    from opsdesk.cmdb import imports

    org = _org(request)
    try:
        job = imports.access_import(request.user, job_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if job.organization_id != org.pk:
        raise Http404("No import matches the given id.")
    return job


@login_required
def import_list(request: HttpRequest) -> HttpResponse:
    from opsdesk.cmdb import imports

    org = _org(request)
    jobs = imports.imports_for_user(request.user).filter(organization_id=org.pk)
    page = Paginator(jobs.select_related("created_by"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cmdb/imports/list.html",
        {"page": page, "can_add": _can(request.user, ConfigurationItem, Action.ADD, org)},
    )


@login_required
def import_new(request: HttpRequest) -> HttpResponse:
    from opsdesk.cmdb import imports

    org = _org(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            job = imports.start_import(
                acting_user=request.user,
                organization=org,
                format=form.cleaned_data["format"],
                source=form.cleaned_data["source"],
                filename=upload.name[:255],
                payload=upload.read(),
                dry_run=True,
            )
        except FieldError as exc:
            for field, message in exc.errors.items():
                form.add_error(field if field in form.fields else None, message)
        except PermissionDenied as exc:
            raise DjangoPermissionDenied(exc.detail) from exc
        else:
            return HttpResponseRedirect(reverse("cmdb-import-detail", args=[job.pk]))
    status = 422 if request.method == "POST" else 200
    return render(request, "cmdb/imports/new.html", {"form": form}, status=status)


def _preview_rows(preview: Any) -> list[dict[str, Any]]:
    rows = []
    for row in preview if isinstance(preview, list) else []:
        if isinstance(row, dict):
            changed = row.get("changed")
            rows.append(
                {
                    "row": row.get("row", ""),
                    "name": row.get("name", ""),
                    "class": row.get("class", ""),
                    "action": row.get("action", ""),
                    "changed": changed if isinstance(changed, list) else [],
                }
            )
    return rows[:100]


@login_required
def import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_in_org(request, job_id)
    context = {
        "job": job,
        "running": job.status in (ImportStatus.PENDING, ImportStatus.RUNNING),
        "report": job.report if isinstance(job.report, list) else [],
        "preview_rows": _preview_rows(job.preview),
        "run_form": ImportRunForm(initial={"partial": job.partial}),
    }
    template = (
        "cmdb/imports/detail.html#progress" if _partial(request) else "cmdb/imports/detail.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_POST
@login_required
def import_run(request: HttpRequest, job_id: int) -> HttpResponse:
    """Confirm a previewed import: the same file, run for real."""
    from opsdesk.cmdb import imports

    preview = _job_in_org(request, job_id)
    back = HttpResponseRedirect(reverse("cmdb-import-detail", args=[preview.pk]))
    if not preview.dry_run or preview.status not in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
        messages.error(request, "Only a finished preview can be run.")
        return back
    form = ImportRunForm(request.POST)
    form.is_valid()
    if preview.failed and not form.cleaned_data.get("partial"):
        messages.error(
            request,
            "Some rows failed: fix the file, or choose partial to import only the valid rows.",
        )
        return back
    try:
        job = imports.start_import(
            acting_user=request.user,
            organization=preview.organization,
            format=preview.format,
            source=preview.source,
            filename=preview.filename,
            payload=bytes(preview.payload),
            partial=form.cleaned_data.get("partial", False),
            dry_run=False,
        )
    except FieldError as exc:
        for field, message in exc.errors.items():
            messages.error(request, f"{field}: {message}")
        return back
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.detail) from exc
    return HttpResponseRedirect(reverse("cmdb-import-detail", args=[job.pk]))


# --- Stale CIs -----------------------------------------------------------------------------------


@login_required
def stale(request: HttpRequest) -> HttpResponse:
    from opsdesk.cmdb import reconcile

    org = _org(request)
    form = StaleForm(request.GET or None)
    days, source = 30, None
    if form.is_bound and form.is_valid():
        days = form.cleaned_data["days"] or 30
        source = (form.cleaned_data["source"] or "").strip() or None
    visible = selectors.cis_for_user(request.user).filter(organization_id=org.pk).values("pk")
    rows = (
        reconcile.stale_cis(org, days, source=source)
        .filter(pk__in=visible)
        .prefetch_related("sources")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = urlencode({"days": days, **({"source": source} if source else {})})
    return render(
        request,
        "cmdb/stale.html",
        {"form": form, "page": page, "days": days, "source": source, "querystring": querystring},
    )


urlpatterns = [
    path("cis/", ci_list, name="cmdb-ci-list"),
    path("cis/new/", ci_create, name="cmdb-ci-new"),
    path("cis/<int:ci_id>/", ci_detail, name="cmdb-ci-detail"),
    path("cis/<int:ci_id>/edit/", ci_edit, name="cmdb-ci-edit"),
    path("cis/<int:ci_id>/delete/", ci_delete, name="cmdb-ci-delete"),
    path("cis/<int:ci_id>/impact.json", ci_impact, name="cmdb-ci-impact"),
    path("cis/<int:ci_id>/relationships/", relationship_add, name="cmdb-relationship-add"),
    path(
        "cis/<int:ci_id>/relationships/<int:rel_id>/remove/",
        relationship_remove,
        name="cmdb-relationship-remove",
    ),
    path("filters/", saved_filter_save, name="cmdb-filter-save"),
    path("filters/<int:filter_id>/delete/", saved_filter_delete, name="cmdb-filter-delete"),
    path("imports/", import_list, name="cmdb-import-list"),
    path("imports/new/", import_new, name="cmdb-import-new"),
    path("imports/<int:job_id>/", import_detail, name="cmdb-import-detail"),
    path("imports/<int:job_id>/run/", import_run, name="cmdb-import-run"),
    path("stale/", stale, name="cmdb-stale"),
]
