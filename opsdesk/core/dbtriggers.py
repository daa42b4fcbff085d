"""The database triggers that keep the audit trail append-only.

Installed by migration 0002 and re-asserted after every ``migrate`` (post_migrate): SQLite
drops a table's triggers whenever a later migration rebuilds the table, so a one-off
migration alone would silently lose them.
"""

from __future__ import annotations

from typing import Any

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS core_auditrecord_no_update BEFORE UPDATE ON core_auditrecord
       BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;""",
]

# TRUNCATE (used only by test database flushes and by operators) is not a row-level event.
POSTGRES = [
    """CREATE OR REPLACE FUNCTION core_auditrecord_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit records are append-only'; END; $$ LANGUAGE plpgsql;""",
    "DROP TRIGGER IF EXISTS core_auditrecord_no_change ON core_auditrecord;",
    """CREATE TRIGGER core_auditrecord_no_change BEFORE UPDATE OR DELETE ON core_auditrecord
       FOR EACH ROW EXECUTE FUNCTION core_auditrecord_append_only();""",
]


def ensure_append_only(connection: Any) -> None:
    statements = {"sqlite": SQLITE, "postgresql": POSTGRES}.get(connection.vendor, [])
    if not statements or "core_auditrecord" not in connection.introspection.table_names():
        return
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    from django.db import connections

    ensure_append_only(connections[using])
