"""Helpers for the approvals and CAB tests: people who may approve, policies, and changes
brought to Authorise through the real actions."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opsdesk.accounts.models import Team, User
from opsdesk.changes import actions
from opsdesk.changes.approval_policies import create_policy
from opsdesk.changes.models import ApprovalPolicy, Change
from opsdesk.changes.tests.factories import change
from opsdesk.core.permissions import Role
from opsdesk.core.testing.factories import member


def person(cast: Any, name: str, role: str = Role.AGENT, org: Any = None) -> User:
    org = org or cast.org_a
    slug = name.lower().replace(" ", ".")
    return member(org, role, email=f"{slug}@{org.slug}.test", full_name=name)


def team(cast: Any, name: str, *people: User, org: Any = None) -> Team:
    org = org or cast.org_a
    made = Team.objects.create(organization=org, name=name, slug=name.lower().replace(" ", "-"))
    made.members.add(*people)
    return made


def policy(cast: Any, name: str, steps: list[dict[str, Any]], **fields: Any) -> ApprovalPolicy:
    org = fields.pop("org", None) or cast.org_a
    user = cast.manager if org == cast.org_a else cast.admin_b
    return create_policy(acting_user=user, organization=org, name=name, steps=steps, **fields)


def to_authorise(cast: Any, user: Any = None, **fields: Any) -> Change:
    """A normal change (raised by A's agent unless `user`) asking for authorisation."""
    c = change(cast, user=user, **fields)
    by = user or cast.agent
    if c.change_type == "normal":
        actions.transition_change(acting_user=by, change=c, name="assess")
    actions.transition_change(acting_user=by, change=c, name="request_authorisation")
    c.refresh_from_db()
    return c


def emergency(cast: Any, **fields: Any) -> Change:
    fields.setdefault("justification", "Payments are failing for every customer.")
    fields.setdefault("title", "Hotfix the payment gateway")
    return to_authorise(cast, change_type="emergency", **fields)


def later(days: float) -> Any:
    from opsdesk.changes.tests.factories import when

    return when(days), when(days) + timedelta(hours=1)
