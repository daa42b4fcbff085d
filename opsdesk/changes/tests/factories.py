"""Helpers for change tests: CIs, templates and changes made through actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from opsdesk.changes import actions
from opsdesk.changes.models import Change, ChangeTemplate
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.cmdb.tests.factories import ci, relate

__all__ = ["change", "ci", "relate", "template", "topology", "when"]


def when(days: float = 1, hour: int = 10) -> datetime:
    """A whole hour `days` from now (UTC), for planned times."""
    base = timezone.now().replace(minute=0, second=0, microsecond=0, hour=hour)
    return base + timedelta(days=days)


def topology(org: Any, prefix: str = "") -> dict[str, ConfigurationItem]:
    """A small CMDB: Online Banking (tier 1) depends on an app that runs on a server and uses
    a database on another server; Email (tier 3) runs on its own server."""
    cis = {
        "banking": ci(org, f"{prefix}Online Banking", "business_service", criticality=1),
        "app": ci(org, f"{prefix}bank-app", "application", criticality=1),
        "db": ci(org, f"{prefix}bank-db", "database", criticality=1),
        "app_srv": ci(org, f"{prefix}app-srv-01", "server", environment="production"),
        "db_srv": ci(org, f"{prefix}db-srv-01", "server", environment="production"),
        "email": ci(org, f"{prefix}Email", "business_service", criticality=3),
        "mail_srv": ci(org, f"{prefix}mail-srv-01", "server", environment="production"),
    }
    relate(cis["banking"], "depends_on", cis["app"])
    relate(cis["app"], "runs_on", cis["app_srv"])
    relate(cis["app"], "depends_on", cis["db"])
    relate(cis["db"], "runs_on", cis["db_srv"])
    relate(cis["email"], "runs_on", cis["mail_srv"])
    return cis


def template(cast: Any, org: Any = None, **fields: Any) -> ChangeTemplate:
    org = org or cast.org_a
    fields.setdefault("name", "Patch a Linux server")
    fields.setdefault("implementation_plan", "Apply the monthly patches and reboot.")
    fields.setdefault("backout_plan", "Restore the pre-patch snapshot.")
    cis = fields.pop("cis", [])
    match_cis = fields.pop("match_cis", [])
    tpl = ChangeTemplate.objects.create(organization=org, **fields)
    tpl.cis.set(cis)
    tpl.match_cis.set(match_cis)
    return tpl


def change(cast: Any, org: Any = None, user: Any = None, **fields: Any) -> Change:
    """A normal change of `org` (A by default) raised by its agent, with a full plan."""
    org = org or cast.org_a
    user = user or (cast.agent if org == cast.org_a else cast.agent_b)
    fields.setdefault("title", "Upgrade the banking database")
    if fields.get("change_type", "normal") != "standard" and "template" not in fields:
        fields.setdefault("implementation_plan", "Fail over, upgrade, fail back.")
        fields.setdefault("backout_plan", "Restore from the snapshot taken before.")
        fields.setdefault("planned_start", when(3))
        fields.setdefault("planned_end", fields["planned_start"] + timedelta(hours=2))
    return actions.create_change(acting_user=user, organization=org, **fields)
