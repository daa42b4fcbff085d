"""Reads of the knowledge base, always restricted to what the user may see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from opsdesk.core.permissions import Action, Role, has_permission, organization_roles
from opsdesk.core.selectors import access
from opsdesk.knowledge.models import Article, ArticleFeedback, ArticleUse, ArticleVersion


def articles_for_user(user: Any, action: str = Action.VIEW) -> QuerySet[Article]:
    return Article.objects.restrict(user, action).select_related(
        "owner", "published_version", "service"
    )


def access_article(user: Any, article_id: Any, action: str = Action.VIEW) -> Article:
    return access(articles_for_user(user, action), article_id, "article")


def reads_published_only(user: Any, organization_id: int) -> bool:
    """Requesters read the published version of an article, never its working copy."""
    if getattr(user, "is_superuser", False):
        return False
    return organization_roles(user).get(organization_id) == Role.REQUESTER


def filter_articles(
    qs: QuerySet[Article],
    *,
    organization: int | None = None,
    kind: str | None = None,
    state: str | None = None,
    tag: str | None = None,
    owner: int | None = None,
    service: int | None = None,
    due_for_review: bool | None = None,
    within_days: int = 30,
) -> QuerySet[Article]:
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    if tag:
        # JSON "contains" is not supported on SQLite: match the quoted element in the text.
        qs = qs.filter(tags__icontains=f'"{tag.strip().lower()}"')
    if owner is not None:
        qs = qs.filter(owner_id=owner)
    if service is not None:
        qs = qs.filter(service_id=service)
    if due_for_review:
        qs = qs.live().filter(review_date__lte=review_horizon(within_days))
    return qs


def review_horizon(within_days: int = 30) -> date:
    return timezone.localdate() + timedelta(days=max(0, within_days))


def due_for_review(user: Any, within_days: int = 30) -> QuerySet[Article]:
    """Live articles whose review date falls within `within_days` (or has passed), soonest
    first: the list article owners and knowledge managers work through."""
    return (
        articles_for_user(user, Action.CHANGE)
        .live()
        .filter(review_date__lte=review_horizon(within_days))
        .order_by("review_date", "title", "pk")
    )


def versions(user: Any, article: Article) -> QuerySet[ArticleVersion]:
    return (
        ArticleVersion.objects.restrict(user)
        .filter(article=article)
        .select_related("author")
        .order_by("-version")
    )


def my_feedback(user: Any, article: Article) -> ArticleFeedback | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return ArticleFeedback.objects.filter(article=article, user=user).first()


def feedback_for(user: Any, article: Article) -> QuerySet[ArticleFeedback]:
    return ArticleFeedback.objects.restrict(user).filter(article=article).select_related("user")


def uses_for_incident(user: Any, incident: Any) -> QuerySet[ArticleUse]:
    return (
        ArticleUse.objects.restrict(user)
        .filter(incident=incident, article__in=Article.objects.restrict(user))
        .select_related("article", "article__published_version", "linked_by")
        .order_by("-at", "-pk")
    )


def uses_of_article(user: Any, article: Article) -> QuerySet[ArticleUse]:
    return (
        ArticleUse.objects.restrict(user)
        .filter(article=article)
        .select_related("incident", "linked_by")
        .order_by("-at", "-pk")
    )


@dataclass
class Reading:
    """What one person reads of an article: the working copy or the published version."""

    title: str
    summary: str
    body: str
    version: int | None
    is_draft: bool


def reading(user: Any, article: Article, *, working_copy: bool | None = None) -> Reading:
    """Requesters (and anyone asking for it) read the published version; people who work
    articles read the working copy by default, or the published version if asked."""
    published = article.published_version if article.published_version_id else None
    if working_copy is None:
        working_copy = not reads_published_only(user, article.organization_id)
    if published is not None and (
        not working_copy or article.state == "published" or not may_change(user, article)
    ):
        return Reading(published.title, published.summary, published.body, published.version, False)
    return Reading(article.title, article.summary, article.body, article.version, True)


def may_change(user: Any, article: Article) -> bool:
    return has_permission(user, Article, Action.CHANGE, article.organization_id)
