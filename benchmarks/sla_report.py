"""The month's service-level compliance report at a million closed tickets, on PostgreSQL.

`benchmarks/sla.py` builds a million tickets with full histories and replays every clock,
which takes the better part of an hour on this machine. The report reads only the clock
and incident tables, so this script fills them directly in SQL (`generate_series`): 1,000,000
closed incidents over twelve months in two organisations, each with an SLA response clock,
an SLA resolution clock and an OLA clock, and a UC clock for one ticket in ten (about
3.1 million clocks; breach rates by priority like the demo's). It then times
`opsdesk.sla.reports.compliance_report` for one organisation's month (cold, then the median of
five warm runs) and, as the baseline measured in the same run, the same figures computed
the way the first version did: one aggregate query per breakdown, per kind and per
distribution.

    .venv/bin/python benchmarks/sla_report.py --database-url postgres://postgres@127.0.0.1:5432/opsdesk

Results: benchmarks/results/sla-report-postgresql.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
TARGET_S = 2.0

from benchmarks._common import fresh_postgres_database  # noqa: E402


def setup(database_url: str) -> str:
    url = fresh_postgres_database(database_url, "bench_sla_report")
    var = tempfile.mkdtemp(prefix="opsdesk-bench-slarep-")
    env = {**os.environ, "OPSDESK_VAR_DIR": var, "SECURE_COOKIES": "false", "LOG_LEVEL": "WARNING"}
    env["DATABASE_URL"] = url
    subprocess.run([sys.executable, "-m", "opsdesk", "migrate", "--noinput"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    import django

    django.setup()
    return url


def _filler(table: str, overrides: dict[str, str]) -> tuple[str, str]:
    """(column list, select list) for INSERT ... SELECT: `overrides` where given, else a
    neutral value for every NOT NULL column without a database default."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = %s AND column_default IS NULL AND is_identity = 'NO' "
            "ORDER BY ordinal_position",
            [table],
        )
        columns = cur.fetchall()
    names, values = [], []
    for name, data_type, nullable in columns:
        if name in overrides:
            names.append(name)
            values.append(overrides[name])
        elif nullable == "NO":
            names.append(name)
            if "timestamp" in data_type:
                values.append("now()")
            elif data_type in ("integer", "bigint", "smallint", "double precision", "numeric"):
                values.append("0")
            elif data_type == "boolean":
                values.append("false")
            elif data_type == "jsonb":
                values.append("'{}'::jsonb")
            else:
                values.append("''")
    return ", ".join(names), ", ".join(values)


def load(tickets: int) -> dict[str, Any]:
    from django.db import connection

    from opsdesk.accounts.models import Team
    from opsdesk.cmdb.models import CIClass, ConfigurationItem
    from opsdesk.core.models import Organization
    from opsdesk.sla.models import Definition
    from opsdesk.vendors.models import Vendor

    started = time.perf_counter()
    orgs = [
        Organization.objects.create(name="Bench Africa", slug="bench-africa",
                                    time_zone="Africa/Johannesburg"),
        Organization.objects.create(name="Bench Europe", slug="bench-europe",
                                    time_zone="Europe/Berlin"),
    ]  # fmt: skip
    service_class = CIClass.objects.get(key="business_service")
    setup: dict[int, dict[str, list[int]]] = {}
    for org in orgs:
        teams = [
            Team.objects.create(organization=org, name=f"Team {i}", slug=f"team-{i}").pk
            for i in range(8)
        ]
        services = [
            ConfigurationItem.objects.create(
                organization=org, name=f"Service {i}", ci_class=service_class
            ).pk
            for i in range(25)
        ]
        vendor = Vendor.objects.create(organization=org, name="Carrier")
        sla = Definition.objects.create(
            organization=org, name="Standard", response_minutes={"3": 240},
            resolution_minutes={"3": 1440},
        )  # fmt: skip
        olas = [
            Definition.objects.create(organization=org, name=f"OLA {i}", kind="ola",
                                      team_id=t, resolution_minutes={"3": 480}).pk
            for i, t in enumerate(teams)
        ]  # fmt: skip
        uc = Definition.objects.create(
            organization=org, name="UC Carrier", kind="uc", vendor=vendor,
            resolution_minutes={"3": 240},
        )  # fmt: skip
        setup[org.pk] = {"teams": teams, "services": services, "sla": [sla.pk], "olas": olas,
                         "uc": [uc.pk], "vendor": [vendor.pk]}  # fmt: skip
    a, b = orgs
    sa, sb = setup[a.pk], setup[b.pk]
    cols, values = _filler(
        "servicedesk_incident",
        {
            "organization_id": f"CASE WHEN g % 2 = 0 THEN {a.pk} ELSE {b.pk} END",
            "number": "'INC' || lpad(g::text, 9, '0')",
            "title": "'Benchmark incident ' || g",
            "state": "'closed'",
            "priority": "(ARRAY[1,2,3,3,3,3,4,4,4,4,4,5])[1 + g % 12]",
            "impact": "2",
            "urgency": "2",
            "channel": "'portal'",
            "opened_at": "timestamptz '2025-11-20 00:00+00' + (g % 525600) * interval '1 minute'",
            "first_assigned_at": "timestamptz '2025-11-20 00:00+00' + (g % 525600) * "
            "interval '1 minute' + (g % 97) * interval '1 minute'",
            "resolved_at": "timestamptz '2025-11-20 00:00+00' + (g % 525600) * interval "
            "'1 minute' + ((g::bigint * 7919) % 10000) * interval '1 minute'",
            "closed_at": "timestamptz '2025-11-20 00:00+00' + (g % 525600) * interval "
            "'1 minute' + ((g::bigint * 7919) % 10000 + 4320) * interval '1 minute'",
            "service_id": f"CASE WHEN g % 2 = 0 THEN (ARRAY{sa['services']})[1 + g % 25] "
            f"ELSE (ARRAY{sb['services']})[1 + g % 25] END",
            "assignment_group_id": f"CASE WHEN g % 2 = 0 THEN (ARRAY{sa['teams']})[1 + g % 8] "
            f"ELSE (ARRAY{sb['teams']})[1 + g % 8] END",
        },
    )
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO servicedesk_incident ({cols}) "  # noqa: S608 - generated, no input
            f"SELECT {values.replace('%', '%%')} FROM generate_series(1, %s) AS g",
            [tickets],
        )
    loaded_incidents = time.perf_counter() - started
    # Clocks: (kind, metric, definition, team, vendor, target, share of tickets).
    clock_cols, clock_values = _filler(
        "sla_clock",
        {
            "organization_id": "i.organization_id",
            "definition_id": "d.definition_id",
            "kind": "d.kind",
            "metric": "d.metric",
            "subject_type": "'incident'",
            "subject_id": "i.id",
            "number": "i.number",
            "service_id": "i.service_id",
            "team_id": "CASE WHEN d.kind = 'ola' THEN d.team_id ELSE i.assignment_group_id END",
            "vendor_id": "d.vendor_id",
            "priority": "i.priority",
            "status": "'stopped'",
            "target_seconds": "d.target",
            "elapsed_seconds": "((i.id * 7919) % 10000) * 30 % (d.target * 2)",
            "paused_seconds": "0",
            "started_at": "i.opened_at",
            "stopped_at": "CASE WHEN d.metric = 'response' THEN i.first_assigned_at "
            "ELSE i.resolved_at END",
            "breached": "(((i.id * 7919) % 10000) * 30 % (d.target * 2)) >= d.target",
            "computed_at": "now()",
            "definition_version": "1",
            "prediction": "'{}'::jsonb",
        },
    )
    rows = []
    for org_id, s in setup.items():
        rows.append(f"({org_id}, {s['sla'][0]}, 'sla', 'response', NULL, NULL, 14400, 0)")
        rows.append(f"({org_id}, {s['sla'][0]}, 'sla', 'resolution', NULL, NULL, 86400, 0)")
        for team, ola in zip(s["teams"], s["olas"], strict=True):
            rows.append(f"({org_id}, {ola}, 'ola', 'resolution', {team}, NULL, 28800, {team})")
        rows.append(
            f"({org_id}, {s['uc'][0]}, 'uc', 'resolution', NULL, {s['vendor'][0]}, 14400, -1)"
        )
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE bench_defs (organization_id int, definition_id int, kind text, "
            "metric text, team_id int, vendor_id int, target int, holder int)"
        )
        cur.execute("INSERT INTO bench_defs VALUES " + ", ".join(rows))  # noqa: S608
        cur.execute(
            f"INSERT INTO sla_clock ({clock_cols}) SELECT {clock_values.replace('%', '%%')} "  # noqa: S608
            "FROM servicedesk_incident i JOIN bench_defs d ON d.organization_id = "
            "i.organization_id WHERE d.holder = 0 OR d.holder = i.assignment_group_id "
            "OR (d.holder = -1 AND i.id %% 10 = 0)",
            [],
        )
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM sla_clock")
        clocks = cur.fetchone()[0]
    return {
        "tickets": tickets,
        "clocks": clocks,
        "organization_id": a.pk,
        "incidents_seconds": round(loaded_incidents, 1),
        "load_seconds": round(time.perf_counter() - started, 1),
    }


def vacuum() -> None:
    import psycopg
    from django.db import connection

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"] or 5432, user=settings["USER"],
        dbname=settings["NAME"], autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute("VACUUM ANALYZE sla_clock")
        conn.execute("VACUUM ANALYZE servicedesk_incident")


def old_way(organization_id: int, month: date) -> None:
    """The first version's queries: an aggregate per breakdown, per kind and metric, and
    aggregates plus percentile_cont per distribution (the baseline)."""
    from django.db.models import Avg, Count, F, Q

    from opsdesk.core.models import Organization
    from opsdesk.sla.reports import date_period, month_end, stopped_clocks

    org = Organization.objects.get(pk=organization_id)
    period = date_period(org.time_zone, month, month_end(month))
    ids = [organization_id]
    for metric in ("resolution", "response"):
        list(stopped_clocks(ids, period.start, period.end, metric=metric).values("kind")
             .annotate(n=Count("id"), b=Count("id", filter=Q(breached=True))).order_by())  # fmt: skip
    for column, kind in (("service_id", "sla"), ("priority", "sla"), ("team_id", "ola"),
                         ("vendor_id", "uc")):  # fmt: skip
        list(stopped_clocks(ids, period.start, period.end, kind=kind).values(key=F(column))
             .annotate(n=Count("id"), b=Count("id", filter=Q(breached=True))).order_by())  # fmt: skip
    qs = stopped_clocks(ids, period.start, period.end, kind="sla")
    for _ in range(4):  # mttr wall + business, mtta wall + business: overall and per priority
        qs.aggregate(n=Count("id"), mean=Avg("elapsed_seconds"))
        list(qs.values("priority").annotate(n=Count("id"), mean=Avg("elapsed_seconds")))


def timed(fn: Any, repeat: int = 5) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        fn()
        cold = time.perf_counter() - started
    warm = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - started)
    return {
        "cold_seconds": round(cold, 3),
        "warm_median_seconds": round(statistics.median(warm), 3),
        "warm_seconds": [round(w, 3) for w in warm],
        "queries": len(queries.captured_queries),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--month", default="2026-10")
    parser.add_argument("--keep", action="store_true", help="Keep the database afterwards.")
    args = parser.parse_args()
    url = setup(args.database_url)
    loaded = load(args.tickets)
    vacuum()
    from opsdesk.sla.reports import compliance_report

    month = date.fromisoformat(args.month + "-01")
    org_id = loaded["organization_id"]
    report_timing = timed(lambda: compliance_report(organization_id=org_id, month=month))
    baseline = timed(lambda: old_way(org_id, month))
    result = compliance_report(organization_id=org_id, month=month)
    sla_row = next(k for k in result.kinds if k.kind == "sla")
    out = {
        "benchmark": "sla_report",
        "database": "postgresql",
        "command": "benchmarks/sla_report.py --database-url postgres://postgres@127.0.0.1:5432/opsdesk",
        "target_seconds": TARGET_S,
        "loaded": loaded,
        "month": args.month,
        "report": report_timing,
        "baseline_first_version_queries": baseline,
        "month_sla_resolution": sla_row.resolution.as_dict(),
        "met_target": report_timing["warm_median_seconds"] < TARGET_S,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sla-report-postgresql.json").write_text(json.dumps(out, indent=2) + "\n")
    md = [
        "# SLA compliance report at a million closed tickets (PostgreSQL)",
        "",
        f"Command: `{out['command']}`",
        "",
        f"- Data: {loaded['tickets']:,} closed incidents, {loaded['clocks']:,} clocks, two "
        f"organisations, twelve months; loaded in {loaded['load_seconds']} s (SQL).",
        f"- Month: {args.month} for one organisation ({sla_row.resolution.total:,} SLA "
        f"resolution clocks stopped in it).",
        "",
        "| | cold (s) | warm median of 5 (s) | queries |",
        "|---|---:|---:|---:|",
        f"| `compliance_report` | {report_timing['cold_seconds']} | "
        f"{report_timing['warm_median_seconds']} | {report_timing['queries']} |",
        f"| baseline: one aggregate per figure (subset of the first version) | "
        f"{baseline['cold_seconds']} | {baseline['warm_median_seconds']} | "
        f"{baseline['queries']} |",
        "",
        f"Target: under {TARGET_S} s — {'met' if out['met_target'] else 'NOT met'}.",
        "",
    ]
    (RESULTS / "sla-report-postgresql.md").write_text("\n".join(md))
    print("\n".join(md))
    if not args.keep:
        import psycopg
        from django.db import connections

        connections.close_all()
        base, _, _name = args.database_url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
