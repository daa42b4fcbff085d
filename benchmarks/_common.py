"""What the benchmark scripts share."""

from __future__ import annotations


def fresh_postgres_database(url: str, suffix: str = "bench") -> str:
    """A new, empty database beside the one in `url` (dropped first if a run left it)."""
    import psycopg

    base, _, name = url.rpartition("/")
    bench = f"{name or 'opsdesk'}_{suffix}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{bench}"')
    return f"{base}/{bench}"


def setup_django(database_url: str, suffix: str, var_prefix: str) -> str:
    """Django on a fresh database (`fresh_postgres_database` beside `database_url`, else a
    SQLite file in a new temporary var directory), migrated; returns the vendor."""
    import os
    import tempfile

    os.environ["OPSDESK_VAR_DIR"] = tempfile.mkdtemp(prefix=var_prefix)
    os.environ.setdefault("SECURE_COOKIES", "false")
    os.environ["LOG_LEVEL"] = "WARNING"
    if database_url:
        os.environ["DATABASE_URL"] = fresh_postgres_database(database_url, suffix)
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0, interactive=False)
    return connection.vendor


def alertmanager_alert(
    labels: dict[str, str], summary: str, starts_at: str, fingerprint: str
) -> dict:
    """One firing alert as Alertmanager's webhook carries it."""
    return {
        "status": "firing",
        "labels": labels,
        "annotations": {"summary": summary},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.local/graph",
        "fingerprint": fingerprint,
    }


def alertmanager_webhook(alerts: list[dict], common_labels: dict[str, str]) -> dict:
    """An Alertmanager webhook body (version 4) carrying ``alerts`` to the receiver opsdesk."""
    return {
        "version": "4",
        "groupKey": '{}:{alertname="bench"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "opsdesk",
        "groupLabels": {},
        "commonLabels": common_labels,
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": alerts,
    }


def serve_argv(port: int, *options: str) -> list[str]:
    """The command line of ``opsdesk serve`` (gunicorn) on 127.0.0.1:<port>."""
    import sys

    return [sys.executable, "-m", "opsdesk", "serve", "--bind", f"127.0.0.1:{port}", *options]
