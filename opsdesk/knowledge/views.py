"""Web pages of the knowledge base: search, article (with feedback, versions and diffs),
editor and workflow buttons, "due for review", and the incident panel's link buttons.

Views check the shape of input (forms) and call the same selectors and actions as the API.
Every page is scoped to the current organisation (``request.organization``).
"""

from __future__ import annotations

import difflib
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_POST

from opsdesk.accounts.models import User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError, NotFound, PermissionDenied
from opsdesk.core.permissions import Action, has_permission
from opsdesk.knowledge import actions, selectors
from opsdesk.knowledge.forms import ArticleForm, FeedbackForm, SearchForm, TransitionForm
from opsdesk.knowledge.markdown import render_markdown
from opsdesk.knowledge.models import PUBLISH, Article, ArticleFeedback, ArticleUse
from opsdesk.knowledge.search import search
from opsdesk.knowledge.workflows import ARTICLE, REVIEWER_TRANSITIONS
from opsdesk.servicedesk.models import Incident

PAGE_SIZE = 30
SEARCH_LIMIT = 100
TRANSITION_NAMES = {t.name.replace("_", "-"): t.name for t in ARTICLE.transitions}


def _org(request: HttpRequest) -> Any:
    org = request.organization
    if org is None:
        raise Http404("Choose an organisation first.")
    return org


def _article(request: HttpRequest, pk: int, action: str = Action.VIEW) -> Article:
    org = _org(request)
    try:
        article = selectors.access_article(request.user, pk, action)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    if article.organization_id != org.pk:
        raise Http404("No article matches the given id.")
    return article


def _errors(request: HttpRequest, exc: Exception) -> None:
    if isinstance(exc, FieldError):
        for field, message in exc.errors.items():
            messages.error(request, f"{field.replace('_id', '').replace('_', ' ')}: {message}")
    else:
        messages.error(request, getattr(exc, "detail", str(exc)))


def _partial(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


# --- search ------------------------------------------------------------------------------------


@login_required
def kb_search(request: HttpRequest) -> HttpResponse:
    user = request.user
    org = _org(request)
    form = SearchForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    qs = selectors.filter_articles(
        selectors.articles_for_user(user),
        organization=org.pk,
        kind=filters.get("kind") or None,
        state=filters.get("state") or None,
        tag=(filters.get("tag") or "").strip().lower() or None,
    )
    q = (filters.get("q") or "").strip()
    hits = search(user, q, queryset=qs, limit=SEARCH_LIMIT) if q else None
    page = None
    if hits is None:
        if selectors.reads_published_only(user, org.pk):
            qs = qs.order_by("title", "pk")
        else:
            qs = qs.order_by("-updated_at", "pk")
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    querystring = request.GET.copy()
    querystring.pop("page", None)
    context = {
        "form": form,
        "q": q,
        "hits": hits,
        "page": page,
        "querystring": querystring.urlencode(),
        "can_add": has_permission(user, Article, Action.ADD, org.pk),
        "reader": selectors.reads_published_only(user, org.pk),
        "due_count": selectors.due_for_review(user).filter(organization_id=org.pk).count()
        if has_permission(user, Article, Action.CHANGE, org.pk)
        else 0,
    }
    template = "knowledge/search.html#results" if _partial(request) else "knowledge/search.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def kb_due(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not has_permission(request.user, Article, Action.CHANGE, org.pk):
        raise Http404("Only people who write articles review them.")
    try:
        within = max(0, min(int(request.GET.get("within", 30)), 3650))
    except ValueError:
        within = 30
    due = selectors.due_for_review(request.user, within).filter(organization_id=org.pk)
    return render(request, "knowledge/due.html", {"articles": due, "within": within})


# --- article -----------------------------------------------------------------------------------


def _transitions(user: Any, article: Article) -> list[dict[str, Any]]:
    out = []
    for t in ARTICLE.available(article.state):
        needed = PUBLISH if t.name in REVIEWER_TRANSITIONS else Action.CHANGE
        if has_permission(user, Article, needed, article.organization_id):
            out.append(
                {
                    "name": t.name,
                    "slug": t.name.replace("_", "-"),
                    "label": t.title,
                    "needs_reason": "reason" in t.requires,
                    "takes_note": t.name == "publish",
                    "danger": t.name == "retire",
                }
            )
    return out


@login_required
def kb_article(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    article = _article(request, pk)
    may_change = selectors.may_change(user, article)
    show_draft = may_change and (request.GET.get("draft") == "1" or not article.is_live)
    read = selectors.reading(user, article, working_copy=show_draft)
    versions = list(selectors.versions(user, article))
    mine = selectors.my_feedback(user, article)
    context = {
        "article": article,
        "read": read,
        "body_html": render_markdown(read.body),
        "show_draft": show_draft,
        "may_change": may_change,
        "can_edit": may_change and article.state == "draft",
        "transitions": _transitions(user, article)
        if may_change or has_permission(user, Article, PUBLISH, article.organization_id)
        else [],
        "versions": versions,
        "feedback": mine,
        "can_feedback": article.is_live
        and has_permission(user, ArticleFeedback, Action.ADD, article.organization_id),
        "comments": list(selectors.feedback_for(user, article).exclude(comment="")[:20])
        if may_change
        else [],
        "uses": list(selectors.uses_of_article(user, article)[:20]) if may_change else [],
        "reader": selectors.reads_published_only(user, article.organization_id),
    }
    return render(request, "knowledge/article.html", context)


def _diff_rows(old: str, new: str) -> list[tuple[str, str]]:
    rows = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        kind = {"@": "hunk", "+": "add", "-": "del"}.get(line[:1], "same")
        rows.append((kind, line))
    return rows


@login_required
def kb_diff(request: HttpRequest, pk: int) -> HttpResponse:
    """Differences between two versions (``?from=1&to=2``; ``to=draft``: the working copy)."""
    user = request.user
    article = _article(request, pk)
    versions = {v.version: v for v in selectors.versions(user, article)}

    def pick(raw: str | None) -> Any:
        if raw == "draft" and selectors.may_change(user, article):
            return selectors.Reading(article.title, article.summary, article.body, None, True)
        try:
            return versions[int(raw or "")]
        except (KeyError, ValueError):
            raise Http404("No such version.") from None

    old, new = pick(request.GET.get("from")), pick(request.GET.get("to"))
    text = lambda r: f"# {r.title}\n\n{r.summary}\n\n{r.body}"  # noqa: E731
    return render(
        request,
        "knowledge/diff.html",
        {
            "article": article,
            "old": old,
            "new": new,
            "old_label": f"v{old.version}" if old.version else "draft",
            "new_label": f"v{new.version}" if new.version else "draft",
            "rows": _diff_rows(text(old), text(new)),
        },
    )


# --- editor ------------------------------------------------------------------------------------


def _choices(org: Any) -> dict[str, list[Any]]:
    owners = [
        u
        for u in User.objects.filter(memberships__organization=org, is_active=True)
        .distinct()
        .order_by("full_name", "email")
        if has_permission(u, Article, Action.CHANGE, org.pk)
    ]
    services = list(
        ConfigurationItem.objects.filter(organization=org, ci_class__is_service=True).order_by(
            "name"
        )[:500]
    )
    return {"owners": owners, "services": services}


def _form_fields(form: ArticleForm, org: Any) -> dict[str, Any]:
    data = dict(form.cleaned_data)
    owner_id = data.pop("owner")
    service_id = data.pop("service")
    data["owner"] = User.objects.filter(pk=owner_id).first() if owner_id else None
    data["service"] = (
        ConfigurationItem.objects.filter(pk=service_id, organization=org).first()
        if service_id
        else None
    )
    return data


@login_required
def kb_new(request: HttpRequest) -> HttpResponse:
    org = _org(request)
    if not has_permission(request.user, Article, Action.ADD, org.pk):
        raise Http404("You may not write articles here.")
    choices = _choices(org)
    if request.method == "POST":
        form = ArticleForm(request.POST, **choices)
        if form.is_valid():
            try:
                article = actions.create_article(
                    acting_user=request.user, organization=org, **_form_fields(form, org)
                )
            except (FieldError, Conflict, PermissionDenied) as exc:
                _errors(request, exc)
            else:
                messages.success(request, f"{article.number} saved as a draft.")
                return HttpResponseRedirect(reverse("kb-article", args=[article.pk]))
    else:
        form = ArticleForm(initial={"owner": request.user.pk, "visibility": "agents"}, **choices)
    return render(request, "knowledge/form.html", {"form": form, "article": None})


@login_required
def kb_edit(request: HttpRequest, pk: int) -> HttpResponse:
    org = _org(request)
    article = _article(request, pk, Action.CHANGE)
    choices = _choices(org)
    if request.method == "POST":
        form = ArticleForm(request.POST, **choices)
        if form.is_valid():
            fields = _form_fields(form, org)
            if article.state != "draft":
                fields = {k: v for k, v in fields.items() if k in actions.META_FIELDS}
            try:
                actions.update_article(acting_user=request.user, article=article, **fields)
            except (FieldError, Conflict, PermissionDenied) as exc:
                _errors(request, exc)
            else:
                messages.success(request, f"{article.number} saved.")
                return HttpResponseRedirect(reverse("kb-article", args=[article.pk]) + "?draft=1")
    else:
        form = ArticleForm(
            initial={
                "title": article.title,
                "kind": article.kind,
                "summary": article.summary,
                "body": article.body,
                "owner": article.owner_id,
                "review_date": article.review_date,
                "tags": ", ".join(article.tags or []),
                "service": article.service_id,
                "visibility": article.visibility,
            },
            **choices,
        )
    return render(request, "knowledge/form.html", {"form": form, "article": article})


@require_POST
@login_required
def kb_transition(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    article = _article(request, pk)
    transition = TRANSITION_NAMES.get(name)
    if transition is None:
        raise Http404("No such transition.")
    form = TransitionForm(request.POST)
    values = form.cleaned_data if form.is_valid() else {}
    try:
        actions.transition_article(
            acting_user=request.user,
            article=article,
            transition=transition,
            reason=values.get("reason", ""),
            note=values.get("note", ""),
        )
    except (FieldError, Conflict, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(
            request, f"{article.number}: {ARTICLE.get(transition).title.lower()} — done."
        )
    target = reverse("kb-article", args=[article.pk])
    return HttpResponseRedirect(target + ("?draft=1" if article.is_revision else ""))


@require_POST
@login_required
def kb_feedback(request: HttpRequest, pk: int) -> HttpResponse:
    article = _article(request, pk)
    form = FeedbackForm(request.POST)
    if form.is_valid():
        try:
            actions.give_feedback(
                acting_user=request.user,
                article=article,
                helpful=form.cleaned_data["helpful"],
                comment=form.cleaned_data["comment"],
            )
        except (FieldError, Conflict, PermissionDenied) as exc:
            _errors(request, exc)
        else:
            messages.success(request, "Thank you: your answer is recorded.")
    else:
        messages.error(request, "Answer yes or no.")
    return HttpResponseRedirect(reverse("kb-article", args=[article.pk]) + "#feedback")


# --- incident panel ----------------------------------------------------------------------------


def _incident(request: HttpRequest, incident_pk: int) -> Incident:
    org = _org(request)
    found = (
        Incident.objects.restrict(request.user)
        .filter(pk=incident_pk, organization_id=org.pk)
        .first()
    )
    if found is None:
        raise Http404("No incident matches the given id.")
    return found


def _back_to(incident: Incident) -> HttpResponseRedirect:
    return HttpResponseRedirect(f"/desk/incidents/{incident.pk}/")


@require_POST
@login_required
def kb_use(request: HttpRequest, incident_pk: int, pk: int) -> HttpResponse:
    """'Used to resolve' from the incident page's panel: link, then back to the incident."""
    incident = _incident(request, incident_pk)
    article = _article(request, pk)
    try:
        actions.link_article(acting_user=request.user, article=article, incident=incident)
    except (FieldError, Conflict, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(
            request, f"{article.number} recorded as used to resolve {incident.number}."
        )
    return _back_to(incident)


@require_POST
@login_required
def kb_unuse(request: HttpRequest, incident_pk: int, pk: int) -> HttpResponse:
    incident = _incident(request, incident_pk)
    use = (
        ArticleUse.objects.restrict(request.user)
        .filter(incident=incident, article_id=pk)
        .select_related("article", "incident")
        .first()
    )
    if use is None:
        raise Http404("That article is not linked to this incident.")
    try:
        actions.unlink_article(acting_user=request.user, use=use)
    except (FieldError, Conflict, PermissionDenied) as exc:
        _errors(request, exc)
    else:
        messages.success(request, f"{use.article.number} unlinked from {incident.number}.")
    return _back_to(incident)


urlpatterns = [
    path("", kb_search, name="kb-search"),
    path("due/", kb_due, name="kb-due"),
    path("articles/new/", kb_new, name="kb-new"),
    path("articles/<int:pk>/", kb_article, name="kb-article"),
    path("articles/<int:pk>/edit/", kb_edit, name="kb-edit"),
    path("articles/<int:pk>/diff/", kb_diff, name="kb-diff"),
    path("articles/<int:pk>/feedback/", kb_feedback, name="kb-feedback"),
    path("articles/<int:pk>/<slug:name>/", kb_transition, name="kb-transition"),
    path("incidents/<int:incident_pk>/use/<int:pk>/", kb_use, name="kb-use"),
    path("incidents/<int:incident_pk>/unuse/<int:pk>/", kb_unuse, name="kb-unuse"),
]
