"""Writes on the standard-change template catalogue: add a template, change it, retire it
(``is_active=False``; a retired template raises no new changes but keeps its history).

Templates are configuration: managers and admins write them (`CONFIG_ROLE_ACTIONS`); every
write is audited through `acting_as`, and errors name the field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from opsdesk.accounts.models import Team
from opsdesk.changes.choices import RiskClass
from opsdesk.changes.models import ChangeTemplate
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action

#: Plain fields a template action may set.
TEMPLATE_FIELDS = (
    "name",
    "description",
    "category",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "risk_class",
    "assignment_group",
    "default_duration_minutes",
    "match_environments",
    "is_active",
)
#: The largest default duration a template may give a change (four weeks).
MAX_DURATION_MINUTES = 4 * 7 * 24 * 60


def _check(template: ChangeTemplate) -> None:
    errors: dict[str, str] = {}
    org = template.organization_id
    name = (template.name or "").strip()
    if not name:
        errors["name"] = "A name is required."
    elif (
        ChangeTemplate.objects.filter(organization_id=org, name__iexact=name)
        .exclude(pk=template.pk)
        .exists()
    ):
        errors["name"] = f"A template named “{name}” already exists."
    template.name = name
    if template.risk_class not in RiskClass.values:
        errors["risk_class"] = f"One of: {', '.join(RiskClass.values)}."
    group: Team | None = template.assignment_group
    if group is not None and group.organization_id != org:
        errors["assignment_group_id"] = "The team belongs to another organisation."
    duration = template.default_duration_minutes
    if not isinstance(duration, int) or not 1 <= duration <= MAX_DURATION_MINUTES:
        errors["default_duration_minutes"] = (
            f"Between 1 and {MAX_DURATION_MINUTES} minutes (four weeks)."
        )
    envs = template.match_environments
    if not isinstance(envs, list) or not all(isinstance(e, str) and e.strip() for e in envs):
        errors["match_environments"] = "A list of environment names."
    else:
        template.match_environments = list(dict.fromkeys(e.strip() for e in envs))
    if errors:
        raise FieldError(errors)


def _check_cis(organization_id: int, cis: Iterable[ConfigurationItem], field: str) -> list[Any]:
    cis = list(dict.fromkeys(cis))
    foreign = sorted(ci.name for ci in cis if ci.organization_id != organization_id)
    if foreign:
        raise FieldError({field: f"Not of this organisation: {', '.join(foreign)}."})
    return cis


@transaction.atomic
def create_template(
    *,
    acting_user: Any,
    organization: Organization,
    name: str,
    cis: Iterable[ConfigurationItem] = (),
    match_cis: Iterable[ConfigurationItem] = (),
    **fields: Any,
) -> ChangeTemplate:
    """Add a pre-approved standard change to the catalogue."""
    require(acting_user, ChangeTemplate, Action.ADD, organization.pk)
    unknown = sorted(set(fields) - set(TEMPLATE_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be set here." for n in unknown})
    template = ChangeTemplate(organization=organization, name=name, **fields)
    _check(template)
    cis = _check_cis(organization.pk, cis, "ci_ids")
    match_cis = _check_cis(organization.pk, match_cis, "match_ci_ids")
    with acting_as(acting_user):
        save_validated(template)
        if cis:
            template.cis.set(cis)
        if match_cis:
            template.match_cis.set(match_cis)
    return template


@transaction.atomic
def update_template(
    *,
    acting_user: Any,
    template: ChangeTemplate,
    cis: Iterable[ConfigurationItem] | None = None,
    match_cis: Iterable[ConfigurationItem] | None = None,
    **changes: Any,
) -> ChangeTemplate:
    """Change a template (``is_active=False`` retires it). `cis` and `match_cis`, when
    given, replace the sets. Changes already raised from it keep what they copied."""
    require(acting_user, ChangeTemplate, Action.CHANGE, template.organization_id)
    unknown = sorted(set(changes) - set(TEMPLATE_FIELDS))
    if unknown:
        raise FieldError({n: "This field cannot be changed here." for n in unknown})
    for name, value in changes.items():
        setattr(template, name, value)
    _check(template)
    org = template.organization_id
    cis = _check_cis(org, cis, "ci_ids") if cis is not None else None
    match_cis = _check_cis(org, match_cis, "match_ci_ids") if match_cis is not None else None
    with acting_as(acting_user):
        save_validated(template)
        if cis is not None:
            template.cis.set(cis)
        if match_cis is not None:
            template.match_cis.set(match_cis)
    return template


def retire_template(*, acting_user: Any, template: ChangeTemplate) -> ChangeTemplate:
    return update_template(acting_user=acting_user, template=template, is_active=False)
