"""The change demo: templates, policies, windows, months of changes and deployments through
the real actions, failures with completed reviews, confirmed change-induced incidents, a
change awaiting approval that conflicts with a scheduled one; loading twice adds nothing."""

from __future__ import annotations

from typing import Any

import pytest

from opsdesk.accounts.models import Team
from opsdesk.changes.choices import ChangeState, ChangeType, CloseCode, InducedState, WindowKind
from opsdesk.changes.demo import seed_demo
from opsdesk.changes.models import (
    Approval,
    CabMeeting,
    Change,
    ChangeWindow,
    Deployment,
    InducedLink,
    PostImplementationReview,
)
from opsdesk.cmdb.demo import load_cmdb_demo
from opsdesk.core.demo import TEAMS
from opsdesk.core.permissions import Role
from opsdesk.servicedesk import demo as desk_demo

pytestmark = pytest.mark.django_db


def people(cast: Any) -> dict[str, Any]:
    return {Role.AGENT: cast.agent, Role.MANAGER: cast.manager, Role.ADMIN: cast.admin}


@pytest.fixture
def org(cast, monkeypatch):  # type: ignore[no-untyped-def]
    for name, description in TEAMS:
        team = Team.objects.create(
            organization=cast.org_a,
            name=name,
            slug=name.lower().replace(" ", "-"),
            description=description,
        )
        team.members.add(cast.manager)
    load_cmdb_demo(organization=cast.org_a, acting_user=cast.admin)
    monkeypatch.setattr(desk_demo, "SEEDERS", ())
    desk_demo.load_servicedesk_demo(
        organization=cast.org_a, acting_user=cast.admin, people=people(cast), per_org=400
    )
    return cast.org_a


def test_demo_changes(cast, org):  # type: ignore[no-untyped-def]
    result = seed_demo(org, people(cast))
    changes = Change.objects.filter(organization=org)
    assert result["changes"] == changes.count() > 40
    types = set(changes.values_list("change_type", flat=True))
    assert types == {ChangeType.STANDARD, ChangeType.NORMAL, ChangeType.EMERGENCY}
    # Every state a change manager works with is there.
    states = set(changes.values_list("state", flat=True))
    assert {ChangeState.NEW, ChangeState.AUTHORISE, ChangeState.SCHEDULED} <= states
    assert ChangeState.CLOSED in states
    # History happened at its own time, not when the demo was loaded.
    closed = changes.filter(state=ChangeState.CLOSED).order_by("closed_at")
    assert (closed.last().closed_at - closed.first().closed_at).days > 60
    # Failures carry completed reviews; some changes caused incidents, confirmed.
    failed = changes.filter(close_code__in=[CloseCode.FAILED, CloseCode.BACKED_OUT])
    assert failed.exists()
    for change in failed.filter(state=ChangeState.CLOSED):
        assert PostImplementationReview.objects.get(change=change).state == "completed"
    assert InducedLink.objects.filter(organization=org, state=InducedState.CONFIRMED).exists()
    # Pipelines: standard changes that opened and closed themselves.
    deployments = Deployment.objects.filter(organization=org)
    assert deployments.count() >= 20
    assert deployments.filter(change__state=ChangeState.CLOSED).count() >= 15
    # Windows: the weekly maintenance window and the freezes.
    kinds = sorted(ChangeWindow.objects.filter(organization=org).values_list("kind", flat=True))
    assert kinds.count(WindowKind.FREEZE) == 2 and kinds.count(WindowKind.MAINTENANCE) == 1
    # The manager has an approval waiting, on a change that conflicts with a scheduled one.
    waiting = Approval.objects.get(organization=org, state="requested", approver=cast.manager)
    assert any(c["kind"] == "dependent_ci" for c in waiting.change.conflicts)
    assert CabMeeting.objects.filter(organization=org, state="planned").exists()
    # Loading twice adds nothing.
    assert seed_demo(org, people(cast)) == {}
    assert Change.objects.filter(organization=org).count() == result["changes"]
