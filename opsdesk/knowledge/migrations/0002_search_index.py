"""Full-text search indexes, one per database vendor (see opsdesk/knowledge/search.py).

SQLite: an FTS5 table kept in sync by the knowledge actions (no triggers, so nothing is lost
when SQLite rebuilds knowledge_article on a later ALTER).
PostgreSQL: GIN expression indexes over the same weighted tsvector expression the search
queries use, on articles (working copies) and on versions (what readers see).
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS knowledge_article_fts USING fts5("
    "title, summary, body, tags, tokenize='porter unicode61 remove_diacritics 2')"
)
SQLITE_DROP = "DROP TABLE IF EXISTS knowledge_article_fts"


def _vector():
    return (
        SearchVector("title", weight="A", config="english")
        + SearchVector("summary", weight="B", config="english")
        + SearchVector("body", weight="C", config="english")
    )


INDEXES = (("article", "kb_article_search"), ("articleversion", "kb_version_search"))


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)
    elif vendor == "postgresql":
        for model_name, index_name in INDEXES:
            model = apps.get_model("knowledge", model_name)
            schema_editor.add_index(model, GinIndex(_vector(), name=index_name))


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)
    elif vendor == "postgresql":
        for model_name, index_name in INDEXES:
            model = apps.get_model("knowledge", model_name)
            schema_editor.remove_index(model, GinIndex(_vector(), name=index_name))


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
