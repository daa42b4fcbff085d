"""Throughput of the event pipeline, in process, against the pipeline at a baseline commit
measured in the same run.

Every case runs in its own organisation on a CMDB topology (`scenarios.build_topology`:
services -> applications / Kubernetes workloads -> databases -> servers -> switches), so
binding and correlation have real work. A batch is 1,000 events (``--batch-size``) stored as
one inbox entry (`inbox.store`, untimed) and processed the way the worker does
(`inbox.process_pending`: claim, every stage, mark done, commit). Cases: generic JSON and
Alertmanager payloads (parsed by the real adapters), 0 % and 90 % duplicates (repeats of
alerts of earlier batches, which already have a group). Events sit on random CIs of the
topology (a tenth on hosts the CMDB does not know), a storm of one batch per simulated
minute, so a batch's alerts join the groups of the batches before it. One unmeasured
warm-up batch per case, then ``--batches`` measured ones.

Reported per case: events/s (wall clock and process CPU), the database server's CPU
(PostgreSQL: the backend's utime + stime from /proc), milliseconds and queries per stage,
queries per event. The baseline is the same script run against a ``git worktree`` of
``--baseline`` (default: the commit the speed work started from) in /tmp, on a fresh
database of its own, case by case: each case on the current code, then on the baseline.

    .venv/bin/python benchmarks/pipeline.py --database-url postgres://postgres@127.0.0.1:5432/opsdesk
    .venv/bin/python benchmarks/pipeline.py            # SQLite

Results: benchmarks/results/pipeline-<database>.{json,md}.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import alertmanager_alert, alertmanager_webhook

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: The commit the pipeline speed work started from.
BASELINE = "647b03bfde0b7061fbea01c2d1002af5c179723b"
CASES = (("generic", 0.0), ("generic", 0.9), ("alertmanager", 0.0), ("alertmanager", 0.9))
#: Simulated time between batches (an alert storm: groups of earlier batches stay open).
BATCH_GAP = timedelta(seconds=60)
UNKNOWN_HOSTS = 0.1
#: The stages up to and including correlation ("through dedup and correlation"), with the
#: writes of the batch's alerts and history (`pipeline.write_alerts` / `write_history`): the
#: same as `pipeline.THROUGH_CORRELATION`, spelled out because the baseline's code may not
#: have that name.
FRONT = (
    "silence",
    "dedup",
    "flapping",
    "bind",
    "maintenance",
    "correlate",
    "write_alerts",
    "write_history",
)
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# --- the child: one code version, one database ------------------------------------------------


def _setup(database_url: str, tag: str) -> str:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import setup_django

    return setup_django(database_url, f"bench_pipeline_{tag}", f"opsdesk-bench-pipeline-{tag}-")


class Meter:
    """Wall time, CPU and queries per stage: wraps the registered stages and counts every
    statement through a connection wrapper."""

    def __init__(self) -> None:
        from django.db import connection

        from opsdesk.events import pipeline

        self.stage = "other"
        self.ms: dict[str, float] = {}
        self.cpu_ms: dict[str, float] = {}
        self.queries: dict[str, int] = {}
        for name, fn in list(pipeline.STAGES.items()):
            pipeline.STAGES[name] = self._wrap(name, fn)
        connection.execute_wrappers.append(self._count)
        self.backend_pid = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.backend_pid = cursor.fetchone()[0]

    def _count(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.queries[self.stage] = self.queries.get(self.stage, 0) + 1
        return execute(sql, params, many, context)

    def _wrap(self, name: str, fn: Any) -> Any:
        def run(batch: Any) -> None:
            outer, self.stage = self.stage, name
            began, cpu = time.perf_counter(), time.process_time()
            try:
                fn(batch)
            finally:
                self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - began) * 1000
                self.cpu_ms[name] = self.cpu_ms.get(name, 0.0) + (time.process_time() - cpu) * 1000
                self.stage = outer

        return run

    def server_cpu(self) -> float | None:
        if self.backend_pid is None:
            return None
        try:
            fields = Path(f"/proc/{self.backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / TICK

    def reset(self) -> None:
        self.ms.clear()
        self.cpu_ms.clear()
        self.queries.clear()


def _titles() -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str]]]:
    from opsdesk.events.correlation import scenarios

    return scenarios.SYMPTOMS, scenarios.NOISE + list(scenarios.SYMPTOMS["server"])


class Traffic:
    """Alert identities on the topology: new ones, or repeats of those already sent."""

    def __init__(self, topo: Any, case: str, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - reproducible traffic
        self.names = sorted(topo.ids)
        self.classes = topo.classes
        self.case = case
        self.sent: list[dict[str, str]] = []
        self.symptoms, self.noise = _titles()

    def new(self) -> dict[str, str]:
        n = len(self.sent)
        if self.rng.random() < UNKNOWN_HOSTS:
            host = f"unknown-{self.rng.randrange(200):03d}"
            title, severity = self.rng.choice(self.noise)
        else:
            host = self.rng.choice(self.names)
            options = self.symptoms.get(self.classes[host], []) + self.noise
            title, severity = self.rng.choice(options)
        ident = {
            "host": host,
            "title": title.format(name=host),
            "severity": severity,
            "alertname": title.split(" ", 1)[0] + str(n % 7),
            "fingerprint": f"{self.case}-{n:09d}",
        }
        self.sent.append(ident)
        return ident

    def draw(self, size: int, dup: float) -> list[dict[str, str]]:
        out = []
        for _ in range(size):
            if self.sent and self.rng.random() < dup:
                out.append(self.rng.choice(self.sent))
            else:
                out.append(self.new())
        return out


def _body(shape: str, idents: list[dict[str, str]], start: datetime) -> bytes:
    def at(i: int) -> str:
        return (start + timedelta(milliseconds=50 * i)).isoformat().replace("+00:00", "Z")

    if shape == "generic":
        events = [
            {
                "title": i["title"],
                "severity": i["severity"],
                "fingerprint": i["fingerprint"],
                "resource": {"host.name": i["host"]},
                "labels": {"alertname": i["alertname"]},
                "starts_at": at(n),
            }
            for n, i in enumerate(idents)
        ]
        return json.dumps({"events": events}).encode()
    alerts = [
        alertmanager_alert(
            {
                "alertname": i["alertname"],
                "instance": f"{i['host']}:9100",
                "severity": i["severity"],
                "env": "production",
            },
            i["title"],
            at(n),
            i["fingerprint"],
        )
        for n, i in enumerate(idents)
    ]
    payload = alertmanager_webhook(alerts, {"env": "production"})
    return json.dumps(payload).encode()


def run_case(shape: str, dup: float, args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    from django.db import reset_queries
    from django.utils import timezone

    from opsdesk.core.models import Organization
    from opsdesk.events import inbox
    from opsdesk.events.correlation import scenarios
    from opsdesk.events.models import Alert, AlertGroup
    from opsdesk.events.sources import SourceRequest, parse
    from opsdesk.servicedesk.models import Incident

    case = f"{shape}-{int(dup * 100)}"
    rng = random.Random(args.seed)  # noqa: S311 - reproducible topology
    org = Organization.objects.create(name=f"Pipeline bench {case}", slug=f"pipe-{case}")
    topo = scenarios.build_topology(org, rng, services=args.services)
    traffic = Traffic(topo, case, args.seed)
    began = timezone.now() - BATCH_GAP * (args.batches + 2)
    batches = []
    profiles: list[cProfile.Profile] = []
    for index in range(args.batches + 1):
        idents = traffic.draw(args.batch_size, 0.0 if index == 0 else dup)
        start = began + BATCH_GAP * index
        body = _body(shape, idents, start)
        events = parse(shape, SourceRequest(body=body, headers={})).events
        for e in events:
            e.received_at = e.starts_at or start
        inbox.store(organization_id=org.pk, source=shape, events=events, body=body)
        meter.reset()
        reset_queries()
        profiler = cProfile.Profile() if args.profile and index else None
        cpu0, server0, wall0 = time.process_time(), meter.server_cpu(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        done = inbox.process_pending("bench", limit=1)
        if profiler is not None:
            profiler.disable()
            profiles.append(profiler)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        server = meter.server_cpu()
        if done != len(events):
            raise RuntimeError(f"{case} batch {index}: processed {done} of {len(events)}")
        if index == 0:
            continue  # warm-up
        queries = sum(meter.queries.values())
        # Outside the stages: claiming, marking done, the commit and its on-commit hooks
        # (timeline signals: notifications, clocks).
        meter.ms["other"] = wall * 1000 - sum(meter.ms.values())
        batches.append(
            {
                "events": done,
                "seconds": wall,
                "cpu_seconds": cpu,
                "server_cpu_seconds": None if server is None else server - server0,
                "stages_ms": dict(meter.ms),
                "stages_cpu_ms": dict(meter.cpu_ms),
                "stage_queries": dict(meter.queries),
                "queries": queries,
            }
        )
    if profiles:
        stats = pstats.Stats(profiles[0])
        for extra in profiles[1:]:
            stats.add(extra)
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        stats.dump_stats(str(Path(args.profile) / f"{case}.pstats"))
    events = sum(b["events"] for b in batches)
    seconds = sum(b["seconds"] for b in batches)
    cpu = sum(b["cpu_seconds"] for b in batches)
    servers = [b["server_cpu_seconds"] for b in batches]
    server = None if None in servers else sum(servers)
    stages: dict[str, float] = {}
    stage_queries: dict[str, int] = {}
    stages_cpu: dict[str, float] = {}
    for b in batches:
        for k, v in b["stages_cpu_ms"].items():
            stages_cpu[k] = stages_cpu.get(k, 0.0) + v
        for k, v in b["stages_ms"].items():
            stages[k] = stages.get(k, 0.0) + v
        for k, v in b["stage_queries"].items():
            stage_queries[k] = stage_queries.get(k, 0) + v
    n = len(batches)
    front = sum(stages.get(name, 0.0) for name in FRONT) / 1000
    return {
        "case": case,
        "shape": shape,
        "duplicates": dup,
        "batches": n,
        "events": events,
        "cis": len(topo.ids),
        "events_per_s": round(events / seconds, 1),
        "cpu_events_per_s": round(events / cpu, 1) if cpu else None,
        "front_events_per_s": round(events / front, 1) if front else None,
        "server_cpu_ms_per_batch": None if server is None else round(server * 1000 / n, 1),
        "ms_per_batch": round(seconds * 1000 / n, 1),
        "stages_ms_per_batch": {k: round(v / n, 1) for k, v in stages.items()},
        "stages_cpu_ms_per_batch": {k: round(v / n, 1) for k, v in stages_cpu.items()},
        "queries_per_batch": round(sum(stage_queries.values()) / n, 1),
        "queries_per_event": round(sum(stage_queries.values()) / events, 3),
        "stage_queries_per_batch": {k: round(v / n, 1) for k, v in stage_queries.items()},
        "alerts": Alert.objects.filter(organization=org).count(),
        "groups": AlertGroup.objects.filter(organization=org).count(),
        "incidents": Incident.objects.filter(organization=org).count(),
    }


def child(args: argparse.Namespace) -> None:
    vendor = _setup(args.database_url, args.tag)
    import opsdesk.events.stages  # noqa: F401  (registers the stages)

    meter = Meter()
    wanted = set(args.cases.split(",")) if args.cases else None
    cases = [
        run_case(shape, dup, args, meter)
        for shape, dup in CASES
        if wanted is None or f"{shape}-{int(dup * 100)}" in wanted
    ]
    print(json.dumps({"vendor": vendor, "cases": cases}))


# --- the parent: both code versions, the report ----------------------------------------------


def _worktree(ref: str) -> Path:
    sha = subprocess.run(
        ["git", "rev-parse", ref], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"opsdesk-pipeline-baseline-{sha[:12]}"
    if not (path / "opsdesk").is_dir():
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(path), sha],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
    return path


def _run_child(code: Path, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--tag",
        tag,
        "--batches",
        str(args.batches),
        "--batch-size",
        str(args.batch_size),
        "--services",
        str(args.services),
        "--seed",
        str(args.seed),
        "--cases",
        args.cases,
    ]
    if args.database_url:
        cmd += ["--database-url", args.database_url]
    if args.profile and tag == "now":
        cmd += ["--profile", str(Path(args.profile).resolve())]
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(cmd, cwd=code, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


def markdown(summary: dict[str, Any]) -> str:
    current = summary["current"]["cases"]
    base = {c["case"]: c for c in summary["baseline"]["cases"]} if summary["baseline"] else {}
    lines = [
        f"# Event pipeline throughput ({summary['database']})",
        "",
        f"{summary['when']}, {summary['machine']}, load average {summary['load']} at the start. "
        f"Command: `{summary['command']}`",
        "",
        f"Each case: its own organisation on a {current[0]['cis']}-CI CMDB topology, one "
        f"warm-up batch, then {summary['params']['batches']} batches of "
        f"{summary['params']['batch_size']} events, each one inbox entry processed like the "
        "worker does (`inbox.process_pending`: every stage, committed). 90 % duplicates = "
        "repeats of alerts of earlier batches. Baseline = the same run on "
        f"`{summary['baseline_ref'][:12]}` (a git worktree), on a fresh database of its own."
        + (
            f" Each case ran {summary['params']['repeat']} times per code, alternating which "
            "code went first; the run with the median events/s is shown, every run is listed "
            "below the table."
            if summary["params"].get("repeat", 1) > 1
            else ""
        ),
        "",
        "| case | code | events/s | CPU events/s | silence→correlate events/s | ms / batch "
        "| DB server CPU ms / batch | queries / batch | queries / event | alerts | groups "
        "| incidents |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in current:
        rows = [("now", c)] + ([("baseline", base[c["case"]])] if c["case"] in base else [])
        for label, r in rows:
            lines.append(
                f"| {c['case']} | {label} | {r['events_per_s']} | {r['cpu_events_per_s']} | "
                f"{r.get('front_events_per_s', '—')} | {r['ms_per_batch']} | {r['server_cpu_ms_per_batch'] or '—'} | "
                f"{r['queries_per_batch']} | {r['queries_per_event']} | {r['alerts']} | "
                f"{r['groups']} | {r['incidents']} |"
            )
    ratios = [
        f"{c['case']} {c['cpu_events_per_s'] / base[c['case']]['cpu_events_per_s']:.2f}x"
        for c in current
        if c["case"] in base and c["cpu_events_per_s"] and base[c["case"]]["cpu_events_per_s"]
    ]
    if ratios:
        lines += ["", "CPU events/s against the baseline: " + ", ".join(ratios) + "."]
    if summary["params"].get("repeat", 1) > 1:
        lines += ["", "Every run, events/s (silence→correlate events/s):", ""]
        for c in current:
            rows = [("now", c)] + ([("baseline", base[c["case"]])] if c["case"] in base else [])
            for label, r in rows:
                runs = ", ".join(
                    f"{x['events_per_s']:,.0f} ({x['front_events_per_s']:,.0f})"
                    for x in r.get("runs", [])
                )
                lines.append(f"- {c['case']} {label}: {runs}")
    stages = list(current[0]["stages_ms_per_batch"])
    lines += [
        "",
        "Milliseconds per batch by stage: wall clock, then this process's CPU where measured "
        "(the rest of the wall clock is mostly waiting for the database), queries per batch "
        "in brackets:",
        "",
        "| case | code | " + " | ".join(stages) + " |",
        "|---|---|" + "---:|" * len(stages),
    ]
    for c in current:
        rows = [("now", c)] + ([("baseline", base[c["case"]])] if c["case"] in base else [])
        for label, r in rows:
            cpu = r.get("stages_cpu_ms_per_batch", {})
            cells = [
                f"{r['stages_ms_per_batch'].get(s, 0)}"
                + (f" / {cpu[s]}" if s in cpu else "")
                + f" ({r['stage_queries_per_batch'].get(s, 0):g})"
                for s in stages
            ]
            lines.append(f"| {c['case']} | {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Wall-clock numbers depend on what else the machine runs; CPU events/s (this process) "
        "and the query counts are steadier. silence→correlate events/s counts only the time "
        'of the stages up to correlation (the target\'s "through dedup and correlation"). '
        '"other" is the time and queries outside the stages: the inbox\'s claim and '
        "mark-done, the settings, the commit and its on-commit work (the timeline's signals: "
        "notification planning, SLA clocks, change-induced suggestions for new incidents).",
        "",
    ]
    return "\n".join(lines)


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated runs of a case, the one with the median events/s (reported in full), with
    every run's events/s and silence→correlate events/s beside it: this machine's speed
    drifts by 10-20 % between runs, more than most changes measured here."""
    ordered = sorted(runs, key=lambda r: r["events_per_s"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    chosen["runs"] = [
        {"events_per_s": r["events_per_s"], "front_events_per_s": r["front_events_per_s"]}
        for r in runs
    ]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL; default SQLite")
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--services", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", default=BASELINE, help="git ref, or 'none'")
    parser.add_argument("--cases", default="", help="e.g. generic-0,alertmanager-90; default all")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per case and code; the median is reported"
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print the stages' times")
    parser.add_argument(
        "--profile", default="", help="directory: a cProfile of the measured batches per case"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="now", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.batches = max(1, min(args.batches, 50))
    args.batch_size = max(1, min(args.batch_size, 10_000))
    args.repeat = max(1, min(args.repeat, 9))
    if args.child:
        child(args)
        return
    load = _load()
    # Case by case, the current code then the baseline: the two see the same machine load
    # as nearly as a shared machine allows.
    wanted = args.cases.split(",") if args.cases else [f"{s}-{int(d * 100)}" for s, d in CASES]
    tree = _worktree(args.baseline) if args.baseline != "none" else None
    current: dict[str, Any] = {"cases": []}
    baseline: dict[str, Any] | None = {"cases": []} if tree else None
    try:
        for case in wanted:
            args.cases = case
            nows: list[dict[str, Any]] = []
            bases: list[dict[str, Any]] = []
            for round_ in range(args.repeat):
                # Alternate which goes first, so neither always meets a slower moment.
                order = [("now", ROOT, nows), ("base", tree, bases)]
                if round_ % 2:
                    order.reverse()
                for tag, code, runs in order:
                    if code is None:
                        continue
                    found = _run_child(code, tag, args)
                    current["vendor"] = found["vendor"]
                    runs += found["cases"]
            current["cases"].append(_median_run(nows))
            if baseline is not None:
                baseline["cases"].append(_median_run(bases))
    finally:
        if tree is not None:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=False
            )
    args.cases = ",".join(wanted)
    database = current["vendor"]
    summary = {
        "database": database,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}",
        "load": load,
        "command": "python benchmarks/pipeline.py " + " ".join(sys.argv[1:]),
        "params": {
            "batches": args.batches,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "repeat": args.repeat,
        },
        "baseline_ref": args.baseline,
        "current": current,
        "baseline": baseline,
    }
    for c in current["cases"]:
        b = next((x for x in (baseline or {}).get("cases", []) if x["case"] == c["case"]), None)
        vs = f" (baseline {b['events_per_s']}, CPU {b['cpu_events_per_s']})" if b else ""
        print(
            f"{c['case']}: {c['events_per_s']} events/s, CPU {c['cpu_events_per_s']}, "
            f"{c['queries_per_event']} queries/event, silence→correlate "
            f"{c['front_events_per_s']} events/s{vs}"
        )
        if args.verbose:
            for name, ms in c["stages_ms_per_batch"].items():
                cpu = c["stages_cpu_ms_per_batch"].get(name)
                print(f"    {name:14} {ms:7.1f} ms" + (f"  cpu {cpu:7.1f}" if cpu else ""))
    if args.no_write:
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"pipeline-{database}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / f"pipeline-{database}.md").write_text(markdown(summary))


if __name__ == "__main__":
    main()
