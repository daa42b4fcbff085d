"""Service levels at scale: every clock of a million closed incidents recomputed from their
history, and the month's compliance report, on PostgreSQL.

    .venv/bin/python benchmarks/sla.py --database-url postgres://postgres@127.0.0.1:5432/opsdesk \
        [--tickets 1000000] [--sample 5000] [--workers 2] [--reuse] [--drop]

Load (a fresh database ``<name>_bench_sla``): 2 organisations (70 % / 30 %), 8 teams and 120
agents each, 4,000 requesters each; per organisation a business-hours calendar
(Africa/Johannesburg, Mon-Fri 08:00-17:00, South African public holidays; the default) and
a 24x7 one, and four definitions through the ORM: SLA "Standard" (response and resolution,
P1-P5, business hours, paused awaiting the requester), SLA "Critical 24x7" (P1-P2), an OLA
of the service desk team and a UC of the network supplier (counts while awaiting the
vendor). Then N closed incidents opened over 12 months (priorities with the demo's weights,
mostly in office hours), each with the timeline the service desk writes (`created`;
`assigned` to the service desk at creation; `assigned` to an agent; `state` start; public
replies by the requester and sometimes the agent; work notes; holds awaiting the requester,
the vendor or a change and back; reassignment to another team; resolve; sometimes reopen
and resolve again; the automatic close 7 days later), loaded with COPY (no audit records:
benchmark data) by ``--workers`` processes, then ANALYZE. Only ``--generated`` tickets
(default 250,000, of the first organisation) are generated in Python; the rest are copies
made in SQL (`replicate`): the same histories with new ids and numbers, moved by whole
weeks (so weekdays and office hours stay; holidays fall differently), and for the second
organisation its own people and teams.

Measured in a fresh process (so peak memory is the measurement's own):

1. baseline: the per-ticket ORM path, `recompute_incidents(..., live=False)` in batches of
   500 on a random sample of ``--sample`` tickets, extrapolated to N;
2. bulk: `opsdesk.sla.bulk.recompute_all(workers=W)` over every ticket into an empty clock
   table (every clock created; the headline); the bulk rows of the sample are checked
   identical to the baseline's;
3. after ``VACUUM (ANALYZE) sla_clock`` (what autovacuum does after a bulk insert), the
   compliance report of the last full month for the larger organisation
   (`opsdesk.sla.reports.compliance_report`): the first call (cold) and the median of 5
   more (warm), with the SQL it ran;
4. unless ``--once``: bulk again (every clock recomputed and compared, none changed), then
   after a company day off is added to the larger organisation's office calendar through
   `set_exception` (every clock recomputed, those that moved written); the day is removed
   again at the end.

Results: benchmarks/results/sla-postgresql.{json,md}. ``--reuse`` measures the database a
previous run loaded; ``--drop`` drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import fresh_postgres_database

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET_RECOMPUTE_S = 60
TARGET_REPORT_S = 2
CHUNK = 25_000
#: Every ticket is closed by then; clocks are computed as of this instant.
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PRIORITY_WEIGHTS = {1: 0.01, 2: 0.06, 3: 0.38, 4: 0.45, 5: 0.10}  # the demo's
RESOLVE_HOURS = {1: 4, 2: 14, 3: 30, 4: 70, 5: 160}  # the demo's medians
TEAMS = ("Service Desk", "Network", "Servers", "Applications", "Databases", "Field Support",
         "Security", "Identity")  # fmt: skip
RESOLUTION_CODES = ("solved_permanently", "solved_workaround", "not_reproducible", "user_error")


def setup_django(database_url: str, reuse: bool) -> str:
    base, _, name = database_url.rpartition("/")
    bench_url = f"{base}/{name or 'opsdesk'}_bench_sla"
    var = os.environ.get("OPSDESK_VAR_DIR") or tempfile.mkdtemp(prefix="opsdesk-bench-sla-")
    env = {**os.environ, "OPSDESK_VAR_DIR": var, "SECURE_COOKIES": "false", "LOG_LEVEL": "WARNING"}
    if not reuse:
        bench_url = fresh_postgres_database(database_url, "bench_sla")
    env["DATABASE_URL"] = bench_url
    subprocess.run(
        [sys.executable, "-m", "opsdesk", "migrate", "--noinput"],
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    return bench_url


# --- the data -------------------------------------------------------------------------------


def _opened(rng: random.Random) -> datetime:
    """Over the 12 months before three weeks ago, mostly in South African office hours."""
    while True:
        moment = NOW - timedelta(days=21) - timedelta(seconds=rng.uniform(0, 365 * 86400))
        local = moment + timedelta(hours=2)
        weekday, office = local.weekday() < 5, 7 <= local.hour < 18
        if rng.random() < (0.9 if weekday and office else 0.25 if weekday else 0.1):
            return moment.replace(microsecond=0)


def _assigned(
    group: Any, group_id: Any, assignee: str | None, assignee_id: Any, old: tuple
) -> dict:
    return {
        "from_group": old[0],
        "from_assignee": old[1],
        "group": group,
        "group_id": group_id,
        "assignee": assignee,
        "assignee_id": assignee_id,
    }


def ticket(
    rng: random.Random, spec: dict[str, Any], number: int
) -> tuple[dict[str, Any], list[tuple]]:
    """One closed incident and its timeline, as the service desk's actions write them:
    (incident row, [(at, kind, actor_id, public, body, data)])."""
    priority = rng.choices(list(PRIORITY_WEIGHTS), list(PRIORITY_WEIGHTS.values()))[0]
    impact, urgency = rng.choice(spec["pairs"][priority])
    opened = _opened(rng)
    requester = rng.choice(spec["requesters"])
    channel = rng.choices(["portal", "email", "phone", "chat"], [40, 30, 20, 10])[0]
    desk_id, desk = spec["teams"][0]
    events: list[tuple] = [
        (opened, "created", requester, True, "",
         {"state": "new", "priority": priority, "channel": channel, "assignment_group": desk,
          "assignee": None}),
        (opened, "assigned", requester, False, "",
         _assigned(desk, desk_id, None, None, (None, None))),
    ]  # fmt: skip
    hours = RESOLVE_HOURS[priority] * math.exp(rng.gauss(0, 0.6))
    if priority >= 3 and rng.random() < 0.12:
        hours *= rng.uniform(3, 12)  # the long tail
    resolve_at = opened + timedelta(minutes=max(10, int(hours * 60)))
    group_id, group = desk_id, desk
    agent = rng.choice(spec["members"][group_id])
    at = opened + timedelta(minutes=rng.randint(2, 25 if priority <= 2 else 180))
    at = min(at, opened + (resolve_at - opened) * 0.3)
    events.append(
        (at, "assigned", agent, False, "",
         _assigned(group, group_id, spec["names"][agent], agent, (group, None)))
    )  # fmt: skip
    at += timedelta(minutes=rng.randint(1, 30))
    at = min(at, opened + (resolve_at - opened) * 0.4)
    events.append(
        (at, "state", agent, True, "", {"from": "new", "to": "in_progress", "transition": "start"})
    )
    span = resolve_at - at
    if rng.random() < 0.5:
        events.append(
            (at + span * rng.uniform(0.2, 0.7), "comment", requester, True, "Any news?", {})
        )
    if rng.random() < 0.4:
        events.append((at + span * rng.uniform(0.1, 0.6), "comment", agent, True, "On it.", {}))
    if rng.random() < 0.6:
        events.append((at + span * rng.uniform(0.1, 0.5), "work_note", agent, False, "Logs.", {}))
    reassigned = rng.random() < 0.2
    if reassigned:
        move_at = at + span * rng.uniform(0.1, 0.4)
        new_id, new = rng.choice(spec["teams"][1:])
        new_agent = rng.choice(spec["members"][new_id])
        events.append(
            (move_at, "assigned", agent, False, "",
             _assigned(new, new_id, spec["names"][new_agent], new_agent,
                       (group, spec["names"][agent])))
        )  # fmt: skip
        group_id, group, agent = new_id, new, new_agent
    if rng.random() < 0.25:
        hold_at = at + span * rng.uniform(0.45, 0.6)
        reason = rng.choices(["awaiting_requester", "awaiting_vendor", "awaiting_change"], [6, 3, 1])[0]  # fmt: skip
        back = hold_at + (resolve_at - hold_at) * rng.uniform(0.3, 0.8)
        events.append(
            (hold_at, "state", agent, True, "",
             {"from": "in_progress", "to": "on_hold", "transition": "hold", "hold_reason": reason})
        )  # fmt: skip
        events.append(
            (back, "state", agent, True, "",
             {"from": "on_hold", "to": "in_progress", "transition": "start"})
        )  # fmt: skip
    code = rng.choice(RESOLUTION_CODES)
    reopened = rng.random() < 0.04
    resolve = {"from": "in_progress", "to": "resolved", "transition": "resolve",
               "resolution_code": code}  # fmt: skip
    if reopened:
        first = opened + (resolve_at - opened) * 0.6
        events.append((first, "state", agent, True, "Fixed.", resolve))
        events.append(
            (first + (resolve_at - opened) * 0.2, "state", requester, True, "It is broken again.",
             {"from": "resolved", "to": "in_progress", "transition": "reopen",
              "reason": "It is broken again."})
        )  # fmt: skip
    events.append((resolve_at, "state", agent, True, "Fixed.", resolve))
    closed_at = resolve_at + timedelta(days=7)
    events.append(
        (closed_at, "state", None, True, "Closed automatically 7 days after resolution.",
         {"from": "resolved", "to": "closed", "transition": "close", "automatic": True})
    )  # fmt: skip
    row = {
        "organization_id": spec["org"],
        "number": f"INC{number:07d}",
        "title": "Generated incident",
        "description": "",
        "requester_id": requester,
        "requester_email": "",
        "opened_by_id": requester,
        "channel": channel,
        "impact": impact,
        "urgency": urgency,
        "priority": priority,
        "state": "closed",
        "hold_reason": "",
        "resolution_code": code,
        "resolution_notes": "Fixed.",
        "assignment_group_id": group_id,
        "assignee_id": agent,
        "reassignment_count": int(reassigned),
        "reopen_count": int(reopened),
        "opened_at": opened,
        "first_assigned_at": events[2][0],
        "resolved_at": resolve_at,
        "resolved_by_id": agent,
        "closed_at": closed_at,
        "first_contact_resolution": False,
        "location": "",
        "is_major": False,
        "source": "",
        "external_id": "",
        "created_at": opened,
        "updated_at": closed_at,
    }
    return row, events


_STATE: dict[str, Any] = {}


def _text(value: Any) -> str:
    """One value in COPY's text format (bench data holds no tab, newline or backslash)."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _load_chunk(job: tuple[int, int, int, int]) -> tuple[int, int]:
    """Incidents numbered ``number..number+n-1`` of one organisation, with ids from
    ``first_id``, and their timelines: generated here and written with COPY."""
    import orjson
    from django.db import connection, transaction

    from opsdesk.servicedesk.models import Incident

    o, first_id, number, n = job
    spec = _STATE["specs"][o]
    rng = random.Random(f"sla-bench-{o}-{number}")  # noqa: S311 (benchmark data)
    columns = [f.attname for f in Incident._meta.concrete_fields]
    incident_lines, activity_lines = [], []
    org, names = spec["org"], spec["names"]
    for i in range(n):
        row, events = ticket(rng, spec, number + i)
        row["id"] = pk = first_id + i
        incident_lines.append("\t".join(_text(row.get(c)) for c in columns))
        for at, kind, actor, public, body, data in sorted(events, key=lambda e: e[0]):
            name = names.get(actor, "Requester") if actor else "OpsDesk"
            activity_lines.append(
                f"{org}\tincident\t{pk}\t{kind}\t{at.isoformat()}\t{_text(actor)}\t{name}\t"
                f"{'t' if public else 'f'}\t{body}\t{orjson.dumps(data).decode()}"
            )
    with transaction.atomic(), connection.cursor() as django_cursor:
        cursor = django_cursor.cursor
        table = ", ".join(f.column for f in Incident._meta.concrete_fields)
        with cursor.copy(f"COPY servicedesk_incident ({table}) FROM STDIN") as copy:
            copy.write("\n".join(incident_lines) + "\n")
        with cursor.copy(
            "COPY servicedesk_activity (organization_id, subject_type, subject_id, kind, at, "
            "actor_id, actor_name, public, body, data) FROM STDIN"
        ) as copy:
            copy.write("\n".join(activity_lines) + "\n")
    return n, len(activity_lines)


#: Week shifts of the SQL copies (copy k moves its tickets k-th shift back, wrapping forward
#: past the start of the 12 months): whole weeks keep weekdays and office hours.
SHIFT_WEEKS = (0, 9, 23, 37, 46, 15, 30, 5, 41)


def replicate(base: int, counts: tuple[int, int], users_per_org: int, teams_per_org: int) -> None:
    """Fill both organisations up to ``counts`` by copying the ``base`` generated tickets of
    the first (ids 1..base) in SQL, each copy shifted by whole weeks; copies for the second
    organisation get its people and teams (same positions, ids offset). Histories stay
    exactly as generated, only ids, numbers and times move."""
    from django.db import connection

    from opsdesk.core.models import Organization
    from opsdesk.servicedesk.models import Incident

    orgs = list(Organization.objects.order_by("pk").values_list("pk", flat=True))
    start = NOW - timedelta(days=21 + 365)
    people = {"requester_id", "opened_by_id", "assignee_id", "resolved_by_id"}
    times = {"opened_at", "first_assigned_at", "resolved_at", "closed_at", "created_at",
             "updated_at"}  # fmt: skip
    columns = [f.column for f in Incident._meta.concrete_fields]
    next_id, copy = base + 1, 0
    plan = []
    for o, count in enumerate(counts):
        have = base if o == 0 else 0
        while have < count:
            copy += 1
            n = min(base, count - have)
            plan.append((orgs[o], o, copy, next_id, n))
            next_id += n
            have += n
    with connection.cursor() as cursor:
        for org, o, k, first, n in plan:
            weeks = SHIFT_WEEKS[k % len(SHIFT_WEEKS)]
            du, dt = o * users_per_org, o * teams_per_org
            cursor.execute("DROP TABLE IF EXISTS bench_copy")
            cursor.execute(
                "CREATE TEMP TABLE bench_copy AS SELECT id AS old, id + %s AS new, "
                "CASE WHEN opened_at - make_interval(weeks => %s) >= %s "
                "THEN -make_interval(weeks => %s) ELSE make_interval(weeks => %s) END AS shift "
                "FROM servicedesk_incident WHERE id <= %s",
                [first - 1, weeks, start, weeks, 52 - weeks, n],
            )
            select = []
            for c in columns:
                if c == "id":
                    select.append("m.new")
                elif c == "organization_id":
                    select.append(str(int(org)))
                elif c == "number":
                    select.append("'INC' || lpad(m.new::text, 7, '0')")
                elif c in people:
                    select.append(f"i.{c} + {du}")
                elif c == "assignment_group_id":
                    select.append(f"i.{c} + {dt}")
                elif c in times:
                    select.append(f"i.{c} + m.shift")
                else:
                    select.append(f"i.{c}")
            cursor.execute(
                f"INSERT INTO servicedesk_incident ({', '.join(columns)}) "  # noqa: S608
                f"SELECT {', '.join(select)} FROM servicedesk_incident i "
                "JOIN bench_copy m ON m.old = i.id"
            )
            cursor.execute(
                "INSERT INTO servicedesk_activity (organization_id, subject_type, subject_id, "
                "kind, at, actor_id, actor_name, public, body, data) "
                "SELECT %s, 'incident', m.new, a.kind, a.at + m.shift, a.actor_id + %s, "
                "a.actor_name, a.public, a.body, "
                "CASE WHEN a.kind = 'assigned' AND %s <> 0 THEN a.data "
                "  || jsonb_build_object('group_id', (a.data->>'group_id')::bigint + %s) "
                "  || CASE WHEN jsonb_typeof(a.data->'assignee_id') = 'number' "
                "     THEN jsonb_build_object('assignee_id', (a.data->>'assignee_id')::bigint + %s) "
                "     ELSE '{}'::jsonb END "
                "ELSE a.data END "
                "FROM servicedesk_activity a JOIN bench_copy m ON m.old = a.subject_id "
                "WHERE a.subject_type = 'incident'",
                [org, du, du, dt, du],
            )
            print(f"  copy {k}: {n:,} tickets into organisation {o} (shift {weeks} weeks)",
                  flush=True)  # fmt: skip
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('servicedesk_incident', 'id'), %s)",
            [next_id - 1],
        )


def load(total: int, workers: int, generated: int) -> dict[str, Any]:
    from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
    from django.db import connection, transaction

    from opsdesk.accounts.models import Membership, Team, User
    from opsdesk.core.bulk import insert_rows
    from opsdesk.core.models import BusinessCalendar, NumberSequence, Organization
    from opsdesk.servicedesk.choices import DEFAULT_PRIORITY_MATRIX
    from opsdesk.sla.models import Definition
    from opsdesk.vendors.models import Vendor

    started = time.perf_counter()
    stamps = {"created_at": NOW, "updated_at": NOW}
    pairs: dict[int, list[tuple[int, int]]] = {}
    for key, p in DEFAULT_PRIORITY_MATRIX.items():
        pairs.setdefault(p, []).append(tuple(map(int, key.split(","))))  # type: ignore[arg-type]
    user_common = {
        "password": UNUSABLE_PASSWORD_PREFIX + "bench",
        "is_superuser": False,
        "is_staff": False,
        "is_active": True,
        "time_zone": "",
        "failed_login_count": 0,
        **stamps,
    }
    specs = []
    with transaction.atomic():
        for o, share in enumerate((0.7, 0.3)):
            org = Organization.objects.create(
                name=f"Bench {o}", slug=f"bench-{o}", time_zone="Africa/Johannesburg"
            )
            agents = insert_rows(
                User,
                [{**user_common, "email": f"agent{i}@org{o}.bench", "full_name": f"Agent {o}-{i}"}
                 for i in range(120)],
                returning=True,
            )  # fmt: skip
            requesters = insert_rows(
                User,
                [{**user_common, "email": f"user{i}@org{o}.bench", "full_name": f"User {o}-{i}"}
                 for i in range(4000)],
                returning=True,
            )  # fmt: skip
            insert_rows(
                Membership,
                [{"user_id": u, "organization_id": org.pk, "role": "agent", **stamps}
                 for u in agents]
                + [{"user_id": u, "organization_id": org.pk, "role": "requester", **stamps}
                   for u in requesters],
            )  # fmt: skip
            team_ids = insert_rows(
                Team,
                [{"organization_id": org.pk, "name": name, "slug": name.lower().replace(" ", "-"),
                  "description": "", "email": "", **stamps} for name in TEAMS],
                returning=True,
            )  # fmt: skip
            members = {t: agents[i * 15 : (i + 1) * 15] for i, t in enumerate(team_ids)}
            insert_rows(
                Team.members.through,
                [{"team_id": t, "user_id": u} for t, us in members.items() for u in us],
            )
            office = BusinessCalendar.objects.create(
                organization=org,
                name="Office hours (ZA)",
                time_zone="Africa/Johannesburg",
                working_hours={
                    d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")
                },
                holiday_country="ZA",
                is_default=True,
            )
            always = BusinessCalendar.objects.create(
                organization=org, name="24x7", time_zone="Africa/Johannesburg", always_open=True
            )
            vendor = Vendor.objects.create(organization=org, name="Fibre Networks")
            Definition.objects.create(
                organization=org, name="Standard", customer="All staff", calendar=office,
                response_minutes={"1": 15, "2": 30, "3": 120, "4": 240, "5": 480},
                resolution_minutes={"1": 240, "2": 480, "3": 1620, "4": 2700, "5": 5400},
            )  # fmt: skip
            Definition.objects.create(
                organization=org, name="Critical 24x7", customer="All staff", calendar=always,
                priorities=[1, 2], resolution_minutes={"1": 240, "2": 720},
            )  # fmt: skip
            Definition.objects.create(
                organization=org, name="Service desk OLA", kind="ola", calendar=office,
                team=Team.objects.get(pk=team_ids[0]),
                response_minutes={str(p): 30 for p in range(1, 6)},
                resolution_minutes={"1": 120, "2": 240, "3": 480, "4": 960, "5": 1920},
            )  # fmt: skip
            Definition.objects.create(
                organization=org, name="Fibre Networks UC", kind="uc", vendor=vendor,
                calendar=always, resolution_minutes={str(p): 1440 for p in range(1, 6)},
            )  # fmt: skip
            names = {a: f"Agent {o}-{i}" for i, a in enumerate(agents)}
            specs.append(
                {
                    "org": org.pk,
                    "count": round(total * share),
                    "pairs": pairs,
                    "requesters": requesters,
                    "teams": [(t, name) for t, name in zip(team_ids, TEAMS, strict=True)],
                    "members": members,
                    "names": names,
                }
            )
    people_seconds = time.perf_counter() - started
    load_started = time.perf_counter()
    counts = (specs[0]["count"], specs[1]["count"])
    # Generated in Python: `generated` tickets of the first organisation; the rest are
    # copies made in SQL (`replicate`).
    specs[0]["count"], specs[1]["count"] = min(generated, counts[0]), 0
    jobs = []
    first_id = 1
    for o, spec in enumerate(specs):
        for start in range(0, spec["count"], CHUNK):
            jobs.append((o, first_id + start, start + 1, min(CHUNK, spec["count"] - start)))
        first_id += spec["count"]
    _STATE["specs"] = specs
    connection.close()  # each loader process opens its own
    incidents = activities = 0
    context = multiprocessing.get_context("fork")
    with context.Pool(workers) as pool:
        for n, entries in pool.imap_unordered(_load_chunk, jobs):
            incidents += n
            activities += entries
            print(f"  {incidents:,} incidents, {activities:,} timeline entries", flush=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('servicedesk_incident', 'id'), %s)",
            [first_id - 1],
        )
    generated_seconds = time.perf_counter() - load_started
    started = time.perf_counter()
    with transaction.atomic():
        replicate(specs[0]["count"], counts, 120 + 4000, len(TEAMS))
    replicate_seconds = time.perf_counter() - started
    for spec in specs:
        NumberSequence.objects.update_or_create(
            organization_id=spec["org"], prefix="INC", defaults={"last_value": total}
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM servicedesk_incident")
        incidents = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM servicedesk_activity")
        activities = cursor.fetchone()[0]
    load_seconds = time.perf_counter() - load_started
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {
        "incidents": incidents,
        "activities": activities,
        "people_and_definitions_seconds": round(people_seconds, 1),
        "generated": specs[0]["count"],
        "generated_seconds": round(generated_seconds, 1),
        "replicate_seconds": round(replicate_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "incidents_per_second": round(incidents / load_seconds),
        "analyze_seconds": round(time.perf_counter() - started, 1),
    }


# --- the measurements (a fresh process) --------------------------------------------------------


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _clock_rows(ids: list[int]) -> dict[tuple, dict[str, Any]]:
    from opsdesk.sla.models import Clock

    out = {}
    for start in range(0, len(ids), 1000):
        for row in Clock.objects.filter(subject_id__in=ids[start : start + 1000]).values():
            row.pop("id")
            out[(row["definition_id"], row["subject_id"], row["metric"])] = row
    return out


def baseline(sample: int) -> dict[str, Any]:
    from django.db import connection

    from opsdesk.servicedesk.models import Incident
    from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents

    total = Incident.objects.count()
    rng = random.Random(11)  # noqa: S311 (benchmark sample)
    ids = sorted(rng.sample(range(1, total + 1), min(sample, total)))
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE sla_clock CASCADE")
    started = time.perf_counter()
    clocks = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        summary = recompute_incidents(
            incidents_for_recompute(Incident.objects.filter(pk__in=chunk).order_by("pk")),
            now=NOW,
            live=False,
        )
        clocks += summary.clocks
    seconds = time.perf_counter() - started
    rows = _clock_rows(ids)
    return {
        "tickets": len(ids),
        "clocks": clocks,
        "seconds": round(seconds, 2),
        "tickets_per_second": round(len(ids) / seconds),
        "clocks_per_second": round(clocks / seconds),
        "extrapolated_seconds": round(seconds * total / len(ids)),
        "peak_memory_mib": round(_peak_mib(), 1),
        "_rows": rows,
        "_ids": ids,
    }


def bulk(workers: int, label: str) -> dict[str, Any]:
    from opsdesk.sla.bulk import recompute_all

    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 5 or done == total:
            last[0] = time.perf_counter()
            print(f"  {label}: {done}/{total} pieces", flush=True)

    stats = recompute_all(workers=workers, now=NOW, progress=progress).as_dict()
    stats["tickets_per_second"] = round(stats["tickets"] / stats["wall_seconds"])
    stats["clocks_per_second"] = round(stats["clocks"] / stats["wall_seconds"])
    return stats


def report(organization_id: int, month: date) -> dict[str, Any]:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    try:
        from opsdesk.sla.reports import compliance_report
    except ImportError:  # not built yet
        return {"skipped": "opsdesk.sla.reports.compliance_report does not exist yet"}
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = compliance_report(organization_id=organization_id, month=month)
        cold = time.perf_counter() - started
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        compliance_report(organization_id=organization_id, month=month)
        warm.append(time.perf_counter() - started)
    slowest = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
    return {
        "month": month.isoformat(),
        "organization_id": organization_id,
        "cold_seconds": round(cold, 3),
        "warm_median_seconds": round(statistics.median(warm), 3),
        "warm_seconds": [round(w, 3) for w in warm],
        "queries": len(queries.captured_queries),
        "sql_seconds": round(sum(float(q["time"]) for q in queries.captured_queries), 3),
        "slowest_queries": [{"seconds": float(q["time"]), "sql": q["sql"][:700]} for q in slowest],
        "breaches": result.breach_count,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection

    from opsdesk.core.models import Organization
    from opsdesk.servicedesk.models import Activity, Incident
    from opsdesk.sla.models import Clock

    out: dict[str, Any] = {
        "incidents": Incident.objects.count(),
        "activities": Activity.objects.count(),
    }
    print("baseline (per-ticket ORM path) ...", flush=True)
    base = baseline(args.sample)
    sample_rows, sample_ids = base.pop("_rows"), base.pop("_ids")
    out["baseline"] = base
    print(base, flush=True)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE sla_clock CASCADE")
    print("bulk into an empty clock table ...", flush=True)
    out["bulk_create"] = bulk(args.workers, "create")
    print(out["bulk_create"], flush=True)
    bulk_rows = _clock_rows(sample_ids)
    differing = [k for k in sample_rows if sample_rows[k] != bulk_rows.get(k)]
    out["sample_identical"] = not differing and set(sample_rows) == set(bulk_rows)
    out["sample_clocks_compared"] = len(sample_rows)
    out["clocks"] = Clock.objects.count()
    with connection.cursor() as cursor:
        # What autovacuum does after a bulk insert: the statistics, and the visibility map
        # that lets the report's index-only scans skip the table.
        started = time.perf_counter()
        cursor.execute("VACUUM (ANALYZE) sla_clock")
        out["vacuum_seconds"] = round(time.perf_counter() - started, 2)
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        out["database_size"] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('sla_clock'))")
        out["clock_table_size"] = cursor.fetchone()[0]
    org = Organization.objects.order_by("pk").first()
    out["report"] = report(org.pk, date(2026, 10, 1))
    print({k: v for k, v in out["report"].items() if k != "slowest_queries"}, flush=True)
    if not args.once:
        print("bulk again (nothing changed) ...", flush=True)
        out["bulk_unchanged"] = bulk(args.workers, "again")
        print(out["bulk_unchanged"], flush=True)
        holiday(org)
        print(f"bulk after a holiday is added ({HOLIDAY}) ...", flush=True)
        out["bulk_holiday"] = bulk(args.workers, "holiday")
        print(out["bulk_holiday"], flush=True)
        holiday(org, remove=True)  # the next run (--reuse) starts from the same calendar
    return out


#: The calendar change measured: a company day off added to the larger organisation's
#: office-hours calendar (a Wednesday inside the 12 months of tickets).
HOLIDAY = date(2026, 10, 14)


def holiday(org: Any, *, remove: bool = False) -> None:
    """Close the office-hours calendar on `HOLIDAY` (or open it again), through the calendar
    actions."""
    from opsdesk.accounts.models import User
    from opsdesk.core.calendar_actions import remove_exception, set_exception
    from opsdesk.core.models import BusinessCalendar, CalendarException

    admin = User.objects.filter(email="bench-admin@bench").first() or User.objects.create(
        email="bench-admin@bench", full_name="Bench admin", is_superuser=True, is_staff=True
    )
    calendar = BusinessCalendar.objects.get(organization=org, is_default=True)
    found = CalendarException.objects.filter(calendar=calendar, date=HOLIDAY).first()
    if remove:
        if found is not None:
            remove_exception(acting_user=admin, exception=found)
        return
    set_exception(
        acting_user=admin, calendar=calendar, date=HOLIDAY, name="Company day off", hours=[]
    )


def write(args: argparse.Namespace, loaded: dict[str, Any], measured: dict[str, Any]) -> None:
    when = datetime.now(UTC)
    out = {
        "benchmark": "sla",
        "database": "postgresql",
        "when": when.isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "command": " ".join(["python", *sys.argv]),
        "target_recompute_seconds": TARGET_RECOMPUTE_S,
        "target_report_seconds": TARGET_REPORT_S,
        "clocks_as_of": NOW.isoformat(),
        "data": loaded,
        **measured,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"sla-postgresql{args.suffix}"
    stem.with_suffix(".json").write_text(json.dumps(out, indent=2, default=str) + "\n")
    b, c, r = out["baseline"], out["bulk_create"], out["report"]
    u = out.get("bulk_unchanged")
    met = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    data = out["data"]
    load_line = (
        f"Loaded in {data['load_seconds']} s ({data['incidents_per_second']:,} incidents/s): "
        f"{data['generated']:,} tickets generated in Python and written with COPY in "
        f"{data['generated_seconds']} s, the rest copied in SQL (shifted by whole weeks) in "
        f"{data['replicate_seconds']} s; organisations, people, calendars and definitions "
        f"{data['people_and_definitions_seconds']} s; ANALYZE {data['analyze_seconds']} s."
        if "load_seconds" in data
        else "Measured on the database a previous run loaded (`--reuse`)."
    )
    lines = [
        f"# Service levels at {out['incidents']:,} closed incidents (PostgreSQL)",
        "",
        f"{out['when']}, Python {out['python']}, {out['cpus']} CPUs (shared with other work). "
        f"Command: `{out['command']}`",
        "",
        f"Data: 2 organisations (70/30), {out['incidents']:,} closed incidents opened over 12 "
        f"months with {out['activities']:,} timeline entries; 4 definitions per organisation "
        f"(SLA on business hours with ZA holidays, SLA 24x7 for P1-P2, OLA of the service "
        f"desk, UC of a supplier). {load_line} Database {out['database_size']}, clock table "
        f"{out['clock_table_size']} ({out['clocks']:,} clocks).",
        "",
        "## Recompute every clock",
        "",
        f"Targets: recompute under {TARGET_RECOMPUTE_S} s, report under {TARGET_REPORT_S} s.",
        "",
        "| path | tickets | clocks | wall s | tickets/s | clocks/s | read s | compute s | "
        "write s | peak MiB | target met |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| per-ticket ORM (`recompute_incidents`, sample) | {b['tickets']:,} | {b['clocks']:,} "
        f"| {b['seconds']} | {b['tickets_per_second']:,} | {b['clocks_per_second']:,} | — | — "
        f"| — | {b['peak_memory_mib']} | — |",
        f"| per-ticket ORM, extrapolated to {out['incidents']:,} | {out['incidents']:,} | — | "
        f"{b['extrapolated_seconds']:,} | — | — | — | — | — | — | "
        f"{met(b['extrapolated_seconds'] < TARGET_RECOMPUTE_S)} |",
    ]
    h = out.get("bulk_holiday")
    p = PREVIOUS_BULK
    lines.append(
        f"| previous bulk path ({p['when']}, `{p['commit']}`), empty clock table "
        f"({p['workers']} workers) | {p['tickets']:,} | {p['clocks']:,} | {p['wall_seconds']} | "
        f"{p['tickets_per_second']:,} | {p['clocks_per_second']:,} | {p['read_seconds']} | "
        f"{p['compute_seconds']} | {p['write_seconds']} | {p['peak_memory_mib']} | **no** |"
    )
    runs = [("bulk, empty clock table", c)]
    if u:
        runs.append(("bulk again, nothing changed", u))
    if h:
        runs.append((f"bulk after a holiday is added ({HOLIDAY})", h))
    for label, s in runs:
        lines.append(
            f"| {label} ({s['workers']} workers) | {s['tickets']:,} | {s['clocks']:,} | "
            f"{s['wall_seconds']} | {s['tickets_per_second']:,} | {s['clocks_per_second']:,} | "
            f"{s['read_seconds']} | {s['compute_seconds']} | {s['write_seconds']} | "
            f"{s['peak_memory_mib']} | {met(s['wall_seconds'] < TARGET_RECOMPUTE_S)} |"
        )
    lines += [
        "",
        "| run | of the write: merge s (parent, one transaction) | Python CPU s | "
        "database CPU s | fallback tickets (per-ticket arithmetic) | created | updated | unchanged | "
        "deleted |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, s in runs:
        lines.append(
            f"| {label} | {s['merge_seconds']} | {s['python_cpu_seconds']} | "
            f"{s['database_cpu_seconds']} | {s['fallback_tickets']:,} | {s['created']:,} | "
            f"{s['updated']:,} | {s['unchanged']:,} | {s['deleted']:,} |"
        )
    speedup = b["extrapolated_seconds"] / c["wall_seconds"] if c["wall_seconds"] else 0
    lines += [
        "",
        f"Bulk against per-ticket: {speedup:.0f}x; against the previous bulk path (clocks "
        f"per second): {c['clocks_per_second'] / p['clocks_per_second']:.1f}x. Read / compute / write are seconds "
        f"summed over the worker processes, write including the parent's merge of the staged "
        f"clocks into the clock table (so read + compute + write add up to about workers x "
        f"the workers' part of the wall time, plus the merge); CPU seconds are summed over "
        f"processes (database: the PostgreSQL server processes that served the run, read "
        f"from /proc; parallel index builds not counted); peak memory is the largest resident set of one process. First run: "
        f"created {c['created']:,}"
        + (
            f"; second run: unchanged {u['unchanged']:,}, updated {u['updated']:,}, deleted "
            f"{u['deleted']:,}"
            + (
                f"; after the holiday: updated {h['updated']:,} (the clocks that counted "
                f"business time on {HOLIDAY})"
                if h
                else ""
            )
            if u
            else " (run once)"
        )
        + f". The bulk rows of the {b['tickets']:,} sampled tickets "
        f"({out['sample_clocks_compared']:,} clocks) are "
        f"{'identical to' if out['sample_identical'] else '**not identical to**'} the "
        f"per-ticket path's.",
        "",
        "## The month's compliance report",
        "",
    ]
    if "skipped" in r:
        lines.append(f"Skipped: {r['skipped']}.")
    else:
        lines += [
            f"After `VACUUM (ANALYZE) sla_clock` ({out.get('vacuum_seconds', '—')} s, what "
            "autovacuum does after a bulk insert: the report's index-only scans need its "
            "visibility map), "
            f"`compliance_report(organization_id=<larger organisation>, month={r['month']})`, "
            f"in-process: cold (first call) {r['cold_seconds']} s, warm median of 5 "
            f"{r['warm_median_seconds']} s ({met(r['warm_median_seconds'] < TARGET_REPORT_S)} "
            f"under {TARGET_REPORT_S} s); {r['queries']} queries, {r['sql_seconds']} s of SQL "
            f"(cold). {r['breaches']:,} breaches in the month.",
            "",
            "Slowest queries (cold):",
            "",
        ]
        for q in r["slowest_queries"]:
            lines.append(f"- {q['seconds']:.3f} s: `{q['sql'][:300]}`")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


#: The bulk path before the arrays (per-ticket arithmetic in worker processes, upsert per
#: piece), as `benchmarks/results/sla-postgresql.json` recorded it then, for comparison.
PREVIOUS_BULK = {
    "when": "2026-11-23",
    "commit": "647b03b",
    "workers": 2,
    "tickets": 1_000_000,
    "clocks": 4_144_141,
    "wall_seconds": 684.52,
    "tickets_per_second": 1461,
    "clocks_per_second": 6054,
    "read_seconds": 264.03,
    "compute_seconds": 556.46,
    "write_seconds": 455.52,
    "peak_memory_mib": 136.2,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reuse", action="store_true", help="Measure the last loaded database.")
    parser.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    parser.add_argument("--suffix", default="", help="Appended to the result file names.")
    parser.add_argument(
        "--generated",
        type=int,
        default=250_000,
        help="Tickets generated in Python; the rest are SQL copies shifted by whole weeks.",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="Bulk into the empty table only (not again unchanged, nor after a holiday).",
    )
    parser.add_argument("--load-only", action="store_true", help="Load; measure later (--reuse).")
    parser.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        raise SystemExit("This benchmark needs --database-url postgres://...")
    if args.measure_only:
        setup_django(args.database_url, reuse=True)
        real, sys.stdout = sys.stdout, sys.stderr  # progress shows as it goes
        measured = measure(args)
        real.write(json.dumps(measured, default=str) + "\n")
        return
    bench_url = setup_django(args.database_url, reuse=args.reuse)
    loaded: dict[str, Any] = {"reused": True}
    if not args.reuse:
        print(f"loading {args.tickets:,} closed incidents ...", flush=True)
        loaded = load(args.tickets, args.workers, args.generated)
        print(loaded, flush=True)
        (Path(os.environ["OPSDESK_VAR_DIR"]) / "sla-bench-load.json").write_text(json.dumps(loaded))
        if args.load_only:
            return
    else:
        with_load = Path(os.environ["OPSDESK_VAR_DIR"]) / "sla-bench-load.json"
        if with_load.exists():  # the load of the run being measured again
            loaded = {**json.loads(with_load.read_text()), "reused": True}
    from django.db import connections

    connections.close_all()
    # Measured in a fresh process: its peak memory is the measurement's, not the loader's.
    child = subprocess.run(
        [sys.executable, __file__, *sys.argv[1:], "--measure-only"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    measured = json.loads(child.stdout)
    write(args, loaded, measured)
    if args.drop:
        import psycopg

        base, _, name = bench_url.rpartition("/")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"dropped {name}")


if __name__ == "__main__":
    main()
