"""API operations of the knowledge base; routers are mounted in opsdesk/config/api.py."""

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Status
from ninja.pagination import paginate

from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.api import ERROR_RESPONSES, Paginated
from opsdesk.core.errors import FieldError
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access_organization
from opsdesk.knowledge import actions, selectors
from opsdesk.knowledge.schemas import (
    ArticleDetailOut,
    ArticleFilter,
    ArticleIn,
    ArticleOut,
    ArticlePatch,
    FeedbackIn,
    FeedbackOut,
    PublishIn,
    ReasonIn,
    RequestChangesIn,
    UsedArticleOut,
    UseIn,
    UseOut,
    VersionOut,
)
from opsdesk.knowledge.search import MAX_RESULTS, search
from opsdesk.servicedesk.models import Incident

router = Router(tags=["Knowledge base"])

_CONFLICT = "409 lists the transitions allowed from the current state"


def _references(user: Any, organization_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Turn ``owner_id`` / ``service_id`` into objects; unknown or foreign ids are a 422."""
    from opsdesk.accounts.models import User

    if "owner_id" in data:
        owner_id = data.pop("owner_id")
        owner = User.objects.filter(pk=owner_id).first() if owner_id is not None else None
        if owner_id is not None and owner is None:
            raise FieldError({"owner_id": "No such user."})
        data["owner"] = owner
    if "service_id" in data:
        service_id = data.pop("service_id")
        service = None
        if service_id is not None:
            service = (
                ConfigurationItem.objects.restrict(user)
                .filter(pk=service_id, organization_id=organization_id)
                .first()
            )
            if service is None:
                raise FieldError({"service_id": "No configuration item of this organisation."})
        data["service"] = service
    return data


def _detail(user: Any, article_id: int) -> Any:
    return selectors.access_article(user, article_id)


@router.get(
    "/kb/articles",
    response={200: list[ArticleOut], **ERROR_RESPONSES},
    summary="Knowledge articles; with `q`, a ranked full-text search with highlighted matches",
)
@paginate(Paginated)
def list_articles(request: HttpRequest, filters: Query[ArticleFilter]):  # type: ignore[no-untyped-def]
    user = request.auth
    data = filters.dict()
    q = (data.pop("q") or "").strip()
    qs = selectors.filter_articles(selectors.articles_for_user(user), **data)
    if not q:
        return qs.order_by("title", "pk")
    hits = search(user, q, queryset=qs, limit=MAX_RESULTS)
    for hit in hits:
        hit.article._search_hit = hit
    return [hit.article for hit in hits]


@router.post(
    "/kb/articles",
    response={201: ArticleDetailOut, **ERROR_RESPONSES},
    summary="Write a new article (a draft, version 1)",
)
def create_article(request: HttpRequest, payload: ArticleIn):  # type: ignore[no-untyped-def]
    user = request.auth
    org = access_organization(user, payload.organization_id)
    data = {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    data.pop("organization_id")
    data = _references(user, org.pk, data)
    article = actions.create_article(acting_user=user, organization=org, **data)
    return Status(201, _detail(user, article.pk))


@router.get(
    "/kb/articles/{article_id}",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary="An article: requesters get the published version, authors the working copy",
)
def get_article(request: HttpRequest, article_id: int):  # type: ignore[no-untyped-def]
    return _detail(request.auth, article_id)


@router.patch(
    "/kb/articles/{article_id}",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary="Change an article: its text in a draft only; owner, review date, tags, "
    "service and visibility in any state but retired",
)
def update_article(request: HttpRequest, article_id: int, payload: ArticlePatch):  # type: ignore[no-untyped-def]
    user = request.auth
    article = selectors.access_article(user, article_id)
    changes = payload.dict(exclude_unset=True)
    for name in ("title", "kind", "summary", "body", "visibility"):
        if name in changes and changes[name] is None:
            raise FieldError({name: "Cannot be null."})
    if changes.get("tags", []) is None:
        changes["tags"] = []
    changes = _references(user, article.organization_id, changes)
    actions.update_article(acting_user=user, article=article, **changes)
    return _detail(user, article.pk)


def _transition(request: HttpRequest, article_id: int, name: str, **values: Any) -> Any:
    user = request.auth
    article = selectors.access_article(user, article_id)
    actions.transition_article(acting_user=user, article=article, transition=name, **values)
    return _detail(user, article.pk)


@router.post(
    "/kb/articles/{article_id}/submit",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary=f"Submit a draft for review; {_CONFLICT}",
)
def submit_article(request: HttpRequest, article_id: int):  # type: ignore[no-untyped-def]
    return _transition(request, article_id, "submit")


@router.post(
    "/kb/articles/{article_id}/request-changes",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary=f"Send an article in review back to draft, saying why (knowledge managers); "
    f"{_CONFLICT}",
)
def request_changes(request: HttpRequest, article_id: int, payload: RequestChangesIn):  # type: ignore[no-untyped-def]
    return _transition(request, article_id, "request_changes", reason=payload.reason)


@router.post(
    "/kb/articles/{article_id}/publish",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary=f"Publish an article in review (knowledge managers): needs an owner and a "
    f"review date; {_CONFLICT}",
)
def publish_article(request: HttpRequest, article_id: int, payload: PublishIn):  # type: ignore[no-untyped-def]
    return _transition(request, article_id, "publish", note=payload.note)


@router.post(
    "/kb/articles/{article_id}/revise",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary=f"Start the next version of a published article as a draft (the published "
    f"version stays readable); {_CONFLICT}",
)
def revise_article(request: HttpRequest, article_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, article_id, "revise", reason=payload.reason)


@router.post(
    "/kb/articles/{article_id}/retire",
    response={200: ArticleDetailOut, **ERROR_RESPONSES},
    summary=f"Retire an article (knowledge managers); {_CONFLICT}",
)
def retire_article(request: HttpRequest, article_id: int, payload: ReasonIn):  # type: ignore[no-untyped-def]
    return _transition(request, article_id, "retire", reason=payload.reason)


@router.get(
    "/kb/articles/{article_id}/versions",
    response={200: list[VersionOut], **ERROR_RESPONSES},
    summary="Published versions of an article, newest first",
)
@paginate(Paginated)
def list_versions(request: HttpRequest, article_id: int):  # type: ignore[no-untyped-def]
    user = request.auth
    return selectors.versions(user, selectors.access_article(user, article_id))


@router.post(
    "/kb/articles/{article_id}/feedback",
    response={200: FeedbackOut, **ERROR_RESPONSES},
    summary='"Did this help?" — one answer per person; answering again changes it',
)
def give_feedback(request: HttpRequest, article_id: int, payload: FeedbackIn):  # type: ignore[no-untyped-def]
    user = request.auth
    article = selectors.access_article(user, article_id)
    return actions.give_feedback(
        acting_user=user, article=article, helpful=payload.helpful, comment=payload.comment
    )


@router.post(
    "/kb/articles/{article_id}/uses",
    response={201: UseOut, **ERROR_RESPONSES},
    summary='Record that the article was "used to resolve" an incident (agents)',
)
def link_article(request: HttpRequest, article_id: int, payload: UseIn):  # type: ignore[no-untyped-def]
    user = request.auth
    article = selectors.access_article(user, article_id)
    incident = Incident.objects.restrict(user, Action.VIEW).filter(pk=payload.incident_id).first()
    if incident is None:
        raise FieldError({"incident_id": "No incident matches the given id."})
    return Status(201, actions.link_article(acting_user=user, article=article, incident=incident))


@router.get(
    "/incidents/{incident_id}/articles",
    response={200: list[UsedArticleOut], **ERROR_RESPONSES},
    summary='Articles "used to resolve" an incident, newest link first',
)
@paginate(Paginated)
def incident_articles(request: HttpRequest, incident_id: int):  # type: ignore[no-untyped-def]
    from opsdesk.core.selectors import access

    user = request.auth
    incident = access(Incident.objects.restrict(user), incident_id, "incident")
    return selectors.uses_for_incident(user, incident)
