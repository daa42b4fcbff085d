"""The article workflow, versions, feedback and "used to resolve" links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.knowledge import actions, selectors
from opsdesk.knowledge.choices import ArticleState, Visibility
from opsdesk.knowledge.models import Article, ArticleFeedback, ArticleUse, ArticleVersion
from opsdesk.knowledge.tests.factories import article
from opsdesk.servicedesk.actions import create_incident
from opsdesk.servicedesk.choices import ActivityKind
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def test_an_article_goes_from_draft_through_review_to_published(cast):
    a = actions.create_article(
        acting_user=cast.agent, organization=cast.org_a, title="Reset a password", body="Step 1"
    )
    assert a.number.startswith("KB") and a.state == ArticleState.DRAFT and a.version == 1
    assert a.owner == cast.agent  # the author owns it
    actions.submit_article(acting_user=cast.agent, article=a)
    assert a.state == ArticleState.REVIEW
    # Publishing needs a review date: the 422 names it.
    with pytest.raises(FieldError) as exc:
        actions.publish_article(acting_user=cast.manager, article=a)
    assert set(exc.value.errors) == {"review_date"}
    actions.update_article(
        acting_user=cast.agent, article=a, review_date=timezone.localdate() + timedelta(days=90)
    )
    actions.publish_article(acting_user=cast.manager, article=a, note="First version")
    a.refresh_from_db()
    assert a.state == ArticleState.PUBLISHED and a.published_at is not None
    assert a.published_version.version == 1 and a.published_version.body == "Step 1"
    assert a.published_version.note == "First version"
    kinds = list(
        Activity.objects.filter(subject_type="article", subject_id=a.pk).values_list(
            "kind", flat=True
        )
    )
    assert kinds == ["created", "state", "field", "state"]


def test_publishing_needs_an_owner_and_a_future_review_date(cast):
    a = article(cast.agent, cast.org_a, "No owner", owner=None)
    a.owner = None  # an owner who left: cleared
    actions.update_article(acting_user=cast.agent, article=a, owner=None, review_date=None)
    actions.submit_article(acting_user=cast.agent, article=a)
    with pytest.raises(FieldError) as exc:
        actions.publish_article(acting_user=cast.manager, article=a)
    assert set(exc.value.errors) == {"owner", "review_date"}
    actions.update_article(
        acting_user=cast.agent,
        article=a,
        owner=cast.agent,
        review_date=timezone.localdate() - timedelta(days=1),
    )
    with pytest.raises(FieldError) as exc:
        actions.publish_article(acting_user=cast.manager, article=a)
    assert set(exc.value.errors) == {"review_date"}


def test_illegal_transitions_name_the_allowed_ones(cast):
    a = article(cast.agent, cast.org_a, "Mail relay")
    with pytest.raises(Conflict) as exc:
        actions.publish_article(acting_user=cast.manager, article=a)
    assert "Allowed from draft: submit, retire" in exc.value.detail
    with pytest.raises(FieldError) as exc:  # sending back needs a reason
        actions.submit_article(acting_user=cast.agent, article=a)
        actions.request_changes(acting_user=cast.manager, article=a, reason=" ")
    assert set(exc.value.errors) == {"reason"}


def test_only_knowledge_managers_publish_send_back_and_retire(cast):
    a = article(cast.agent, cast.org_a, "VPN")
    actions.submit_article(acting_user=cast.agent, article=a)
    for act in (
        lambda: actions.publish_article(acting_user=cast.agent, article=a),
        lambda: actions.request_changes(acting_user=cast.agent, article=a, reason="x"),
        lambda: actions.retire_article(acting_user=cast.agent, article=a),
        lambda: actions.submit_article(acting_user=cast.requester, article=a),
    ):
        with pytest.raises(PermissionDenied):
            act()
    actions.request_changes(acting_user=cast.manager, article=a, reason="Add screenshots")
    assert a.state == ArticleState.DRAFT
    note = Activity.objects.filter(subject_type="article", subject_id=a.pk).last()
    assert note.body == "Add screenshots"
    with pytest.raises(PermissionDenied):
        actions.create_article(acting_user=cast.requester, organization=cast.org_a, title="x")
    with pytest.raises(PermissionDenied):
        actions.create_article(acting_user=cast.agent, organization=cast.org_b, title="x")


def test_revising_keeps_the_published_version_readable(cast):
    a = article(
        cast.agent,
        cast.org_a,
        "VPN v1",
        body="Old steps",
        publish_as=cast.manager,
        visibility=Visibility.EVERYONE,
    )
    with pytest.raises(Conflict):  # the text of a published article changes in a revision
        actions.update_article(acting_user=cast.agent, article=a, body="New")
    actions.revise_article(acting_user=cast.agent, article=a)
    assert a.state == ArticleState.DRAFT and a.version == 2 and a.is_live and a.is_revision
    actions.update_article(acting_user=cast.agent, article=a, title="VPN v2", body="New steps")
    # The requester still reads version 1, and still finds the article.
    assert Article.objects.restrict(cast.requester).filter(pk=a.pk).exists()
    read = selectors.reading(cast.requester, a)
    assert (read.title, read.body, read.version, read.is_draft) == ("VPN v1", "Old steps", 1, False)
    read = selectors.reading(cast.agent, a)
    assert (read.title, read.version, read.is_draft) == ("VPN v2", 2, True)
    actions.submit_article(acting_user=cast.agent, article=a)
    actions.publish_article(acting_user=cast.manager, article=a, note="New client")
    assert list(a.versions.values_list("version", "title")) == [(2, "VPN v2"), (1, "VPN v1")]
    assert selectors.reading(cast.requester, a).body == "New steps"
    # Versions are immutable.
    with pytest.raises(TypeError):
        ArticleVersion.objects.get(article=a, version=1).save()


def test_requesters_see_only_published_public_articles(cast):
    public = article(
        cast.agent, cast.org_a, "Public", publish_as=cast.manager, visibility=Visibility.EVERYONE
    )
    internal = article(cast.agent, cast.org_a, "Internal", publish_as=cast.manager)
    draft = article(cast.agent, cast.org_a, "Draft", visibility=Visibility.EVERYONE)
    retired = article(
        cast.agent, cast.org_a, "Old", publish_as=cast.manager, visibility=Visibility.EVERYONE
    )
    actions.retire_article(acting_user=cast.manager, article=retired)
    seen = set(Article.objects.restrict(cast.requester).values_list("title", flat=True))
    assert seen == {"Public"}
    assert {"Public", "Internal", "Draft", "Old"} <= set(
        Article.objects.restrict(cast.agent).values_list("title", flat=True)
    )
    assert (
        not Article.objects.restrict(cast.admin_b)
        .filter(pk__in=[public.pk, internal.pk, draft.pk])
        .exists()
    )
    assert set(ArticleVersion.objects.restrict(cast.requester).values_list("title", flat=True)) == {
        "Public"
    }


def test_retired_articles_cannot_change(cast):
    a = article(cast.agent, cast.org_a, "Gone", publish_as=cast.manager)
    actions.retire_article(acting_user=cast.manager, article=a, reason="Replaced")
    with pytest.raises(Conflict) as exc:
        actions.update_article(acting_user=cast.agent, article=a, tags=["x"])
    assert exc.value.field == "state"
    with pytest.raises(Conflict) as exc:
        actions.revise_article(acting_user=cast.agent, article=a)
    assert "final state" in exc.value.detail


def test_fields_are_validated_by_name(cast):
    with pytest.raises(FieldError) as exc:
        actions.create_article(acting_user=cast.agent, organization=cast.org_a, title="  ")
    assert set(exc.value.errors) == {"title"}
    with pytest.raises(FieldError) as exc:
        actions.create_article(
            acting_user=cast.agent, organization=cast.org_a, title="x", owner=cast.requester
        )
    assert set(exc.value.errors) == {"owner_id"}
    with pytest.raises(FieldError) as exc:
        actions.create_article(
            acting_user=cast.agent, organization=cast.org_a, title="x", owner=cast.admin_b
        )
    assert set(exc.value.errors) == {"owner_id"}
    with pytest.raises(FieldError) as exc:
        actions.create_article(
            acting_user=cast.agent, organization=cast.org_a, title="x", tags=["a" * 51]
        )
    assert set(exc.value.errors) == {"tags"}
    made = actions.create_article(
        acting_user=cast.agent, organization=cast.org_a, title="x", tags=[" VPN ", "vpn", "Mail"]
    )
    assert made.tags == ["vpn", "mail"]
    with pytest.raises(FieldError) as exc:
        actions.update_article(acting_user=cast.agent, article=made, state="published")
    assert set(exc.value.errors) == {"state"}


def test_feedback_is_one_per_person_and_can_change(cast):
    a = article(
        cast.agent, cast.org_a, "Printer", publish_as=cast.manager, visibility=Visibility.EVERYONE
    )
    actions.give_feedback(acting_user=cast.requester, article=a, helpful=False, comment="Unclear")
    actions.give_feedback(acting_user=cast.agent, article=a, helpful=True)
    a.refresh_from_db()
    assert (a.helpful_count, a.not_helpful_count) == (1, 1)
    actions.give_feedback(acting_user=cast.requester, article=a, helpful=True)
    a.refresh_from_db()
    assert (a.helpful_count, a.not_helpful_count) == (2, 0)
    assert ArticleFeedback.objects.filter(article=a).count() == 2
    mine = ArticleFeedback.objects.get(article=a, user=cast.requester)
    assert mine.comment == "" and mine.version == 1
    # Each answer is audited; the counters are not.
    assert AuditRecord.objects.filter(object_type="knowledge.articlefeedback").count() == 3
    draft = article(cast.agent, cast.org_a, "Draft")
    with pytest.raises(Conflict):
        actions.give_feedback(acting_user=cast.agent, article=draft, helpful=True)
    internal = article(cast.agent, cast.org_a, "Internal", publish_as=cast.manager)
    with pytest.raises(PermissionDenied):
        actions.give_feedback(acting_user=cast.requester, article=internal, helpful=True)


def test_used_to_resolve_links_record_on_the_incident_timeline(cast):
    a = article(cast.agent, cast.org_a, "VPN", publish_as=cast.manager)
    incident = create_incident(
        acting_user=cast.requester, organization=cast.org_a, title="VPN down"
    )
    with pytest.raises(PermissionDenied):
        actions.link_article(acting_user=cast.requester, article=a, incident=incident)
    use = actions.link_article(acting_user=cast.agent, article=a, incident=incident)
    assert use.linked_by == cast.agent
    entry = Activity.objects.filter(subject_type="incident", subject_id=incident.pk).last()
    assert entry.kind == ActivityKind.LINK and entry.public
    assert entry.data == {"type": "article", "id": a.pk, "number": a.number, "title": "VPN"}
    with pytest.raises(Conflict):
        actions.link_article(acting_user=cast.agent, article=a, incident=incident)
    draft = article(cast.agent, cast.org_a, "Draft")
    with pytest.raises(Conflict):
        actions.link_article(acting_user=cast.agent, article=draft, incident=incident)
    assert [u.article for u in selectors.uses_for_incident(cast.agent, incident)] == [a]
    actions.unlink_article(acting_user=cast.agent, use=use)
    assert not ArticleUse.objects.exists()
    entry = Activity.objects.filter(subject_type="incident", subject_id=incident.pk).last()
    assert entry.kind == ActivityKind.UNLINK


def test_articles_due_for_review(cast):
    today = timezone.localdate()
    soon = article(
        cast.agent,
        cast.org_a,
        "Soon",
        publish_as=cast.manager,
        review_date=today + timedelta(days=10),
    )
    later = article(
        cast.agent,
        cast.org_a,
        "Later",
        publish_as=cast.manager,
        review_date=today + timedelta(days=100),
    )
    article(cast.agent, cast.org_a, "Draft soon", review_date=today + timedelta(days=1))
    # A review date that passed while the article was live.
    late = article(
        cast.agent,
        cast.org_a,
        "Late",
        publish_as=cast.manager,
        review_date=today + timedelta(days=2),
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(timezone, "localdate", lambda *a: today + timedelta(days=5))
        assert list(selectors.due_for_review(cast.agent, within_days=30)) == [late, soon]
    assert list(selectors.due_for_review(cast.agent)) == [late, soon]
    assert list(selectors.due_for_review(cast.agent, within_days=365)) == [late, soon, later]
    assert list(actions.due_for_review(cast.requester)) == []
    assert list(actions.due_for_review(cast.admin_b)) == []
