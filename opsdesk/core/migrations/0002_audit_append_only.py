"""Make the audit trail append-only in the database itself, not only in the application."""

from django.db import migrations

SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS core_auditrecord_no_update;"]

POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS core_auditrecord_no_change ON core_auditrecord;",
    "DROP FUNCTION IF EXISTS core_auditrecord_append_only();",
]


def forwards(apps, schema_editor):
    # The same statements run again after every migrate (see opsdesk/core/dbtriggers.py).
    from opsdesk.core.dbtriggers import ensure_append_only

    ensure_append_only(schema_editor.connection)


def backwards(apps, schema_editor):
    statements = {"sqlite": SQLITE_REVERSE, "postgresql": POSTGRES_REVERSE}.get(
        schema_editor.connection.vendor, []
    )
    for sql in statements:
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
