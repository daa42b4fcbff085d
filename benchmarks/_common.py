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
