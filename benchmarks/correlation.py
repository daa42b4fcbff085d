"""Quality of correlation and root-cause ranking on labelled scenarios, against baselines
measured in the same run.

Builds a CMDB (business services -> applications / Kubernetes workloads -> databases ->
servers and nodes -> switches, a shared authentication service), then a labelled stream
(`opsdesk.events.correlation.scenarios`): injected faults that cascade along the
dependencies with delays (some roots silent), unrelated noise (also on hosts the CMDB does
not know), flapping alerts, duplicates, late arrivals, changes implemented on about half of
the roots shortly before the fault and decoy changes elsewhere. The stream goes through the
real pipeline: one inbox entry per 30 s arrival window (`inbox.store`) processed by
`inbox.process_pending`, as intake and a worker do.

Scores: pairwise precision / recall / F1 of the alert grouping against the truth,
compression (events and alerts per group), root-cause top-1 / top-3 accuracy per fault and
how often the fault's change is named as the cause; baselines over the same alerts: a fixed
time window (Keep's correlation rule; Alerta does not group across resources), one group
per resource (Alerta), and "the first CI to alert is the root cause". Targets: F1 >= 0.9,
top-1 >= 0.8.

    .venv/bin/python benchmarks/correlation.py [--seeds 3] [--faults 40] [--noise 80]
        [--hours 4] [--database-url postgres://...]

With --database-url a fresh database ``<name>_bench_correlation`` is created beside the given
one; without it a temporary SQLite file is used. Results: benchmarks/results/
correlation-<database>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import setup_django

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT))


def setup(database_url: str) -> str:
    return setup_django(database_url, "bench_correlation", "opsdesk-bench-corr-")


def run_seed(seed: int, args: argparse.Namespace) -> dict:
    from opsdesk.core.models import Organization
    from opsdesk.events.correlation import scenarios
    from opsdesk.events.models import CorrelationSettings

    rng = random.Random(seed)  # noqa: S311 - reproducible scenarios
    org = Organization.objects.create(name=f"Correlation bench {seed}", slug=f"corr-{seed}")
    topo = scenarios.build_topology(org, rng, services=args.services)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC) + timedelta(days=seed)
    scenario = scenarios.generate(
        topo, rng, start, faults=args.faults, noise=args.noise, hours=args.hours
    )
    changes = scenarios.create_changes(org, scenario, topo)
    settings = CorrelationSettings.for_org(org.pk)
    began = time.perf_counter()
    fed = scenarios.feed(org, scenario)
    elapsed = time.perf_counter() - began
    groups_of, ranked, causes = scenarios.outcome(org, scenario, changes)
    result = scenarios.score(scenario, topo, groups_of, ranked, causes, settings.window_seconds)
    result["seed"] = seed
    result["cis"] = len(topo.ids)
    result["pipeline"] = {
        **fed,
        "seconds": round(elapsed, 2),
        "events_per_s": round(fed["processed"] / elapsed, 1) if elapsed else None,
        "batches": len(scenarios.batches(scenario)),
    }
    return result


def mean(results: list[dict], *path: str) -> float | None:
    values = []
    for r in results:
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if isinstance(v, int | float):
            values.append(v)
    return round(statistics.mean(values), 4) if values else None


def markdown(summary: dict) -> str:
    s = summary["summary"]
    lines = [
        f"# Correlation quality ({summary['database']})",
        "",
        f"{summary['when']}, {summary['machine']}. Seeds {summary['seeds']}, each "
        f"{summary['params']['faults']} injected faults, {summary['params']['noise']} noise "
        f"alerts and flapping alerts over {summary['params']['hours']} h on a "
        f"{summary['runs'][0]['cis']}-CI topology, through the real pipeline "
        "(inbox.store + inbox.process_pending, 30 s batches). Default settings "
        "(window 600 s, 3 hops).",
        "",
        "| | precision | recall | F1 | events / group |",
        "|---|---|---|---|---|",
        f"| OpsDesk | {s['precision']} | {s['recall']} | **{s['f1']}** | {s['events_per_group']} |",
        f"| baseline: fixed time window (Keep rule) | {s['window_precision']} | "
        f"{s['window_recall']} | {s['window_f1']} | {s['window_events_per_group']} |",
        f"| baseline: per resource (Alerta) | {s['resource_precision']} | "
        f"{s['resource_recall']} | {s['resource_f1']} | {s['resource_events_per_group']} |",
        "",
        "| root cause | top-1 | top-3 | cause change named |",
        "|---|---|---|---|",
        f"| OpsDesk | **{s['top1']}** | {s['top3']} | {s['change_named']} |",
        f"| baseline: first CI to alert | {s['first_alert_top1']} | | |",
        "",
        f"Targets: F1 >= 0.9 ({'met' if (s['f1'] or 0) >= 0.9 else 'NOT met'}), "
        f"top-1 >= 0.8 ({'met' if (s['top1'] or 0) >= 0.8 else 'NOT met'}).",
        "",
        "Per seed:",
        "",
        "| seed | alerts | events | faults | F1 | top-1 | top-3 | groups | events/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["runs"]:
        lines.append(
            f"| {r['seed']} | {r['alerts']} | {r['events']} | {r['faults']} | "
            f"{r['grouping']['f1']} | {r['root_cause']['top1']} | {r['root_cause']['top3']} | "
            f"{r['grouping']['groups']} | {r['pipeline']['events_per_s']} |"
        )
    lines += [
        "",
        "events/s is the whole pipeline (dedup, bind, correlation, incidents, root causes, "
        "runbooks) on 30 s arrival windows of a few events each, one transaction per window: "
        "per-batch overhead, not the ingest throughput (see the ingest benchmark).",
        "",
        "The scenarios are synthetic and the correlation constants were chosen by the same "
        "people who wrote the generator: read these as a regression guard and a comparison "
        "with the baselines under identical input, not as a claim about real estates.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed",
        type=int,
        default=1,
        help="seeds first-seed .. first-seed + seeds - 1; 1-3 are the ones tuned on, "
        "4-6 a held-out set (results written with a -seeds<a>-<b> suffix)",
    )
    parser.add_argument("--faults", type=int, default=30)
    parser.add_argument("--noise", type=int, default=120)
    parser.add_argument("--services", type=int, default=24)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    database = setup(args.database_url)
    runs = []
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    for seed in seeds:
        r = run_seed(seed, args)
        print(
            f"seed {seed}: F1 {r['grouping']['f1']} (window {r['baselines']['time_window']['f1']}, "
            f"resource {r['baselines']['per_resource']['f1']}), top-1 {r['root_cause']['top1']} "
            f"top-3 {r['root_cause']['top3']} (first alert {r['baselines']['first_alert_root_cause_top1']}), "
            f"{r['pipeline']['events_per_s']} events/s, not done {r['pipeline']['not_done']}"
        )
        runs.append(r)
    summary_numbers = {
        "precision": mean(runs, "grouping", "precision"),
        "recall": mean(runs, "grouping", "recall"),
        "f1": mean(runs, "grouping", "f1"),
        "events_per_group": mean(runs, "grouping", "events_per_group"),
        "window_precision": mean(runs, "baselines", "time_window", "precision"),
        "window_recall": mean(runs, "baselines", "time_window", "recall"),
        "window_f1": mean(runs, "baselines", "time_window", "f1"),
        "window_events_per_group": mean(runs, "baselines", "time_window", "events_per_group"),
        "resource_precision": mean(runs, "baselines", "per_resource", "precision"),
        "resource_recall": mean(runs, "baselines", "per_resource", "recall"),
        "resource_f1": mean(runs, "baselines", "per_resource", "f1"),
        "resource_events_per_group": mean(runs, "baselines", "per_resource", "events_per_group"),
        "top1": mean(runs, "root_cause", "top1"),
        "top3": mean(runs, "root_cause", "top3"),
        "change_named": mean(runs, "root_cause", "change_named"),
        "first_alert_top1": mean(runs, "baselines", "first_alert_root_cause_top1"),
    }
    summary = {
        "benchmark": "correlation",
        "database": database,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "seeds": seeds,
        "params": {
            "faults": args.faults,
            "noise": args.noise,
            "hours": args.hours,
            "services": args.services,
        },
        "summary": summary_numbers,
        "targets": {"f1": 0.9, "top1": 0.8},
        "runs": runs,
    }
    print(json.dumps(summary_numbers, indent=2))
    if not args.no_write:
        RESULTS.mkdir(exist_ok=True)
        suffix = "" if args.first_seed == 1 else f"-seeds{seeds[0]}-{seeds[-1]}"
        (RESULTS / f"correlation-{database}{suffix}.json").write_text(
            json.dumps(summary, indent=2) + "\n"
        )
        (RESULTS / f"correlation-{database}{suffix}.md").write_text(markdown(summary))


if __name__ == "__main__":
    main()
