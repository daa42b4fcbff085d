"""Service desk at scale: page and API server time over a million incidents, and the speed of
the ServiceNow import.

    .venv/bin/python benchmarks/servicedesk.py pages --database-url postgres://postgres@127.0.0.1:5432/opsdesk \
        [--incidents 1000000] [--requests 30]
    .venv/bin/python benchmarks/servicedesk.py import [--database-url URL] [--file ZIP]

``pages``: a fresh PostgreSQL database; 2 organisations (70 % / 30 %), 50 teams, 500 agents in
one to three teams each, 20,000 requesters; N incidents opened over three years (mostly
closed; the open ones spread over new / in progress / on hold; P3/P4 mostly, 1 % P1) with
their creation timeline entries, loaded with COPY through `opsdesk.core.bulk`, then ANALYZE.
Each case is requested in-process with Django's test Client as an agent of the larger
organisation (member of two teams): server time p50 / p95 / max over ``--requests`` requests
after warm-up, and the SQL queries of one request. A case whose URL answers 404 (the page is
not built yet) is skipped and says so. Query counts are also compared between two page sizes:
they must not grow with the page. Results: benchmarks/results/servicedesk-<date>.{json,md}.

``import``: the ServiceNow sample imported twice into a fresh database (SQLite by default,
PostgreSQL with --database-url): first run creates, second finds everything unchanged.
Results: benchmarks/results/servicedesk-import-<database>.{json,md}.

Loopback only; bounded by the counts given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import fresh_postgres_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SAMPLE = ROOT.parent / "shared" / "data" / "itsm" / "servicenow_incident_event_log.csv.zip"
TARGET_P95_MS = 200
CHUNK = 50_000


def setup_django(database_url: str, suffix: str) -> str:
    var = tempfile.mkdtemp(prefix=f"opsdesk-bench-{suffix}-")
    env = {
        **os.environ,
        "OPSDESK_VAR_DIR": var,
        "SECURE_COOKIES": "false",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver,127.0.0.1",  # Django's test Client, in-process
    }
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = fresh_postgres_database(database_url, suffix)
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"]):
        subprocess.run(
            [sys.executable, "-m", "opsdesk", *command], env=env, check=True, capture_output=True
        )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    return connection.vendor


# --- the ServiceNow import ----------------------------------------------------------------


def bench_import(args: argparse.Namespace) -> None:
    database = setup_django(args.database_url, "bench_sd_import")
    from opsdesk.accounts.models import User
    from opsdesk.core.models import Organization
    from opsdesk.servicedesk.importers.servicenow import import_incidents

    org = Organization.objects.create(name="Bench", slug="bench")
    user = User.objects.create_superuser("bench@example.com", "bench-pass-123", full_name="Bench")
    runs = []
    for attempt in ("first", "second"):
        start = time.perf_counter()
        result = import_incidents(acting_user=user, organization=org, path=args.file)
        seconds = time.perf_counter() - start
        runs.append(
            {
                "run": attempt,
                "rows": result.rows,
                "incidents": result.incidents,
                "created": result.created,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "timeline_entries": result.activities_created,
                "seconds": round(seconds, 2),
                "rows_per_second": round(result.rows / seconds),
            }
        )
        print(runs[-1])
    out = {
        "benchmark": "servicedesk_import",
        "database": database,
        "file": Path(args.file).name,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"servicedesk-import-{database}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        f"# ServiceNow import ({database})",
        "",
        f"`{out['file']}` (the whole sample), imported in one process, parse + build + write with "
        f"audit records; Python {out['python']}, {out['cpus']} CPUs, {out['when']}.",
        f"Command: `{out['command']}`",
        "",
        "| run | rows | incidents | created | updated | unchanged | timeline entries | seconds "
        "| rows/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in runs:
        lines.append(
            f"| {r['run']} | {r['rows']:,} | {r['incidents']:,} | {r['created']:,} | "
            f"{r['updated']:,} | {r['unchanged']:,} | {r['timeline_entries']:,} | "
            f"{r['seconds']} | {r['rows_per_second']:,} |"
        )
    (RESULTS / f"servicedesk-import-{database}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


# --- a million incidents --------------------------------------------------------------------


def load(total: int, rng: random.Random) -> dict[str, Any]:
    """Organisations, teams, people and `total` incidents with their creation entries."""
    from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
    from django.db import connection, transaction
    from django.utils import timezone

    from opsdesk.accounts.models import Membership, Team, User
    from opsdesk.core.bulk import insert_rows
    from opsdesk.core.models import NumberSequence, Organization
    from opsdesk.servicedesk.choices import DEFAULT_PRIORITY_MATRIX
    from opsdesk.servicedesk.models import Activity, Category, Incident

    now = timezone.now()
    started = time.perf_counter()
    orgs = [
        Organization.objects.create(name="Bench Africa", slug="bench-africa"),
        Organization.objects.create(name="Bench Europe", slug="bench-europe"),
    ]
    shares = [0.7, 0.3]
    password = UNUSABLE_PASSWORD_PREFIX + "bench"
    user_common = {
        "password": password,
        "is_superuser": False,
        "is_staff": False,
        "is_active": True,
        "time_zone": "",
        "failed_login_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    per_org: list[dict[str, Any]] = []
    with transaction.atomic():
        for o, org in enumerate(orgs):
            agents = insert_rows(
                User,
                [
                    {
                        **user_common,
                        "email": f"agent{i}@org{o}.bench",
                        "full_name": f"Agent {o}-{i}",
                    }
                    for i in range(250)
                ],
                returning=True,
            )
            requesters = insert_rows(
                User,
                [
                    {
                        **user_common,
                        "email": f"user{i}@org{o}.bench",
                        "full_name": f"Requester {o}-{i}",
                    }
                    for i in range(10_000)
                ],
                returning=True,
            )
            insert_rows(
                Membership,
                [
                    {"user_id": u, "organization_id": org.pk, "role": "agent", **_stamps(now)}
                    for u in agents
                ]
                + [
                    {"user_id": u, "organization_id": org.pk, "role": "requester", **_stamps(now)}
                    for u in requesters
                ],
            )
            teams = insert_rows(
                Team,
                [
                    {
                        "organization_id": org.pk,
                        "name": f"Team {t}",
                        "slug": f"team-{t}",
                        "description": "",
                        "email": "",
                        **_stamps(now),
                    }
                    for t in range(25)
                ],
                returning=True,
            )
            members: dict[int, list[int]] = {t: [] for t in teams}
            pairs = []
            for i, agent in enumerate(agents):
                for team in {teams[i % 25], *rng.sample(teams, rng.randint(0, 2))}:
                    members[team].append(agent)
                    pairs.append({"team_id": team, "user_id": agent})
            insert_rows(Team.members.through, pairs)
            tops = insert_rows(
                Category,
                [
                    {"organization_id": org.pk, "name": f"Category {c}", "is_active": True,
                     **_stamps(now)}
                    for c in range(10)
                ],
                returning=True,
            )  # fmt: skip
            subs = insert_rows(
                Category,
                [
                    {"organization_id": org.pk, "name": f"Sub {c}-{s}", "parent_id": top,
                     "is_active": True, **_stamps(now)}
                    for c, top in enumerate(tops)
                    for s in range(4)
                ],
                returning=True,
            )  # fmt: skip
            per_org.append(
                {
                    "org": org.pk,
                    "agents": agents,
                    "requesters": requesters,
                    "teams": teams,
                    "members": members,
                    "categories": [(tops[i // 4], sub) for i, sub in enumerate(subs)],
                    "count": int(total * shares[o]),
                }
            )
    people_seconds = time.perf_counter() - started
    pairs_by_priority: dict[int, list[tuple[int, int]]] = {}
    for key, p in DEFAULT_PRIORITY_MATRIX.items():
        pairs_by_priority.setdefault(p, []).append(tuple(map(int, key.split(","))))  # type: ignore[arg-type]
    priorities = [1, 2, 3, 4, 5]
    priority_weights = [1, 6, 40, 43, 10]
    states = ["closed", "resolved", "cancelled", "new", "in_progress", "on_hold"]
    state_weights = [88.5, 3, 1.5, 1, 4.5, 1.5]
    titles = [
        "VPN drops every few minutes",
        "Outlook asks for the password",
        "Printer jams on floor 3",
        "ERP posting times out",
        "Laptop will not boot",
        "Slow queries on the reporting database",
        "Cannot access shared drive",
        "Customer portal error 500",
    ]
    span = 3 * 365 * 86400
    incidents = activities = 0
    load_started = time.perf_counter()
    for spec in per_org:
        number = 0
        remaining = spec["count"]
        while remaining:
            n = min(CHUNK, remaining)
            remaining -= n
            rows = []
            for _ in range(n):
                number += 1
                # Opened times ascend with the number, over three years up to now.
                opened = now - timedelta(
                    seconds=span * (spec["count"] - number) / spec["count"] + rng.random() * 600
                )
                priority = rng.choices(priorities, priority_weights)[0]
                impact, urgency = rng.choice(pairs_by_priority[priority])
                age = (now - opened).total_seconds()
                state = rng.choices(states, state_weights)[0] if age > 14 * 86400 else (
                    rng.choices(states, [40, 10, 2, 10, 30, 8])[0]
                )  # fmt: skip
                team = rng.choice(spec["teams"])
                assignee = None if state == "new" else rng.choice(spec["members"][team] or [None])
                category, subcategory = rng.choice(spec["categories"])
                resolved = closed = None
                if state in ("resolved", "closed"):
                    resolved = opened + timedelta(hours=rng.expovariate(1 / (6 * priority)))
                    if state == "closed":
                        closed = resolved + timedelta(days=7)
                elif state == "cancelled":
                    closed = opened + timedelta(hours=2)
                rows.append(
                    {
                        "organization_id": spec["org"],
                        "number": f"INC{number:07d}",
                        "title": rng.choice(titles),
                        "description": "",
                        "requester_id": rng.choice(spec["requesters"]),
                        "requester_email": "",
                        "channel": rng.choice(["portal", "email", "phone", "portal", "email"]),
                        "category_id": category,
                        "subcategory_id": subcategory,
                        "impact": impact,
                        "urgency": urgency,
                        "priority": priority,
                        "state": state,
                        "hold_reason": "awaiting_requester" if state == "on_hold" else "",
                        "resolution_code": "solved_permanently" if resolved else "",
                        "resolution_notes": "Fixed." if resolved else "",
                        "assignment_group_id": team,
                        "assignee_id": assignee,
                        "reassignment_count": rng.choices([0, 1, 2], [80, 15, 5])[0],
                        "reopen_count": 1 if rng.random() < 0.03 else 0,
                        "opened_at": opened,
                        "first_assigned_at": opened if assignee else None,
                        "resolved_at": resolved,
                        "closed_at": closed,
                        "first_contact_resolution": False,
                        "location": "",
                        "is_major": False,
                        "source": "",
                        "external_id": "",
                        "created_at": opened,
                        "updated_at": closed or resolved or opened,
                    }
                )
            with transaction.atomic():
                keys = insert_rows(Incident, rows, returning=True)
                insert_rows(
                    Activity,
                    [
                        {
                            "organization_id": row["organization_id"],
                            "subject_type": "incident",
                            "subject_id": key,
                            "kind": "created",
                            "at": row["opened_at"],
                            "actor_id": row["requester_id"],
                            "actor_name": "",
                            "public": True,
                            "body": "",
                            "data": {"state": "new", "priority": row["priority"]},
                        }
                        for row, key in zip(rows, keys, strict=True)
                    ],
                )
            incidents += n
            activities += n
            print(f"  {incidents:,} incidents loaded", flush=True)
        NumberSequence.objects.update_or_create(
            organization_id=spec["org"], prefix="INC", defaults={"last_value": number}
        )
    load_seconds = time.perf_counter() - load_started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    analyze_seconds = time.perf_counter() - started
    return {
        "organizations": [o.pk for o in orgs],
        "per_org": per_org,
        "incidents": incidents,
        "activities": activities,
        "people_seconds": round(people_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "incidents_per_second": round(incidents / load_seconds),
        "analyze_seconds": round(analyze_seconds, 1),
    }


def reuse(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from opsdesk.accounts.models import Membership, Team
    from opsdesk.core.models import Organization
    from opsdesk.servicedesk.models import Activity, Incident

    # Bring the reused database to the current schema (new indexes included).
    call_command("migrate", verbosity=0)
    added: list[str] = []
    with connection.cursor() as cursor:
        started = time.perf_counter()
        if args.vacuum:
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("ANALYZE")
        analyze_seconds = time.perf_counter() - started
    per_org = []
    for org in Organization.objects.order_by("pk"):
        per_org.append(
            {
                "org": org.pk,
                "agents": list(
                    Membership.objects.filter(organization=org, role="agent")
                    .order_by("user_id")
                    .values_list("user_id", flat=True)
                ),
                "teams": list(Team.objects.filter(organization=org).values_list("pk", flat=True)),
            }
        )
    return {
        "organizations": [o["org"] for o in per_org],
        "per_org": per_org,
        "incidents": Incident.objects.count(),
        "activities": Activity.objects.count(),
        "reused": True,
        "vacuum": bool(args.vacuum),
        "indexes_added": added,
        "load_seconds": "(reused)",
        "incidents_per_second": "(reused)",
        "analyze_seconds": round(analyze_seconds, 1),
    }


def _stamps(now: datetime) -> dict[str, datetime]:
    return {"created_at": now, "updated_at": now}


def measure(client: Any, url: str, requests: int, headers: dict[str, str]) -> dict[str, Any]:
    """Server time of `url` (in-process) and the queries of one request; None when 404."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    captured = list(queries.captured_queries)  # the log is cleared by the next request
    if response.status_code == 404:
        return {"url": url, "skipped": "404: not built yet (or no such row)"}
    if response.status_code != 200:
        return {"url": url, "error": f"HTTP {response.status_code}"}
    for _ in range(2):  # warm-up
        client.get(url, **headers)
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        client.get(url, **headers)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    q = statistics.quantiles(times, n=20) if len(times) >= 2 else [times[0]] * 19
    slowest = sorted(captured, key=lambda c: -float(c["time"]))[:1]
    return {
        "url": url,
        "requests": requests,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(q[18], 1),
        "max_ms": round(times[-1], 1),
        "queries": len(captured),
        "sql_ms": round(sum(float(c["time"]) for c in captured) * 1000, 1),
        "slowest_query_ms": round(float(slowest[0]["time"]) * 1000, 1) if slowest else 0,
        "slowest_query": slowest[0]["sql"][:600] if slowest else "",
        "bytes": len(response.content),
    }


def bench_pages(args: argparse.Namespace) -> None:
    if not args.database_url.startswith("postgres"):
        raise SystemExit("pages needs --database-url postgres://... (a million rows).")
    if args.reuse:
        # Measure again on the database a previous run loaded (e.g. after adding an index).
        base, _, _ = args.database_url.rpartition("/")
        os.environ.update(
            DATABASE_URL=f"{base}/opsdesk_bench_sd",
            OPSDESK_VAR_DIR=sorted(
                Path(tempfile.gettempdir()).glob("opsdesk-bench-bench_sd-*"),
                key=os.path.getmtime,
            )[-1].as_posix(),
            SECURE_COOKIES="false",
            ALLOWED_HOSTS="testserver,127.0.0.1",
            DJANGO_SETTINGS_MODULE="opsdesk.config.settings",
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
    else:
        setup_django(args.database_url, "bench_sd")
    from django.test import Client

    from opsdesk.accounts.models import Team, User
    from opsdesk.core.testing.factories import token_for
    from opsdesk.servicedesk.models import Incident

    rng = random.Random(4)  # noqa: S311 (benchmark data)
    if args.reuse:
        loaded = reuse(args)
    else:
        print(f"loading {args.incidents:,} incidents ...", flush=True)
        loaded = load(args.incidents, rng)
    print({k: v for k, v in loaded.items() if k != "per_org"}, flush=True)
    big = loaded["per_org"][0]
    # An agent in two teams of the larger organisation.
    agent = next(
        User.objects.get(pk=a) for a in big["agents"] if Team.objects.filter(members=a).count() == 2
    )
    client = Client()
    client.force_login(agent)
    api = {"HTTP_AUTHORIZATION": f"Bearer {token_for(agent)}"}
    mine = Incident.objects.filter(assignee=agent).order_by("-opened_at")
    pks = list(mine.values_list("pk", flat=True)[:5]) or [
        Incident.objects.filter(organization_id=big["org"])
        .order_by("-pk")
        .values_list("pk", flat=True)[0]
    ]
    number = Incident.objects.get(pk=pks[0]).number
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("queue: open + my teams", "/desk/?tab=teams", {}),
        ("queue: priority 1", "/desk/?priority=1", {}),
        ("queue: assigned to me", "/desk/?tab=mine", {}),
        ("queue: search by number", f"/desk/?q={number}", {}),
        ("queue: all, sorted by priority", "/desk/?state=&sort=priority", {}),
        ("incident page", f"/desk/incidents/{pks[0]}/", {}),
        ("dashboard", "/desk/dashboard/", {}),
        ("API: open + my teams", "/api/v1/incidents?state=open&my_teams=true", api),
        ("API: priority 1", "/api/v1/incidents?priority=1", api),
        ("API: assigned to me", "/api/v1/incidents?assigned_to_me=true", api),
        ("API: search by number", f"/api/v1/incidents?q={number}", api),
        ("API: incident", f"/api/v1/incidents/{pks[0]}", api),
    ]
    results = []
    for label, url, headers in cases:
        row = measure(client, url, args.requests, headers)
        row["case"] = label
        results.append(row)
        if "skipped" in row or "error" in row:
            print(f"{label:<34} {row.get('skipped') or row.get('error')}", flush=True)
        else:
            print(
                f"{label:<34} p50 {row['p50_ms']:>7} ms  p95 {row['p95_ms']:>7} ms  "
                f"max {row['max_ms']:>7} ms  queries {row['queries']}",
                flush=True,
            )
    # Query counts must not grow with the page size.
    growth = []
    for label, small, large, headers in (
        ("queue", "/desk/?tab=teams&size=25", "/desk/?tab=teams&size=100", {}),
        (
            "API",
            "/api/v1/incidents?state=open&limit=10",
            "/api/v1/incidents?state=open&limit=100",
            api,
        ),
    ):
        a = measure(client, small, 1, headers)
        b = measure(client, large, 1, headers)
        if "queries" in a and "queries" in b:
            growth.append(
                {
                    "case": label,
                    "small": small,
                    "large": large,
                    "queries_small": a["queries"],
                    "queries_large": b["queries"],
                    "grows": b["queries"] > a["queries"],
                }
            )
    write_pages(args, loaded, results, growth)


def write_pages(
    args: argparse.Namespace,
    loaded: dict[str, Any],
    results: list[dict[str, Any]],
    growth: list[dict[str, Any]],
) -> None:
    when = datetime.now(UTC)
    out = {
        "benchmark": "servicedesk",
        "database": "postgresql",
        "when": when.isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": " ".join(["python", *sys.argv]),
        "target_p95_ms": TARGET_P95_MS,
        "data": {k: v for k, v in loaded.items() if k != "per_org"},
        "results": results,
        "query_count_vs_page_size": growth,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"servicedesk-{when:%Y-%m-%d}{args.suffix}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2) + "\n")
    data = out["data"]
    lines = [
        f"# Service desk at {data['incidents']:,} incidents (PostgreSQL)",
        "",
        f"{out['when']}, Python {out['python']}, {out['cpus']} CPUs (shared with other work). "
        f"Command: `{out['command']}`",
        "",
        f"Data: 2 organisations (70/30), 50 teams, 500 agents, 20,000 requesters, "
        f"{data['incidents']:,} incidents and {data['activities']:,} timeline entries loaded "
        f"with COPY in {data['load_seconds']} s ({data['incidents_per_second']} incidents/s), "
        f"ANALYZE {data['analyze_seconds']} s.",
        "",
        *(
            [
                "Measured again on that database"
                + (" after VACUUM ANALYZE" if data.get("vacuum") else "")
                + (
                    " with these indexes added: "
                    + "; ".join(f"`{i}`" for i in data["indexes_added"])
                    if data.get("indexes_added")
                    else ""
                )
                + ".",
                "",
            ]
            if data.get("reused")
            else []
        ),
        f"Server time in-process (Django test Client, no network), {args.requests} requests per "
        f"case after warm-up, as an agent in two teams. Target p95 < {TARGET_P95_MS} ms.",
        "",
        "| case | URL | p50 ms | p95 ms | max ms | queries | SQL ms (1 request) | slowest query ms "
        "| target met |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results:
        if "p95_ms" in r:
            met = "yes" if r["p95_ms"] < TARGET_P95_MS else "**no**"
            lines.append(
                f"| {r['case']} | `{r['url']}` | {r['p50_ms']} | {r['p95_ms']} | {r['max_ms']} "
                f"| {r['queries']} | {r['sql_ms']} | {r['slowest_query_ms']} | {met} |"
            )
        else:
            lines.append(
                f"| {r['case']} | `{r['url']}` | — | — | — | — | — | — | "
                f"skipped: {r.get('skipped') or r.get('error')} |"
            )
    if growth:
        lines += [
            "",
            "Query count against page size (must not grow):",
            "",
            "| list | small page | queries | large page | queries | grows |",
            "| --- | --- | ---: | --- | ---: | --- |",
        ]
        for g in growth:
            lines.append(
                f"| {g['case']} | `{g['small']}` | {g['queries_small']} | `{g['large']}` | "
                f"{g['queries_large']} | {'**yes**' if g['grows'] else 'no'} |"
            )
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    pages = sub.add_parser("pages", help="Pages and API over a million incidents (PostgreSQL).")
    pages.add_argument("--database-url", required=True)
    pages.add_argument("--incidents", type=int, default=1_000_000)
    pages.add_argument("--requests", type=int, default=30)
    pages.add_argument("--reuse", action="store_true", help="Measure the last loaded database.")
    pages.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE (with --reuse).")
    pages.add_argument("--suffix", default="", help="Appended to the result file names.")
    imp = sub.add_parser("import", help="The ServiceNow sample, imported twice.")
    imp.add_argument("--database-url", default="")
    imp.add_argument("--file", default=str(SAMPLE))
    args = parser.parse_args()
    if args.what == "pages":
        bench_pages(args)
    else:
        bench_import(args)


if __name__ == "__main__":
    main()
