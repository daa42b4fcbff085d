"""Change an organisation's correlation settings (managers and admins): the time window, the
topology hops, the group-by labels, the text similarity, flapping, and the incident options.

One action, atomic and audited (``CorrelationSettings`` is change-logged). Every value is
checked here, so the API, the page and the command line get the same field-named errors.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction

from opsdesk.accounts.models import Team
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.events.choices import Severity
from opsdesk.events.models import CorrelationSettings

#: (lowest, highest) accepted for the numeric settings.
LIMITS: dict[str, tuple[float, float]] = {
    "window_seconds": (10, 86_400),
    "topology_hops": (0, 10),
    "text_similarity": (0.0, 1.0),
    "flap_transitions": (2, 100),
    "flap_window_seconds": (60, 86_400),
    "resolve_after_seconds": (0, 86_400),
    "propagation_seconds": (10, 86_400),
    "reopen_seconds": (0, 7 * 86_400),
}
FIELDS = frozenset(
    {*LIMITS, "group_by", "open_incidents", "incident_min_severity", "incident_team"}
)
MAX_GROUP_BY = 10
#: Label names as Prometheus and OpenTelemetry write them (dots for resource attributes).
LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-/]{0,99}$")


def _number(name: str, value: Any) -> float | int:
    low, high = LIMITS[name]
    is_float = isinstance(low, float)
    if isinstance(value, bool) or value is None or value == "":
        raise FieldError({name: "A number is required."})
    try:
        number: float | int = float(value) if is_float else int(str(value).strip())
    except (TypeError, ValueError):
        raise FieldError(
            {name: "A whole number is required." if not is_float else "A number is required."}
        ) from None
    if number != number or not low <= number <= high:  # NaN or out of range
        shown_low = f"{low:g}" if is_float else f"{int(low)}"
        shown_high = f"{high:g}" if is_float else f"{int(high)}"
        raise FieldError({name: f"Between {shown_low} and {shown_high}."})
    return number


def _group_by(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    if not isinstance(value, list | tuple):
        raise FieldError({"group_by": "A list of label names."})
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not LABEL_NAME.match(item.strip()):
            raise FieldError(
                {"group_by": f"{str(item)[:40]!r} is not a label name (letters, digits, _ . - /)."}
            )
        if item.strip() not in names:
            names.append(item.strip())
    if len(names) > MAX_GROUP_BY:
        raise FieldError({"group_by": f"At most {MAX_GROUP_BY} labels."})
    return names


def _team(organization: Organization, value: Any) -> Team | None:
    if value in (None, ""):
        return None
    if isinstance(value, Team):
        team = value
    else:
        if isinstance(value, bool) or not str(value).isdigit() or len(str(value)) > 18:
            raise FieldError({"incident_team": "A team id is required."})
        team = Team.objects.filter(pk=int(value)).first()
    if team is None or team.organization_id != organization.pk:
        raise FieldError({"incident_team": "No team of this organisation has this id."})
    return team


@transaction.atomic
def update_settings(
    *, acting_user: Any, organization: Organization, **fields: Any
) -> CorrelationSettings:
    """Set the given fields of `organization`'s correlation settings (created on first
    change) and return them. Unknown fields and bad values raise `FieldError` naming the field;
    a user who is not a manager or admin there gets `PermissionDenied`."""
    require(acting_user, CorrelationSettings, Action.CHANGE, organization.pk)
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise FieldError({name: "Not a correlation setting." for name in unknown})
    values: dict[str, Any] = {}
    for name, value in fields.items():
        if name in LIMITS:
            values[name] = _number(name, value)
        elif name == "group_by":
            values[name] = _group_by(value)
        elif name == "open_incidents":
            if not isinstance(value, bool):
                raise FieldError({name: "true or false."})
            values[name] = value
        elif name == "incident_min_severity":
            if value not in Severity.values:
                raise FieldError({name: f"One of: {', '.join(Severity.values)}."})
            values[name] = value
        elif name == "incident_team":
            values[name] = _team(organization, value)
    conf = (
        CorrelationSettings.objects.select_for_update().filter(organization=organization).first()
    ) or CorrelationSettings(organization=organization)
    for name, value in values.items():
        setattr(conf, name, value)
    with acting_as(acting_user):
        save_validated(conf)
    return conf
