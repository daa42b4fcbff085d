"""Full-text search on SQLite (FTS5) and PostgreSQL: ranking, stemming, highlighting, and
that nobody finds what they may not read."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.knowledge import actions
from opsdesk.knowledge.choices import Visibility
from opsdesk.knowledge.search import fts5_query, search
from opsdesk.knowledge.tests.factories import article

pytestmark = pytest.mark.django_db


def titles(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.article.title for h in hits]


@pytest.fixture
def library(cast):  # type: ignore[no-untyped-def]
    pub = {"publish_as": cast.manager}
    return {
        "title": article(
            cast.agent, cast.org_a, "Printer queue stuck", body="Clear the spooler.", **pub
        ),
        "body": article(
            cast.agent,
            cast.org_a,
            "Office devices",
            body="If the printer jams, open tray 2 and remove the paper.",
            **pub,
        ),
        "restart": article(
            cast.agent,
            cast.org_a,
            "Kubernetes pod SOP",
            body="Restarting a pod: kubectl rollout restart deployment/web.",
            **pub,
        ),
        "other": article(cast.agent, cast.org_a, "Mail relay", body="Postfix relays mail.", **pub),
        "b": article(cast.admin_b, cast.org_b, "Printer in B", body="printer", owner=cast.admin_b),
    }


def test_a_title_match_ranks_above_a_body_match(cast, library):
    hits = search(cast.agent, "printer")
    assert titles(hits) == ["Printer queue stuck", "Office devices"]
    assert hits[0].rank > hits[1].rank


def test_words_are_stemmed(cast, library):
    assert titles(search(cast.agent, "restarts")) == ["Kubernetes pod SOP"]
    assert titles(search(cast.agent, "relaying")) == ["Mail relay"]


def test_matches_are_highlighted_and_escaped(cast, library):
    article(cast.agent, cast.org_a, "<b>Printer</b> & toner", body="<script>x</script> printer")
    hits = {h.article.title: h for h in search(cast.agent, "printer")}
    assert "<mark>Printer</mark>" in hits["Printer queue stuck"].title_html
    assert "<mark>printer</mark>" in hits["Office devices"].snippet_html
    nasty = hits["<b>Printer</b> & toner"]
    assert "<b>" not in nasty.title_html and "&lt;b&gt;" in nasty.title_html
    assert "<script>" not in nasty.snippet_html


def test_web_search_syntax(cast, library):
    assert titles(search(cast.agent, '"rollout restart"')) == ["Kubernetes pod SOP"]
    assert titles(search(cast.agent, "printer -spooler")) == ["Office devices"]
    assert set(titles(search(cast.agent, "postfix or kubectl"))) == {
        "Mail relay",
        "Kubernetes pod SOP",
    }
    assert titles(search(cast.agent, "printer tray")) == ["Office devices"]
    assert search(cast.agent, "") == []
    assert search(cast.agent, '-printer "" ((( NEAR AND') == []


def test_nobody_finds_what_they_may_not_read(cast, library):
    assert "Printer in B" not in titles(search(cast.agent, "printer"))
    assert titles(search(cast.admin_b, "printer")) == ["Printer in B"]
    # Requesters: published, public articles only.
    assert search(cast.requester, "printer") == []
    actions.update_article(
        acting_user=cast.agent, article=library["body"], visibility=Visibility.EVERYONE
    )
    assert titles(search(cast.requester, "printer")) == ["Office devices"]


def test_requesters_search_the_published_version_not_the_revision(cast):
    a = article(
        cast.agent,
        cast.org_a,
        "VPN client",
        body="Install the Cisco client.",
        publish_as=cast.manager,
        visibility=Visibility.EVERYONE,
    )
    actions.revise_article(acting_user=cast.agent, article=a)
    actions.update_article(acting_user=cast.agent, article=a, body="Install WireGuard.")
    assert titles(search(cast.agent, "wireguard")) == ["VPN client"]
    assert search(cast.agent, "cisco") == []
    assert search(cast.requester, "wireguard") == []
    hits = search(cast.requester, "cisco")
    assert titles(hits) == ["VPN client"] and hits[0].layer == "live"
    actions.submit_article(acting_user=cast.agent, article=a)
    actions.publish_article(acting_user=cast.manager, article=a)
    assert titles(search(cast.requester, "wireguard")) == ["VPN client"]
    actions.retire_article(acting_user=cast.manager, article=a)
    assert search(cast.requester, "wireguard") == []


def test_any_word_matching_for_suggestions(cast, library):
    hits = search(cast.agent, "printer stuck kubectl nothing", any_word=True)
    assert titles(hits)[0] == "Printer queue stuck"
    assert set(titles(hits)) == {"Printer queue stuck", "Office devices", "Kubernetes pod SOP"}


def test_queryset_narrows_but_never_widens(cast, library):
    from opsdesk.knowledge.models import Article

    only = Article.objects.filter(pk__in=[library["body"].pk, library["b"].pk])
    assert titles(search(cast.agent, "printer", queryset=only)) == ["Office devices"]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(q=st.text(max_size=60))
def test_any_query_text_is_safe(cast, library, q):
    """Whatever is typed, the search answers (FTS5 syntax is never passed through)."""
    search(cast.agent, q)
    search(cast.agent, q, any_word=True)
    search(cast.requester, q)


def test_fts5_query_quotes_every_word():
    assert fts5_query('vpn "two words" -mail or x') == (
        '(("vpn") AND ("two words" OR "x")) NOT "mail"'
    )
    assert fts5_query("NEAR(a b) AND *") == '("NEAR a") AND ("b") AND ("AND")'
    assert fts5_query("-only") == ""


def test_the_database_index_exists():
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE name = 'knowledge_article_fts'")
        else:
            cursor.execute(
                "SELECT indexname FROM pg_indexes WHERE indexname IN "
                "('kb_article_search', 'kb_version_search')"
            )
        assert cursor.fetchall()


def test_postgres_queries_use_the_gin_expression_index(cast):
    """The index is on the very expression the search builds (else it is never used)."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    from django.contrib.postgres.search import SearchQuery

    from opsdesk.knowledge.models import Article, ArticleVersion
    from opsdesk.knowledge.search import CONFIG, search_vector

    query = SearchQuery("vpn", search_type="websearch", config=CONFIG)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    for model, index in ((Article, "kb_article_search"), (ArticleVersion, "kb_version_search")):
        plan = model.objects.annotate(search=search_vector()).filter(search=query).explain()
        assert index in plan, plan
