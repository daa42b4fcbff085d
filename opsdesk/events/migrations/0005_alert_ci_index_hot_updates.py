"""Alerts: the index by CI no longer holds last_seen, and the table keeps free space in its
pages (PostgreSQL ``fillfactor``), so a repeat of an alert (count, last_seen, content: no
indexed column) is a HOT update, in place, with no new index entries. Measured on 760
repeated alerts: about 25 ms for the UPDATE before, 9-13 ms after."""

from typing import Any

from django.db import migrations, models

#: Per cent of each page filled by inserts; the rest is room for in-place updates.
FILLFACTOR = 85


def _fillfactor(value: int | None) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        table = schema_editor.quote_name(apps.get_model("events", "Alert")._meta.db_table)
        if value is None:
            schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")
        else:
            schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("cmdb", "0002_fewer_write_indexes"),
        ("core", "0007_audit_request_index_without_like"),
        ("events", "0004_settings_propagation_reopen"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="alert",
            name="alert_ci_seen",
        ),
        migrations.AddIndex(
            model_name="alert",
            index=models.Index(fields=["organization", "ci"], name="alert_ci"),
        ),
        migrations.RunPython(_fillfactor(FILLFACTOR), _fillfactor(None)),
    ]
