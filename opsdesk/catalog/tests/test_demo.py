"""The catalogue demo: items, requests in every state, surveys; idempotent."""

from __future__ import annotations

import pytest

from opsdesk.accounts.actions import create_team
from opsdesk.catalog import demo
from opsdesk.catalog.models import CatalogItem, FulfilmentTask, ServiceRequest
from opsdesk.core.permissions import Role
from opsdesk.portal.models import Survey

pytestmark = pytest.mark.django_db


def test_seed_demo_makes_varied_requests_once(cast, monkeypatch):
    monkeypatch.setattr(demo, "REQUESTS", 60)
    for name in ("Service Desk", "Platform", "Network", "Application Support"):
        create_team(
            acting_user=cast.admin,
            organization=cast.org_a,
            name=name,
            manager=cast.manager,
            members=[cast.agent, cast.manager],
        )
    people = {
        Role.REQUESTER: cast.requester,
        Role.AGENT: cast.agent,
        Role.MANAGER: cast.manager,
        Role.ADMIN: cast.admin,
    }
    made = demo.seed_demo(cast.org_a, people)
    assert made["items"] == 10
    assert made["requests"] >= 50
    states = set(ServiceRequest.objects.values_list("state", flat=True))
    assert {"open", "fulfilled", "closed_incomplete"} <= states
    assert (
        FulfilmentTask.objects.filter(state="in_progress").exists()
        or FulfilmentTask.objects.filter(state="open").exists()
    )
    assert Survey.objects.filter(rating__isnull=False).exists()
    assert Survey.objects.filter(rating__isnull=True).exists()
    assert demo.seed_demo(cast.org_a, people) == {"items": 0, "requests": 0, "surveys": 0}
    assert CatalogItem.objects.filter(organization=cast.org_a).count() == 10
    assert not ServiceRequest.objects.filter(organization=cast.org_b).exists()
