"""The service-desk demo: months of believable incidents, built quickly and only once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.utils import timezone

from opsdesk.accounts.models import Membership, Team
from opsdesk.cmdb.demo import load_cmdb_demo
from opsdesk.cmdb.impact import impact_analysis
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.demo import TEAMS
from opsdesk.core.models import AuditRecord
from opsdesk.core.permissions import Role
from opsdesk.servicedesk import demo
from opsdesk.servicedesk.models import Activity, CommunicationUpdate, Incident

pytestmark = pytest.mark.django_db
seeded_with: list[tuple[Any, Any]] = []


def seed_demo(organization: Any, people: Any) -> None:
    """Stands in for another app's demo seeder (this module is put in SEEDERS)."""
    seeded_with.append((organization, people))


@pytest.fixture
def org(cast):  # type: ignore[no-untyped-def]
    for name, description in TEAMS:
        team = Team.objects.create(
            organization=cast.org_a,
            name=name,
            slug=name.lower().replace(" ", "-"),
            description=description,
        )
        team.members.add(cast.manager)
    Team.objects.get(organization=cast.org_a, name="Service Desk").members.add(cast.agent)
    load_cmdb_demo(organization=cast.org_a, acting_user=cast.admin)
    return cast.org_a


def people(cast: Any) -> dict[str, Any]:
    return {
        Role.REQUESTER: cast.requester,
        Role.AGENT: cast.agent,
        Role.MANAGER: cast.manager,
        Role.AUDITOR: cast.auditor,
        Role.ADMIN: cast.admin,
    }


def test_demo_incidents_look_like_a_working_desk(cast, org, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(demo, "SEEDERS", (__name__, "opsdesk.no_such_app.demo"))
    seeded_with.clear()
    result = demo.load_servicedesk_demo(
        organization=org, acting_user=cast.admin, people=people(cast), per_org=400
    )
    incidents = Incident.objects.filter(organization=org)
    count = incidents.count()
    assert count == result["incidents"] >= 400
    # Other apps' seeders are called with (organization, people); missing ones are skipped.
    assert seeded_with == [(org, people(cast))]
    assert result["seeded"] == [__name__] and result["missing"] == ["opsdesk.no_such_app.demo"]

    # Priorities: mostly P3/P4, few P1.
    priorities = Counter(incidents.values_list("priority", flat=True))
    assert priorities[3] + priorities[4] > count * 0.6
    assert 1 <= priorities[1] < count * 0.05
    # States: mostly closed, a live queue with some on hold, some reopened.
    states = Counter(incidents.values_list("state", flat=True))
    assert states["closed"] > count / 2
    assert states["in_progress"] and states["new"] and states["on_hold"] and states["resolved"]
    assert incidents.filter(reopen_count__gt=0).exists()
    assert not incidents.filter(state="on_hold", hold_reason="").exists()

    # Resolution times follow the priority.
    def median_hours(priority: int) -> float:
        spans = sorted(
            (r - o).total_seconds() / 3600
            for o, r in incidents.filter(priority=priority, resolved_at__isnull=False)
            .exclude(is_major=True)
            .exclude(parent__isnull=False)
            .values_list("opened_at", "resolved_at")
        )
        return spans[len(spans) // 2]

    assert median_hours(2) < median_hours(3) < median_hours(4)
    # Over the last 120 days, nothing in the future.
    now = timezone.now()
    assert not incidents.filter(opened_at__gt=now).exists()
    assert incidents.filter(opened_at__lt=now - timezone.timedelta(days=90)).exists()
    assert not Activity.objects.filter(organization=org, at__gt=now).exists()
    # Assignees are members of their group; requesters are members of the organisation.
    for inc in incidents.exclude(assignee=None).select_related("assignment_group")[:200]:
        assert inc.assignment_group.members.filter(pk=inc.assignee_id).exists()
    requester_ids = set(incidents.values_list("requester_id", flat=True))
    assert Membership.objects.filter(organization=org, user_id__in=requester_ids).count() == len(
        requester_ids
    )
    assert incidents.filter(assignee=cast.agent).exists()  # "assigned to me" for the demo agent
    assert incidents.filter(requester=cast.requester).exists()
    # CMDB services and CIs, categories, a timeline with comments and work notes.
    assert incidents.exclude(service=None).exists() and incidents.exclude(ci=None).exists()
    assert not incidents.filter(category=None).exists()
    kinds = Counter(Activity.objects.filter(organization=org).values_list("kind", flat=True))
    assert kinds["created"] == count
    assert kinds["comment"] and kinds["work_note"] and kinds["assigned"] and kinds["state"]
    # One audit record per incident.
    assert (
        AuditRecord.objects.filter(
            object_type="servicedesk.incident", organization_id=org.pk
        ).count()
        == count
    )
    # Numbers follow the opening order.
    numbers = list(incidents.order_by("opened_at", "id").values_list("number", flat=True))
    assert numbers == sorted(numbers)

    # Two major incidents with children: one over, one happening now on the service that
    # jnb-dbs-07 takes down.
    majors = incidents.filter(is_major=True)
    assert majors.count() == 2
    past = majors.get(state="closed")
    assert past.children.count() >= 3
    assert set(past.children.values_list("state", flat=True)) == {"closed"}
    current = majors.get(state="in_progress")
    server = ConfigurationItem.objects.get(organization=org, name="jnb-dbs-07")
    assert current.priority == 1 and current.ci_id == server.pk
    hit = {s["name"] for s in impact_analysis(server, 6)["services"]}
    assert current.service.name in hit and current.service.name == "Online banking"
    assert current.children.count() >= 3
    assert current.major_manager == cast.manager
    assert CommunicationUpdate.objects.filter(incident=current).exists()

    # Loading again changes nothing.
    before = (Incident.objects.count(), Activity.objects.count(), AuditRecord.objects.count())
    again = demo.load_servicedesk_demo(
        organization=org, acting_user=cast.admin, people=people(cast), seed_other_apps=False
    )
    assert again["incidents"] == 0
    assert (
        Incident.objects.count(),
        Activity.objects.count(),
        AuditRecord.objects.count(),
    ) == before
