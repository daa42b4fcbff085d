"""What every page of the web shell needs: the user's organisations and the current one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from opsdesk.core.models import AuditRecord, Organization
from opsdesk.core.permissions import Action, organization_roles, organizations_for


def shell(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    roles = organization_roles(user)
    orgs = Organization.objects.filter(is_active=True)
    if not user.is_superuser:
        orgs = orgs.filter(pk__in=roles)
    current = getattr(request, "organization", None)
    current_id = current.pk if current else None
    return {
        "my_organizations": list(orgs.order_by("name")),
        "current_organization": current,
        "current_role": roles.get(current_id) if current_id else None,
        "can_read_audit": user.is_superuser
        or bool(organizations_for(user, AuditRecord, Action.VIEW)),
    }
