"""Knowledge articles (how-tos, known errors, SOPs, policies), their published versions,
"this helped" feedback and "used to resolve" links from incidents.

An article row holds the *working copy* (title, summary, body) and its workflow state.
Publishing freezes the working copy into an immutable `ArticleVersion` and points
``published_version`` at it: that version is what readers see, even while a revision of
the article (the next version, back in draft) is being written and reviewed.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, Numbered, TenantOwned
from opsdesk.core.permissions import Action, RestrictedQuerySet, Role
from opsdesk.knowledge.choices import ArticleKind, ArticleState, Visibility

#: Publishing, sending back and retiring decide what readers see: knowledge managers only.
PUBLISH = "publish"

ARTICLE_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW}),
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, PUBLISH}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset(
        {
            Action.VIEW,
            Action.ADD,
            Action.CHANGE,
            Action.DELETE,
            Action.AUDIT,
            Action.ADMIN,
            PUBLISH,
        }
    ),
}

#: Everyone who can read an article may say whether it helped.
FEEDBACK_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.AUDITOR: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
}

#: "Used to resolve" links are made by whoever works the incident.
USE_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.REQUESTER: frozenset({Action.VIEW}),
    Role.AGENT: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
    Role.AUDITOR: frozenset({Action.VIEW}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE}),
}


def live_condition(prefix: str = "") -> Q:
    """Articles whose published version readers may read: published once, not retired."""
    return Q(**{f"{prefix}published_version__isnull": False}) & ~Q(
        **{f"{prefix}state": ArticleState.RETIRED}
    )


def public_condition(prefix: str = "") -> Q:
    """What a requester may read: live articles visible to everyone."""
    return live_condition(prefix) & Q(**{f"{prefix}visibility": Visibility.EVERYONE})


class ArticleQuerySet(ChangeLoggedQuerySet):
    def live(self) -> ArticleQuerySet:
        return self.filter(live_condition())


class Article(TenantOwned, ChangeLogged, Numbered):
    """A knowledge article: a how-to, a known error, a standard operating procedure or a policy."""

    number_prefix = "KB"

    title = models.CharField(max_length=255)
    kind = models.CharField(max_length=20, choices=ArticleKind.choices, default=ArticleKind.HOW_TO)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True, help_text="Markdown.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_articles",
        help_text="Keeps the article right and reviews it by its review date.",
    )
    review_date = models.DateField(null=True, blank=True)
    state = models.CharField(
        max_length=20, choices=ArticleState.choices, default=ArticleState.DRAFT
    )
    version = models.PositiveIntegerField(
        default=1, help_text="The version the working copy will become when published."
    )
    published_version = models.ForeignKey(
        "knowledge.ArticleVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="What readers see.",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    tags = models.JSONField(default=list, blank=True)
    service = models.ForeignKey(
        "cmdb.ConfigurationItem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="articles",
        help_text="The service or configuration item the article is about.",
    )
    visibility = models.CharField(
        max_length=20, choices=Visibility.choices, default=Visibility.AGENTS
    )
    helpful_count = models.PositiveIntegerField(default=0)
    not_helpful_count = models.PositiveIntegerField(default=0)

    objects = ArticleQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = ARTICLE_ROLE_ACTIONS
    #: Counters are bookkeeping: each vote is audited as an `ArticleFeedback` row.
    audit_exclude: ClassVar[frozenset[str]] = frozenset(
        {"updated_at", "helpful_count", "not_helpful_count"}
    )

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="article_number"),
        ]
        indexes = [
            models.Index(fields=["organization", "state"], name="kb_org_state"),
            models.Index(fields=["organization", "review_date"], name="kb_org_review"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return public_condition()
        return None

    @property
    def is_live(self) -> bool:
        return self.published_version_id is not None and self.state != ArticleState.RETIRED

    @property
    def is_revision(self) -> bool:
        """A new version being written while an earlier one stays published."""
        return self.is_live and self.state != ArticleState.PUBLISHED


class ArticleVersion(TenantOwned):
    """A published version of an article, frozen: the history readers and diffs use."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=255)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    note = models.CharField(max_length=500, blank=True, help_text="What changed.")

    objects = RestrictedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = ARTICLE_ROLE_ACTIONS

    class Meta:
        ordering = ["article", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["article", "version"], name="article_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.article_id} v{self.version}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return public_condition("article__")
        return None

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise TypeError("Article versions are immutable.")
        super().save(*args, **kwargs)


class ArticleFeedback(TenantOwned, ChangeLogged):
    """ "Did this help?": one answer per person and article, which they may change."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    helpful = models.BooleanField()
    comment = models.TextField(blank=True)
    version = models.PositiveIntegerField(null=True, blank=True, help_text="The version read.")

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = FEEDBACK_ROLE_ACTIONS

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["article", "user"], name="one_feedback_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.article_id}: {'yes' if self.helpful else 'no'}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(user_id=user.pk)
        return None


class ArticleUse(TenantOwned, ChangeLogged):
    """An article used to resolve an incident."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="uses")
    incident = models.ForeignKey(
        "servicedesk.Incident", on_delete=models.CASCADE, related_name="article_uses"
    )
    linked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = USE_ROLE_ACTIONS

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["article", "incident"], name="article_used_once")
        ]
        indexes = [models.Index(fields=["incident", "at"], name="kb_use_incident")]

    def __str__(self) -> str:
        return f"{self.article_id} resolved {self.incident_id}"

    @classmethod
    def scope_for_role(cls, role: str, user: Any) -> Q | None:
        if role == Role.REQUESTER:
            return Q(incident__requester_id=user.pk) & public_condition("article__")
        return None
