"""The demo articles: every state, some due for review, idempotent."""

from __future__ import annotations

import pytest

from opsdesk.core.permissions import Role
from opsdesk.knowledge.demo import ARTICLES, seed_demo
from opsdesk.knowledge.models import Article, ArticleVersion
from opsdesk.knowledge.search import search
from opsdesk.knowledge.selectors import due_for_review
from opsdesk.servicedesk.actions import create_incident, transition_incident

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_covers_every_state(cast):
    people = {Role.AGENT: cast.agent, Role.MANAGER: cast.manager, Role.REQUESTER: cast.requester}
    incident = create_incident(
        acting_user=cast.agent, organization=cast.org_a, title="VPN will not connect"
    )
    transition_incident(
        acting_user=cast.agent,
        incident=incident,
        transition="resolve",
        resolution_code="solved_remotely",
        resolution_notes="Reinstalled the client.",
    )
    first = seed_demo(cast.org_a, people)
    assert first["articles"] == len(ARTICLES) >= 15
    assert first["uses"] == 1
    assert seed_demo(cast.org_a, people) == {"articles": 0, "feedback": 0, "uses": 0}
    states = set(Article.objects.filter(organization=cast.org_a).values_list("state", flat=True))
    assert states == {"draft", "review", "published", "retired"}
    revising = Article.objects.get(title="SOP: restore a database from backup")
    assert revising.is_revision and revising.version == 2
    due = list(due_for_review(cast.agent))
    assert len(due) >= 3 and due[0].title == "Mail relay for applications and scanners"
    assert ArticleVersion.objects.filter(organization=cast.org_a).count() >= 10
    assert search(cast.requester, "vpn")[0].article.title == "Connect to the VPN from home"
