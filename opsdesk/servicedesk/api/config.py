"""API routes of service-desk configuration: per-organisation settings and categories."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.accounts.models import Team
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.selectors import access, access_organization
from opsdesk.servicedesk import config_actions
from opsdesk.servicedesk.api.schemas import (
    CategoryFilter,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    SettingsOut,
    SettingsPatch,
)
from opsdesk.servicedesk.models import Category, ServiceDeskSettings

router = Router(tags=["Service desk configuration"])


def _settings(user: Any, organization_id: int) -> ServiceDeskSettings:
    org = access_organization(user, organization_id)
    if not has_permission(user, ServiceDeskSettings, Action.VIEW, org.pk):
        raise PermissionDenied("You may not read the service-desk settings.")
    return ServiceDeskSettings.for_org(org.pk)


@router.get(
    "/service-desk-settings/{organization_id}",
    response={200: SettingsOut, **ERROR_RESPONSES},
    summary="An organisation's service-desk settings (priority matrix, codes, rules)",
)
def get_settings(request: HttpRequest, organization_id: int):  # type: ignore[no-untyped-def]
    return _settings(request.auth, organization_id)


@router.patch(
    "/service-desk-settings/{organization_id}",
    response={200: SettingsOut, **ERROR_RESPONSES},
    summary="Change service-desk settings (admins); the matrix needs all nine cells 1..5",
)
def update_settings(request: HttpRequest, organization_id: int, payload: SettingsPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, organization_id)
    data = payload.dict(exclude_unset=True)
    for name in (
        "priority_matrix",
        "resolution_codes",
        "auto_close_days",
        "attachment_max_bytes",
        "attachment_types",
        "auto_declare_p1",
    ):
        if name in data and data[name] is None:
            raise FieldError({name: "Cannot be null."})
    if "email_address" in data and data["email_address"] is None:
        data["email_address"] = ""
    if "default_team_id" in data:
        team_id = data.pop("default_team_id")
        team = None
        if team_id is not None:
            team = Team.objects.filter(pk=team_id, organization_id=org.pk).first()
            if team is None:
                raise FieldError({"default_team_id": "No team of this organisation has this id."})
        data["default_team"] = team
    return config_actions.update_settings(acting_user=user, organization=org, **data)


# --- categories -------------------------------------------------------------------------------


def _category(user: Any, organization_id: int, category_id: int | None) -> Category | None:
    if category_id is None:
        return None
    found = (
        Category.objects.restrict(user)
        .filter(pk=category_id, organization_id=organization_id)
        .first()
    )
    if found is None:
        raise FieldError({"parent_id": "No category of this organisation has this id."})
    return found


@router.get(
    "/categories",
    response={200: list[CategoryOut], **ERROR_RESPONSES},
    summary="Incident categories and subcategories (a subcategory has a parent)",
)
@paginate(Paginated)
def list_categories(request: HttpRequest, filters: Query[CategoryFilter]):  # type: ignore[no-untyped-def]
    qs = Category.objects.restrict(request.auth)
    f = filters
    if f.organization is not None:
        qs = qs.filter(organization_id=f.organization)
    if f.parent is not None:
        qs = qs.filter(parent_id=f.parent)
    if f.top_level is not None:
        qs = qs.filter(parent__isnull=f.top_level)
    if f.is_active is not None:
        qs = qs.filter(is_active=f.is_active)
    if f.q:
        qs = qs.filter(name__icontains=f.q)
    return qs.order_by("organization_id", "name", "pk")


@router.post(
    "/categories",
    response={201: CategoryOut, **ERROR_RESPONSES},
    summary="Create a category, or a subcategory with parent_id (admins)",
)
def create_category(request: HttpRequest, payload: CategoryIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    category = config_actions.create_category(
        acting_user=user,
        organization=org,
        name=payload.name,
        parent=_category(user, org.pk, payload.parent_id),
        is_active=payload.is_active,
    )
    return Status(201, category)


@router.patch(
    "/categories/{category_id}",
    response={200: CategoryOut, **ERROR_RESPONSES},
    summary="Rename, move or (de)activate a category (admins)",
)
def update_category(request: HttpRequest, category_id: int, payload: CategoryPatch):  # type: ignore[no-untyped-def]
    user = request.auth
    category = access(Category.objects.restrict(user), category_id, "category")
    data = payload.dict(exclude_unset=True)
    for name in ("name", "is_active"):
        if name in data and data[name] is None:
            raise FieldError({name: "Cannot be null."})
    if "parent_id" in data:
        data["parent"] = _category(user, category.organization_id, data.pop("parent_id"))
    return config_actions.update_category(acting_user=user, category=category, **data)
