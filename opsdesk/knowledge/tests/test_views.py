"""The knowledge pages: search, article, editor and workflow buttons, feedback, diffs, due
for review, and the incident page's "Related knowledge" panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from opsdesk.knowledge import actions
from opsdesk.knowledge.choices import ArticleState, Visibility
from opsdesk.knowledge.models import Article, ArticleFeedback, ArticleUse
from opsdesk.knowledge.panels import related_knowledge
from opsdesk.knowledge.tests.factories import article
from opsdesk.servicedesk.actions import create_incident
from opsdesk.servicedesk.panels import panels_for

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


@pytest.fixture
def vpn(cast):  # type: ignore[no-untyped-def]
    return article(
        cast.agent,
        cast.org_a,
        "VPN does not connect",
        summary="Reconnect the GlobalProtect client.",
        body="## Steps\n\n1. Open **GlobalProtect**\n2. Reconnect the vpn\n\n<script>alert(1)</script>",
        publish_as=cast.manager,
        visibility=Visibility.EVERYONE,
        tags=["vpn"],
    )


def test_search_page_highlights_matches(cast, vpn):
    article(cast.agent, cast.org_a, "Printer jam", body="Open tray 2.")
    resp = client_for(cast.agent).get("/kb/", {"q": "vpn"})
    assert resp.status_code == 200
    page = text(resp)
    assert "<mark>VPN</mark> does not connect" in page
    assert "Printer jam" not in page
    # htmx asks for the results only.
    partial = client_for(cast.agent).get("/kb/", {"q": "vpn"}, HTTP_HX_REQUEST="true")
    assert text(partial).lstrip().startswith('<section id="kb-results"')
    listed = text(client_for(cast.agent).get("/kb/", {"state": "draft"}))
    assert "Printer jam" in listed and "VPN does not connect" not in listed
    assert "VPN does not connect" in text(client_for(cast.agent).get("/kb/", {"tag": "vpn"}))


def test_requesters_read_only_published_public_articles(cast, vpn):
    internal = article(cast.agent, cast.org_a, "Internal runbook", publish_as=cast.manager)
    requester = client_for(cast.requester)
    page = text(requester.get("/kb/"))
    assert "VPN does not connect" in page and "Internal runbook" not in page
    assert "New article" not in page and "Due for review" not in page
    assert requester.get(f"/kb/articles/{internal.pk}/").status_code == 404
    resp = requester.get(f"/kb/articles/{vpn.pk}/")
    assert resp.status_code == 200
    assert "<strong>GlobalProtect</strong>" in text(resp)
    assert "<script>alert(1)</script>" not in text(resp)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text(resp)
    assert "Did this help?" in text(resp)
    assert requester.get("/kb/articles/new/").status_code == 404
    assert requester.get("/kb/due/").status_code == 404
    # Another organisation's agent cannot open it either.
    assert client_for(cast.admin_b).get(f"/kb/articles/{vpn.pk}/").status_code == 404


def test_feedback_from_the_article_page(cast, vpn):
    requester = client_for(cast.requester)
    resp = requester.post(
        f"/kb/articles/{vpn.pk}/feedback/", {"helpful": "no", "comment": "Still broken"}
    )
    assert resp.status_code == 302
    requester.post(f"/kb/articles/{vpn.pk}/feedback/", {"helpful": "yes"})
    feedback = ArticleFeedback.objects.get(article=vpn)
    assert feedback.helpful is True and feedback.user == cast.requester
    vpn.refresh_from_db()
    assert (vpn.helpful_count, vpn.not_helpful_count) == (1, 0)
    assert "You answered yes" in text(requester.get(f"/kb/articles/{vpn.pk}/"))


def test_write_submit_publish_revise_in_the_browser_forms(cast):
    agent, manager = client_for(cast.agent), client_for(cast.manager)
    review = (timezone.localdate() + timedelta(days=60)).isoformat()
    resp = agent.post(
        "/kb/articles/new/",
        {
            "title": "Restart a pod",
            "kind": "sop",
            "summary": "",
            "body": "kubectl rollout restart",
            "owner": cast.agent.pk,
            "review_date": review,
            "tags": "k8s, pods",
            "service": "",
            "visibility": "agents",
        },
    )
    made = Article.objects.get(title="Restart a pod")
    assert resp.status_code == 302 and resp["Location"] == f"/kb/articles/{made.pk}/"
    assert made.tags == ["k8s", "pods"] and made.state == ArticleState.DRAFT
    page = text(agent.get(f"/kb/articles/{made.pk}/"))
    assert "Submit for review" in page and ">Publish<" not in page
    agent.post(f"/kb/articles/{made.pk}/submit/")
    # An agent cannot publish: the page says why, nothing changes.
    resp = agent.post(f"/kb/articles/{made.pk}/publish/", follow=True)
    assert "Only knowledge managers" in text(resp)
    made.refresh_from_db()
    assert made.state == ArticleState.REVIEW
    # Sending back without a reason is refused with the field named.
    resp = manager.post(f"/kb/articles/{made.pk}/request-changes/", {"reason": ""}, follow=True)
    assert "reason: Required to request_changes." in text(resp)
    manager.post(f"/kb/articles/{made.pk}/publish/", {"note": "Reviewed"})
    made.refresh_from_db()
    assert made.state == ArticleState.PUBLISHED and made.published_version.note == "Reviewed"
    agent.post(f"/kb/articles/{made.pk}/revise/")
    made.refresh_from_db()
    assert made.state == ArticleState.DRAFT and made.version == 2
    agent.post(
        f"/kb/articles/{made.pk}/edit/",
        {
            "title": "Restart a pod safely",
            "kind": "sop",
            "body": "kubectl rollout restart deployment/web",
            "owner": cast.agent.pk,
            "review_date": review,
            "tags": "k8s",
            "visibility": "agents",
        },
    )
    made.refresh_from_db()
    assert made.title == "Restart a pod safely"
    published = text(agent.get(f"/kb/articles/{made.pk}/"))
    assert "Restart a pod</h1>" in published and "show the draft" in published
    draft = text(agent.get(f"/kb/articles/{made.pk}/?draft=1"))
    assert "Restart a pod safely</h1>" in draft
    diff = text(agent.get(f"/kb/articles/{made.pk}/diff/", {"from": 1, "to": "draft"}))
    assert '<span class="kb-diff-del">-# Restart a pod</span>' in diff
    assert '<span class="kb-diff-add">+# Restart a pod safely</span>' in diff
    assert agent.get(f"/kb/articles/{made.pk}/diff/", {"from": 1, "to": 9}).status_code == 404
    assert agent.post(f"/kb/articles/{made.pk}/explode/").status_code == 404


def test_due_for_review_page(cast):
    today = timezone.localdate()
    article(
        cast.agent,
        cast.org_a,
        "Backup restore SOP",
        publish_as=cast.manager,
        review_date=today + timedelta(days=3),
    )
    article(
        cast.agent,
        cast.org_a,
        "Far away",
        publish_as=cast.manager,
        review_date=today + timedelta(days=300),
    )
    page = text(client_for(cast.agent).get("/kb/due/"))
    assert "Backup restore SOP" in page and "Far away" not in page
    assert "Far away" in text(client_for(cast.agent).get("/kb/due/", {"within": 365}))


def test_related_knowledge_panel_and_used_to_resolve_button(cast, vpn):
    article(cast.agent, cast.org_a, "Mail relay", body="postfix", publish_as=cast.manager)
    article(cast.agent, cast.org_a, "VPN draft", body="vpn")  # not published: never suggested
    incident = create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="Cannot connect to VPN"
    )
    panel = related_knowledge(cast.agent, incident)
    assert panel is not None and panel.title == "Related knowledge"
    assert [h.article for h in panel.context["kb_hits"]] == [vpn]
    assert panel in panels_for(cast.agent, incident) or any(
        p.title == "Related knowledge" for p in panels_for(cast.agent, incident)
    )
    assert related_knowledge(cast.admin_b, incident) is None
    resp = client_for(cast.agent).post(f"/kb/incidents/{incident.pk}/use/{vpn.pk}/")
    assert resp.status_code == 302 and resp["Location"] == f"/desk/incidents/{incident.pk}/"
    assert ArticleUse.objects.filter(article=vpn, incident=incident).exists()
    panel = related_knowledge(cast.agent, incident)
    assert [u.article for u in panel.context["kb_uses"]] == [vpn]
    assert panel.context["kb_hits"] == []  # already used: no longer suggested
    # The requester cannot link; another organisation cannot even see the incident.
    assert client_for(cast.requester).post(
        f"/kb/incidents/{incident.pk}/unuse/{vpn.pk}/"
    ).status_code in (302, 404)
    assert ArticleUse.objects.filter(article=vpn, incident=incident).exists()
    assert (
        client_for(cast.admin_b).post(f"/kb/incidents/{incident.pk}/use/{vpn.pk}/").status_code
        == 404
    )
    client_for(cast.agent).post(f"/kb/incidents/{incident.pk}/unuse/{vpn.pk}/")
    assert not ArticleUse.objects.exists()


def test_suggestions_leave_out_stray_word_matches(cast):
    """On the demo library, an incident about the VPN gets the two VPN articles, not the
    ones that share only "every" or "working" with its title."""
    from opsdesk.core.permissions import Role
    from opsdesk.knowledge.demo import seed_demo

    seed_demo(cast.org_a, {Role.AGENT: cast.agent, Role.MANAGER: cast.manager})
    incident = create_incident(
        acting_user=cast.requester,
        organization=cast.org_a,
        title="VPN disconnects every hour when working from home",
    )
    hits = related_knowledge(cast.agent, incident).context["kb_hits"]
    assert [h.article.title for h in hits] == [
        "Connect to the VPN from home",
        "VPN drops after exactly 60 minutes",
    ]


def test_the_incident_page_shows_the_panel(cast, vpn):
    incident = create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="VPN keeps dropping"
    )
    resp = client_for(cast.agent).get(f"/desk/incidents/{incident.pk}/")
    assert resp.status_code == 200
    page = text(resp)
    assert "Related knowledge" in page
    assert f"/kb/incidents/{incident.pk}/use/{vpn.pk}/" in page
    actions.link_article(acting_user=cast.agent, article=vpn, incident=incident)
    assert "Used to resolve" in text(client_for(cast.agent).get(f"/desk/incidents/{incident.pk}/"))
