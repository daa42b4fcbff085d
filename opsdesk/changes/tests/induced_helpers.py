"""Helpers of the change-induced incident tests: changes implemented at a given time and
incidents opened (with the after-commit signal run)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from opsdesk.changes import actions
from opsdesk.changes.models import Change
from opsdesk.changes.tests.factories import template
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk.models import Incident


def implemented_change(
    cast: Any,
    cis: list[Any],
    ended: datetime | None,
    *,
    started: datetime | None = None,
    close_code: str = "successful",
    **fields: Any,
) -> Change:
    """A standard change on `cis` implemented from `started` to `ended` (still in Implement
    when `ended` is None)."""
    org = fields.pop("org", cast.org_a)
    user = fields.pop("user", cast.agent if org == cast.org_a else cast.admin_b)
    name = fields.pop("template_name", f"Template {timezone.now().timestamp()}")
    tpl = template(cast, org=org, name=name)
    start = started or (ended or timezone.now()) - timedelta(minutes=30)
    c = actions.create_change(
        acting_user=user,
        organization=org,
        template=tpl,
        cis=cis,
        planned_start=start,
        **fields,
    )
    actions.transition_change(acting_user=user, change=c, name="schedule")
    actions.transition_change(acting_user=user, change=c, name="implement", actual_start=start)
    if ended is not None:
        actions.transition_change(
            acting_user=user, change=c, name="complete", close_code=close_code, actual_end=ended
        )
    return c


def open_incident(cast: Any, capture: Any, *, org: Any = None, **fields: Any) -> Incident:
    """An incident opened by an agent, its after-commit receivers run."""
    org = org or cast.org_a
    user = cast.agent if org == cast.org_a else cast.admin_b
    fields.setdefault("title", "Online banking is down")
    with capture(execute=True):
        return desk.create_incident(acting_user=user, organization=org, **fields)
