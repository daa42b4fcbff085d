"""API schemas of the knowledge base."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from ninja import Field, Schema

from opsdesk.core.api import InSchema, ObjectId
from opsdesk.knowledge.choices import ArticleKind, ArticleState, Visibility
from opsdesk.knowledge.markdown import render_markdown
from opsdesk.knowledge.selectors import Reading, reading
from opsdesk.knowledge.workflows import ARTICLE

Title = Annotated[str, Field(min_length=1, max_length=255)]
Summary = Annotated[str, Field(max_length=500)]
Body = Annotated[str, Field(max_length=200_000)]
Tag = Annotated[str, Field(min_length=1, max_length=50)]
ApiDate = Annotated[date, Field(ge=date(2000, 1, 1), le=date(9998, 12, 31))]


def _reading(obj: Any, context: Any) -> Reading:
    cached = getattr(obj, "_api_reading", None)
    if cached is None:
        request = (context or {}).get("request")
        cached = reading(getattr(request, "auth", None), obj)
        obj._api_reading = cached
    return cached


class ArticleFilter(Schema):
    organization: ObjectId | None = None
    q: str | None = Field(
        None, max_length=200, description='Full-text search: words, "a phrase", or, -word'
    )
    kind: ArticleKind | None = None
    state: ArticleState | None = None
    tag: Tag | None = None
    owner: ObjectId | None = None
    due_for_review: bool | None = Field(
        None, description="Published articles whose review date is within `within_days`"
    )
    within_days: int = Field(30, ge=0, le=3650)


class HighlightOut(Schema):
    title: str = Field(description="HTML: the title with matched words in <mark>")
    snippet: str = Field(description="HTML: the best matching passage, words in <mark>")
    rank: float


class ArticleOut(Schema):
    id: int
    organization_id: int
    number: str
    title: str = Field(description="What the caller reads: the published version for requesters")
    kind: ArticleKind
    summary: str
    state: ArticleState
    version: int = Field(description="Version of the text shown")
    published_version: int | None = Field(description="The version readers see, if any")
    published_at: datetime | None
    owner_id: int | None
    review_date: date | None
    tags: list[str]
    service_id: int | None
    visibility: Visibility
    helpful_count: int
    not_helpful_count: int
    created_at: datetime
    updated_at: datetime
    highlight: HighlightOut | None = Field(None, description="With `q`: why it matched")

    @staticmethod
    def resolve_title(obj: Any, context: Any) -> str:
        return _reading(obj, context).title

    @staticmethod
    def resolve_summary(obj: Any, context: Any) -> str:
        return _reading(obj, context).summary

    @staticmethod
    def resolve_version(obj: Any, context: Any) -> int:
        return _reading(obj, context).version or obj.version

    @staticmethod
    def resolve_published_version(obj: Any) -> int | None:
        return obj.published_version.version if obj.published_version_id else None

    @staticmethod
    def resolve_highlight(obj: Any) -> dict[str, Any] | None:
        hit = getattr(obj, "_search_hit", None)
        if hit is None:
            return None
        return {"title": hit.title_html, "snippet": hit.snippet_html, "rank": hit.rank}


class ArticleDetailOut(ArticleOut):
    body: str = Field(description="Markdown")
    body_html: str = Field(description="The body rendered and sanitised")
    allowed_transitions: list[str]

    @staticmethod
    def resolve_body(obj: Any, context: Any) -> str:
        return _reading(obj, context).body

    @staticmethod
    def resolve_body_html(obj: Any, context: Any) -> str:
        return str(render_markdown(_reading(obj, context).body))

    @staticmethod
    def resolve_allowed_transitions(obj: Any) -> list[str]:
        return ARTICLE.allowed_names(obj.state)


class _ArticleFields(InSchema):
    kind: ArticleKind | None = None
    summary: Summary | None = None
    body: Body | None = None
    owner_id: ObjectId | None = None
    review_date: ApiDate | None = None
    tags: list[Tag] | None = Field(None, max_length=30)
    service_id: ObjectId | None = None
    visibility: Visibility | None = None


class ArticleIn(_ArticleFields):
    organization_id: ObjectId
    title: Title


class ArticlePatch(_ArticleFields):
    title: Title | None = None


class ReasonIn(InSchema):
    reason: Annotated[str, Field(max_length=2000)] = ""


class RequestChangesIn(InSchema):
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


class PublishIn(InSchema):
    note: Annotated[str, Field(max_length=500)] = Field("", description="What changed")


class VersionOut(Schema):
    id: int
    version: int
    title: str
    summary: str
    body: str
    author_id: int | None
    created_at: datetime
    note: str


class FeedbackIn(InSchema):
    helpful: bool
    comment: Annotated[str, Field(max_length=2000)] = ""


class FeedbackOut(Schema):
    id: int
    article_id: int
    user_id: int
    helpful: bool
    comment: str
    version: int | None
    helpful_count: int = Field(alias="article.helpful_count")
    not_helpful_count: int = Field(alias="article.not_helpful_count")
    updated_at: datetime


class UseIn(InSchema):
    incident_id: ObjectId


class UseOut(Schema):
    id: int
    organization_id: int
    article_id: int
    article_number: str = Field(alias="article.number")
    incident_id: int
    linked_by_id: int | None
    at: datetime


class UsedArticleOut(Schema):
    id: int = Field(description="Id of the link")
    article: ArticleOut
    linked_by_id: int | None
    at: datetime
