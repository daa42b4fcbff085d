"""Full-text search of the knowledge base, on SQLite and on PostgreSQL, behind one function.

``search(user, q)`` returns the articles `user` may read that match `q`, best first, each
with its title and a snippet where the matched words are wrapped in ``<mark>``.

What is searched depends on who reads: people who work articles (agents, managers,
auditors, admins) search the *working copy* of every article they may see; a requester
searches the *published version* of the public articles, so words of a revision that is
still being written never show up for them.

- SQLite: an FTS5 table ``knowledge_article_fts`` (Porter stemming, ranked with ``bm25``,
  title weighted 10, summary 4, tags 2, body 1), created by migration 0002 and kept in
  sync by `index_article`, which every action that changes an article's text calls inside
  its transaction. Its rowid says what a row holds: ``2 * article id`` the working copy,
  ``2 * article id + 1`` the published version.
- PostgreSQL: no stored column; ``SearchVector`` weighted title A, summary B, body C with
  the ``english`` configuration, matched by a ``websearch`` query through GIN expression
  indexes (migration 0002) on articles and on versions, ranked by ``SearchRank``, snippets
  by ``SearchHeadline``.
"""

from __future__ import annotations

import functools
import operator
import re
from dataclasses import dataclass
from typing import Any

import nh3
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from opsdesk.core.permissions import Role, organization_roles
from opsdesk.knowledge.models import Article, ArticleVersion

FTS_TABLE = "knowledge_article_fts"
CONFIG = "english"
MAX_QUERY = 200
MAX_RESULTS = 500
MAX_WORDS = 30
#: Markers the database puts around matched words; turned into <mark> after escaping.
OPEN, CLOSE = "\x02", "\x03"

SQLITE_WEIGHTS = (10.0, 4.0, 1.0, 2.0)  # title, summary, body, tags


@dataclass
class SearchHit:
    article: Article
    rank: float
    title_html: SafeString
    snippet_html: SafeString
    #: "work" (the working copy was searched) or "live" (the published version).
    layer: str


def search_vector() -> Any:
    return (
        SearchVector("title", weight="A", config=CONFIG)
        + SearchVector("summary", weight="B", config=CONFIG)
        + SearchVector("body", weight="C", config=CONFIG)
    )


_MARKUP = re.compile(r"(?m)^\s{0,3}(?:#{1,6}|[-*+]|\d+\.|>)\s+|\*\*|__|`|\|")


def marked(text: str | None, *, markdown: bool = False) -> SafeString:
    """Escape `text` and turn the database's markers into <mark> elements; ``markdown``
    drops the Markdown punctuation of a body snippet (#, **, `, |) and folds whitespace."""
    text = (text or "").replace(OPEN + CLOSE, "")
    if markdown:
        text = " ".join(_MARKUP.sub(" ", text).split())
    html = escape(text).replace(OPEN, "<mark>").replace(CLOSE, "</mark>")
    # The markers come in pairs from the database; nh3 closes any that text broke.
    return mark_safe(nh3.clean(html, tags={"mark"}, attributes={}))  # noqa: S308


def _clean(q: str) -> str:
    return (q or "").replace("\x00", " ").replace(OPEN, " ").replace(CLOSE, " ")[:MAX_QUERY]


# --- who reads what ----------------------------------------------------------------------------


def _layers(user: Any, candidates: QuerySet[Article]) -> tuple[QuerySet, QuerySet]:
    """(articles searched by working copy, articles searched by published version)."""
    if getattr(user, "is_superuser", False):
        return candidates, candidates.none()
    requester_orgs = [o for o, role in organization_roles(user).items() if role == Role.REQUESTER]
    return (
        candidates.exclude(organization_id__in=requester_orgs),
        candidates.filter(organization_id__in=requester_orgs),
    )


def search(
    user: Any,
    q: str,
    *,
    queryset: QuerySet[Article] | None = None,
    limit: int = 50,
    any_word: bool = False,
) -> list[SearchHit]:
    """Articles `user` may read matching `q` (web-search syntax: words, "a phrase", or,
    -word), best first. `queryset` narrows the candidates (filters); it cannot widen them.
    ``any_word`` matches articles with any of the words (related-article suggestions)."""
    q = _clean(q)
    limit = max(1, min(limit, MAX_RESULTS))
    candidates = Article.objects.restrict(user)
    if queryset is not None:
        candidates = candidates.filter(pk__in=queryset.values("pk"))
    work, live = _layers(user, candidates)
    if connection.vendor == "postgresql":
        hits = _search_postgres(q, work, live, limit, any_word)
    else:
        hits = _search_sqlite(q, work, live, limit, any_word)
    articles = Article.objects.select_related("owner", "published_version", "service").in_bulk(
        [h[0] for h in hits]
    )
    return [
        SearchHit(articles[aid], rank, marked(title), marked(snippet, markdown=True), layer)
        for aid, layer, rank, title, snippet in hits
        if aid in articles
    ]


# --- SQLite FTS5 -------------------------------------------------------------------------------

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
_WORD = re.compile(r"\w+", re.UNICODE)


#: PostgreSQL's ``english`` stop words (Snowball): dropped from suggestions on SQLite too,
#: so that "every" or "when" in an incident title does not suggest unrelated articles.
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
    ]
)


def suggestion_words(q: str) -> list[str]:
    """The words of `q` worth matching on their own (no stop words, no single letters)."""
    words = [w for w in _WORD.findall(q) if len(w) > 1 and w.lower() not in STOP_WORDS]
    return list(dict.fromkeys(words))[:MAX_WORDS]


def fts5_query(q: str, any_word: bool = False) -> str:
    """Web-search syntax as a safe FTS5 expression: every word is quoted, so nothing the user
    types is read as FTS5 syntax. Empty if nothing is left to look for."""
    positives: list[str] = []
    negatives: list[str] = []
    pending_or = False
    for match in _TOKEN.finditer(q):
        negative = bool(match.group(1) or match.group(3))
        raw = match.group(2) if match.group(2) is not None else match.group(4)
        if match.group(4) is not None and raw.lower() == "or" and not negative:
            pending_or = bool(positives)
            continue
        words = _WORD.findall(raw)
        if not words:
            continue
        term = '"' + " ".join(words) + '"'
        if negative:
            negatives.append(term)
        elif pending_or and positives:
            positives[-1] = f"{positives[-1]} OR {term}"
            pending_or = False
        else:
            positives.append(term)
    if any_word:
        positives = [" OR ".join(f'"{w}"' for w in suggestion_words(q))]
        negatives = []
    if not positives or not positives[0]:
        return ""
    expression = " AND ".join(f"({p})" for p in positives)
    for term in negatives:
        expression = f"({expression}) NOT {term}"
    return expression


def _subquery(qs: QuerySet) -> tuple[str, tuple[Any, ...]]:
    """SQL selecting the ids of `qs` (a subquery that matches nothing if `qs` cannot)."""
    try:
        return qs.values("pk").query.sql_with_params()
    except EmptyResultSet:
        return "SELECT NULL WHERE 0", ()


def _search_sqlite(
    q: str, work: QuerySet, live: QuerySet, limit: int, any_word: bool
) -> list[tuple[int, str, float, str, str]]:
    expression = fts5_query(q, any_word)
    if not expression:
        return []
    work_sql, work_params = _subquery(work)
    live_sql, live_params = _subquery(live)
    weights = ", ".join(str(w) for w in SQLITE_WEIGHTS)
    sql = f"""
        SELECT rowid, bm25({FTS_TABLE}, {weights}) AS score,
               highlight({FTS_TABLE}, 0, %s, %s),
               snippet({FTS_TABLE}, -1, %s, %s, '…', 24)
        FROM {FTS_TABLE}
        WHERE {FTS_TABLE} MATCH %s
          AND ((rowid %% 2 = 0 AND rowid / 2 IN ({work_sql}))
               OR (rowid %% 2 = 1 AND rowid / 2 IN ({live_sql})))
        ORDER BY score, rowid
        LIMIT %s
    """  # noqa: S608  (table name and subqueries are ours; user input is a parameter)
    params = [OPEN, CLOSE, OPEN, CLOSE, expression, *work_params, *live_params, limit]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    # bm25 is lower-is-better; report higher-is-better like PostgreSQL's rank.
    return [
        (rowid // 2, "live" if rowid % 2 else "work", -score, title, snippet)
        for rowid, score, title, snippet in rows
    ]


def _tags_text(tags: Any) -> str:
    return " ".join(str(t) for t in tags) if isinstance(tags, list) else ""


def index_article(article: Article) -> None:
    """Bring the search index up to date with `article` (no-op on PostgreSQL, whose index
    is an expression over the columns). Called by every action that changes an article."""
    if connection.vendor != "sqlite":
        return
    rows = [(2 * article.pk, article.title, article.summary, article.body, article.tags)]
    version = article.published_version if article.published_version_id else None
    if version is not None:
        rows.append(
            (2 * article.pk + 1, version.title, version.summary, version.body, article.tags)
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {FTS_TABLE} WHERE rowid IN (%s, %s)",  # noqa: S608
            [2 * article.pk, 2 * article.pk + 1],
        )
        for rowid, title, summary, body, tags in rows:
            cursor.execute(
                f"INSERT INTO {FTS_TABLE} (rowid, title, summary, body, tags) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s)",
                [rowid, title, summary, body, _tags_text(tags)],
            )


def rebuild_index() -> int:
    """Re-index every article (after a restore or a bulk load). Returns how many."""
    count = 0
    for article in Article.objects.select_related("published_version").iterator():
        index_article(article)
        count += 1
    return count


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg_annotated(qs: QuerySet, query: SearchQuery) -> QuerySet:
    vector = search_vector()
    options = {"config": CONFIG, "start_sel": OPEN, "stop_sel": CLOSE}
    return (
        qs.annotate(search=vector)
        .filter(search=query)
        .annotate(
            rank=SearchRank(vector, query),
            title_hl=SearchHeadline("title", query, highlight_all=True, **options),
            snippet=SearchHeadline(
                "body", query, max_words=35, min_words=15, max_fragments=2, **options
            ),
        )
    )


def _search_postgres(
    q: str, work: QuerySet, live: QuerySet, limit: int, any_word: bool
) -> list[tuple[int, str, float, str, str]]:
    words = suggestion_words(q) if any_word else _WORD.findall(q)
    if not words:
        return []
    if any_word:
        query = functools.reduce(
            operator.or_, [SearchQuery(w, search_type="plain", config=CONFIG) for w in words]
        )
    else:
        query = SearchQuery(q, search_type="websearch", config=CONFIG)
    found: list[tuple[int, str, float, str, str]] = []
    for row in (
        _pg_annotated(Article.objects.filter(pk__in=work.values("pk")), query)
        .order_by("-rank", "pk")[:limit]
        .values_list("pk", "rank", "title_hl", "snippet")
    ):
        found.append((row[0], "work", row[1], row[2], row[3]))
    versions = ArticleVersion.objects.filter(
        pk__in=live.filter(published_version__isnull=False).values("published_version_id")
    )
    for row in (
        _pg_annotated(versions, query)
        .order_by("-rank", "pk")[:limit]
        .values_list("article_id", "rank", "title_hl", "snippet")
    ):
        found.append((row[0], "live", row[1], row[2], row[3]))
    found.sort(key=lambda r: (-r[2], r[0]))
    return found[:limit]
