"""Every write on the knowledge base: articles and their workflow, feedback, and "used to
resolve" links from incidents.

Each action is atomic, checks permission and the declared workflow
(`opsdesk.knowledge.workflows.ARTICLE`), validates with errors that name the field, writes
the audit trail (through `acting_as`), appends to the article's (or the incident's)
timeline and keeps the search index in step (`opsdesk.knowledge.search.index_article`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.knowledge.choices import ArticleKind, ArticleState, Visibility
from opsdesk.knowledge.models import (
    PUBLISH,
    Article,
    ArticleFeedback,
    ArticleUse,
    ArticleVersion,
)
from opsdesk.knowledge.search import index_article
from opsdesk.knowledge.selectors import due_for_review  # noqa: F401  (part of the API)
from opsdesk.knowledge.workflows import ARTICLE, REVIEWER_TRANSITIONS
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind
from opsdesk.servicedesk.models import Incident

#: What is written in a draft only: the text readers will see.
CONTENT_FIELDS = ("title", "kind", "summary", "body")
#: What may change in any state but retired: who keeps the article, when, where it shows.
META_FIELDS = ("owner", "review_date", "tags", "service", "visibility")
ARTICLE_FIELDS = CONTENT_FIELDS + META_FIELDS

MAX_TAGS = 30
MAX_TAG_LENGTH = 50
MAX_BODY = 200_000


def _label(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool | list):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def clean_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise FieldError({"tags": "A list of words."})
    cleaned: list[str] = []
    for tag in tags:
        tag = " ".join(tag.split()).lower()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise FieldError({"tags": f"A tag has at most {MAX_TAG_LENGTH} characters."})
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise FieldError({"tags": f"At most {MAX_TAGS} tags."})
    return cleaned


def _check(article: Article) -> None:
    errors: dict[str, str] = {}
    org = article.organization_id
    if not (article.title or "").strip():
        errors["title"] = "A title is required."
    if article.kind not in ArticleKind.values:
        errors["kind"] = f"One of: {', '.join(ArticleKind.values)}."
    if article.visibility not in Visibility.values:
        errors["visibility"] = f"One of: {', '.join(Visibility.values)}."
    if len(article.body or "") > MAX_BODY:
        errors["body"] = f"At most {MAX_BODY:,} characters."
    if article.owner_id is not None and not (
        Membership.objects.filter(organization_id=org, user_id=article.owner_id).exists()
        and has_permission(article.owner, Article, Action.CHANGE, org)
    ):
        errors["owner_id"] = "The owner must be someone who writes articles in this organisation."
    if article.service_id is not None and article.service.organization_id != org:
        errors["service_id"] = "The configuration item belongs to another organisation."
    if errors:
        raise FieldError(errors)


def _save(article: Article, acting_user: Any) -> Article:
    article.title = (article.title or "").strip()
    _check(article)
    save_validated(article)
    index_article(article)
    return article


def _require_change(user: Any, article: Article) -> None:
    require(user, Article, Action.CHANGE, article.organization_id)


def _refuse_if_retired(article: Article) -> None:
    if article.state in ARTICLE.final:
        raise Conflict(f"{article.number} is retired: it can no longer be changed.", field="state")


# --- create and edit ---------------------------------------------------------------------------


@transaction.atomic
def create_article(
    *,
    acting_user: Any,
    organization: Organization,
    title: str,
    kind: str = ArticleKind.HOW_TO,
    summary: str = "",
    body: str = "",
    owner: User | None = None,
    review_date: date | None = None,
    tags: list[str] | None = None,
    service: ConfigurationItem | None = None,
    visibility: str = Visibility.AGENTS,
) -> Article:
    """A new article, in draft, version 1. Its author owns it unless someone else is named."""
    require(acting_user, Article, Action.ADD, organization.pk)
    if owner is None and has_permission(acting_user, Article, Action.CHANGE, organization.pk):
        owner = acting_user
    with acting_as(acting_user):
        article = Article(
            organization=organization,
            title=title,
            kind=kind,
            summary=summary,
            body=body,
            owner=owner,
            review_date=review_date,
            tags=clean_tags(tags),
            service=service,
            visibility=visibility,
        )
        _save(article, acting_user)
        timeline.record(
            article,
            ActivityKind.CREATED,
            actor=acting_user,
            data={"state": article.state, "version": article.version, "kind": article.kind},
        )
    return article


@transaction.atomic
def update_article(*, acting_user: Any, article: Article, **changes: Any) -> Article:
    """Change an article. The text (title, kind, summary, body) changes in a draft only;
    owner, review date, tags, service and visibility in any state but retired."""
    _require_change(acting_user, article)
    unknown = sorted(set(changes) - set(ARTICLE_FIELDS))
    if unknown:
        raise FieldError({name: "This field cannot be changed here." for name in unknown})
    _refuse_if_retired(article)
    content = [name for name in CONTENT_FIELDS if name in changes]
    if content and article.state != ArticleState.DRAFT:
        allowed = ", ".join(ARTICLE.allowed_names(article.state))
        raise Conflict(
            f"{article.number} is {ARTICLE.label(article.state).lower()}: its text changes only "
            f"in a draft ({'revise it' if article.state == ArticleState.PUBLISHED else 'request changes'}"
            f" first). Allowed from here: {allowed}.",
            field="state",
        )
    if "tags" in changes:
        changes["tags"] = clean_tags(changes["tags"])
    before = {name: getattr(article, name) for name in changes}
    for name, value in changes.items():
        setattr(article, name, value)
    changed = {
        name: [_label(before[name]), _label(value)]
        for name, value in changes.items()
        if before[name] != value
    }
    if not changed:
        return article
    with acting_as(acting_user):
        _save(article, acting_user)
        timeline.record(
            article,
            ActivityKind.FIELD,
            actor=acting_user,
            data={"changes": {k: v for k, v in changed.items() if k != "body"}}
            | ({"body_changed": True} if "body" in changed else {}),
        )
    return article


# --- workflow ----------------------------------------------------------------------------------


@transaction.atomic
def transition_article(
    *, acting_user: Any, article: Article, transition: str, reason: str = "", note: str = ""
) -> Article:
    """Move the article along its workflow: submit, request_changes, publish, revise, retire.

    Publishing and sending back are decisions of knowledge managers (managers, admins);
    publishing needs an owner and a review date that has not passed, and freezes the working
    copy into a new `ArticleVersion` that readers see from then on. Revising starts the next
    version as a draft while the published one stays readable.
    """
    needed = PUBLISH if transition in REVIEWER_TRANSITIONS else Action.CHANGE
    if not has_permission(acting_user, Article, needed, article.organization_id):
        who = "knowledge managers (managers and admins)" if needed == PUBLISH else "agents"
        raise PermissionDenied(f"Only {who} may {transition.replace('_', ' ')} articles.")
    values = {
        "reason": reason,
        "owner": article.owner_id,
        "review_date": article.review_date,
    }
    step = ARTICLE.check(article.state, transition, values)
    now = timezone.now()
    source = article.state
    data: dict[str, Any] = {"from": source, "to": step.target, "transition": transition}
    with acting_as(acting_user):
        if transition == "publish":
            if article.review_date < timezone.localdate():
                raise FieldError({"review_date": "The review date has passed: set a new one."})
            version = ArticleVersion(
                organization_id=article.organization_id,
                article=article,
                version=article.version,
                title=article.title,
                summary=article.summary,
                body=article.body,
                author=acting_user if getattr(acting_user, "is_authenticated", False) else None,
                created_at=now,
                note=(note or "").strip()[:500],
            )
            version.save()
            article.published_version = version
            article.published_at = now
            data["version"] = version.version
        elif transition == "revise":
            article.version += 1
            data["version"] = article.version
        article.state = step.target
        _save(article, acting_user)
        timeline.record(
            article,
            ActivityKind.STATE,
            actor=acting_user,
            body=(reason or note or "").strip(),
            data=data,
            at=now,
        )
    return article


def submit_article(*, acting_user: Any, article: Article) -> Article:
    return transition_article(acting_user=acting_user, article=article, transition="submit")


def request_changes(*, acting_user: Any, article: Article, reason: str) -> Article:
    return transition_article(
        acting_user=acting_user, article=article, transition="request_changes", reason=reason
    )


def publish_article(*, acting_user: Any, article: Article, note: str = "") -> Article:
    return transition_article(
        acting_user=acting_user, article=article, transition="publish", note=note
    )


def revise_article(*, acting_user: Any, article: Article, reason: str = "") -> Article:
    return transition_article(
        acting_user=acting_user, article=article, transition="revise", reason=reason
    )


def retire_article(*, acting_user: Any, article: Article, reason: str = "") -> Article:
    return transition_article(
        acting_user=acting_user, article=article, transition="retire", reason=reason
    )


# --- feedback ----------------------------------------------------------------------------------


def _recount(article: Article) -> None:
    """The counters are bookkeeping derived from the audited feedback rows."""
    votes = ArticleFeedback.objects.filter(article=article)
    article.helpful_count = votes.filter(helpful=True).count()
    article.not_helpful_count = votes.filter(helpful=False).count()
    Article._base_manager.filter(pk=article.pk).update(
        helpful_count=article.helpful_count, not_helpful_count=article.not_helpful_count
    )


@transaction.atomic
def give_feedback(
    *, acting_user: Any, article: Article, helpful: bool, comment: str = ""
) -> ArticleFeedback:
    """ "Did this help?" — one answer per person and article; answering again changes it."""
    require(acting_user, ArticleFeedback, Action.ADD, article.organization_id)
    if not Article.objects.restrict(acting_user).filter(pk=article.pk).exists():
        raise PermissionDenied("You may not read this article.")
    if not article.is_live:
        raise Conflict("Only published articles take feedback.", field="state")
    if not isinstance(helpful, bool):
        raise FieldError({"helpful": "Yes (true) or no (false)."})
    comment = (comment or "").strip()
    if len(comment) > 2000:
        raise FieldError({"comment": "At most 2,000 characters."})
    version = article.published_version.version if article.published_version else None
    with acting_as(acting_user):
        feedback = (
            ArticleFeedback.objects.select_for_update()
            .filter(article=article, user=acting_user)
            .first()
        )
        if feedback is None:
            feedback = ArticleFeedback(
                organization_id=article.organization_id, article=article, user=acting_user
            )
        feedback.helpful = helpful
        feedback.comment = comment
        feedback.version = version
        save_validated(feedback)
        _recount(article)
    return feedback


# --- used to resolve ---------------------------------------------------------------------------


def _use_data(article: Article) -> dict[str, Any]:
    shown = article.published_version or article
    return {"type": "article", "id": article.pk, "number": article.number, "title": shown.title}


@transaction.atomic
def link_article(*, acting_user: Any, article: Article, incident: Incident) -> ArticleUse:
    """Record that `article` was used to resolve `incident` (agents who work the incident)."""
    require(acting_user, Incident, Action.CHANGE, incident.organization_id)
    require(acting_user, ArticleUse, Action.ADD, incident.organization_id)
    if article.organization_id != incident.organization_id:
        raise FieldError({"article_id": "The article belongs to another organisation."})
    if not article.is_live:
        raise Conflict(
            f"{article.number} is not published: only published articles resolve incidents.",
            field="article_id",
        )
    if ArticleUse.objects.filter(article=article, incident=incident).exists():
        raise Conflict(f"{article.number} is already linked to {incident.number}.")
    with acting_as(acting_user):
        use = ArticleUse(
            organization_id=incident.organization_id,
            article=article,
            incident=incident,
            linked_by=acting_user if getattr(acting_user, "is_authenticated", False) else None,
        )
        save_validated(use)
        timeline.record(
            incident, ActivityKind.LINK, actor=acting_user, public=True, data=_use_data(article)
        )
    return use


@transaction.atomic
def unlink_article(*, acting_user: Any, use: ArticleUse) -> None:
    incident = use.incident
    require(acting_user, Incident, Action.CHANGE, incident.organization_id)
    require(acting_user, ArticleUse, Action.DELETE, incident.organization_id)
    with acting_as(acting_user):
        data = _use_data(use.article)
        use.delete()
        timeline.record(incident, ActivityKind.UNLINK, actor=acting_user, public=True, data=data)
