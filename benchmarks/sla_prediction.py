"""Breach prediction measured on history: the ServiceNow incident event log.

    .venv/bin/python benchmarks/sla_prediction.py [FILE]
    .venv/bin/python benchmarks/sla_prediction.py import [FILE] [--database-url URL]

FILE defaults to ../shared/data/itsm/servicenow_incident_event_log.csv.zip. Trains on the
incidents opened in the first 70 % of the time span and tests on the last 30 % (see
`opsdesk.sla.evaluation`), predicting ``made_sla == false`` at opening and at 4 h and 24 h
for incidents still open then, against the majority class and the breach rate by priority.
Runs in well under a minute, no database. Results: benchmarks/results/sla_prediction.{json,md}.

``import``: what recomputing the clocks at the end of a ServiceNow import costs. The sample
is imported into a fresh database twice, into an organisation without SLA definitions and
into one with a standard SLA (response and resolution targets), then the model of the second
is built and every clock scored. Results: benchmarks/results/sla_prediction-import-<db>.{json,md}.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from opsdesk.sla.evaluation import evaluate_file  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "itsm" / "servicenow_incident_event_log.csv.zip"
VARIANTS = (
    ("majority_baseline", "Majority class (every incident makes its SLA)"),
    ("priority_baseline", "Breach rate by priority"),
    ("model", "Back-off model (chosen training window)"),
    ("model_with_queue", "Back-off model + queue adjustment"),
    ("model_all_history", "Back-off model, all training history"),
)
COLUMNS = (
    ("accuracy", "Accuracy"),
    ("balanced_accuracy", "Balanced acc."),
    ("precision_breach", "Precision (breach)"),
    ("recall_breach", "Recall (breach)"),
    ("brier", "Brier"),
    ("auc", "AUC"),
)


def _fmt(value: object) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown(report: dict) -> str:
    lines = [
        "# Breach prediction on the ServiceNow sample",
        "",
        f"Measured {report['measured_at']} in {report['seconds']:.1f} s on {report['machine']} "
        "by `benchmarks/sla_prediction.py` (model: `opsdesk/sla/prediction.py`, experiment: "
        "`opsdesk/sla/evaluation.py`, design: docs/architecture/sla-prediction.md).",
        "",
        f"- {report['incidents']:,} incidents opened {report['span'][0]} .. {report['span'][1]}; "
        f"training: the {report['train']:,} opened before {report['cutoff']} (first 70 % of the "
        f"span), test: the {report['test']:,} opened after.",
        f"- Breach (`made_sla == false` at the last row): {report['train_breach_rate']:.1%} of "
        f"training incidents, {report['test_breach_rate']:.1%} of test incidents. The rate "
        "drifts strongly over the weeks (96 % in the second week, about 20 % from April on), so "
        "the training set says more breaches than the test period has.",
        f"- Chosen on a validation split (the last fifth of the training period, never the "
        f"test set): training window **{report['training_window_days'] or 'all'} days** before "
        f"the cutoff (validation log loss per window: "
        f"{report['training_window_validation_log_loss']}), queue exponent "
        f"{report['queue_beta']:g}.",
        f"- Queue adjustment helps on test (Brier better at every checkpoint): "
        f"**{'yes' if report['queue_helps'] else 'no'}**"
        + ("" if report["queue_helps"] else " — so the live model leaves it out (QUEUE_BETA = 0)."),
        f"- Back-off: minimum support {report['min_support']}, prior strength "
        f"{report['strength']:g} pseudo-tickets. Elapsed time is wall-clock (the ServiceNow "
        "calendars and SLA definitions are unknown); category stands in for the service.",
        "- Probabilities become a breach prediction at 0.5. Accuracy, precision and recall "
        "depend on that threshold; the Brier score and the AUC do not.",
        "",
    ]
    for result in report["checkpoints"].values():
        title = (
            "At opening (e = 0)"
            if result["hours"] == 0
            else (f"At {result['hours']:g} h after opening, incidents still open then")
        )
        lines += [
            f"## {title}: {result['incidents']:,} test incidents, "
            f"{result['model']['breach_rate']:.1%} breached",
            "",
            "| Predictor | " + " | ".join(name for _, name in COLUMNS) + " |",
            "|---|" + "---:|" * len(COLUMNS),
        ]
        for key, name in VARIANTS:
            m = result[key]
            lines.append(f"| {name} | " + " | ".join(_fmt(m.get(c)) for c, _ in COLUMNS) + " |")
        used = ", ".join(f"{k} {v}" for k, v in result["levels_used"].items())
        lines += ["", f"Back-off level used: {used}.", ""]
    lines += ["## Reading the numbers", ""]
    for result in report["checkpoints"].values():
        m, maj, pri = result["model"], result["majority_baseline"], result["priority_baseline"]
        when = "At opening" if result["hours"] == 0 else f"At {result['hours']:g} h"
        brier = (
            "better than both baselines"
            if m["brier"] < min(maj["brier"], pri["brier"])
            else "better than the majority class but not than the rate by priority"
            if m["brier"] < maj["brier"]
            else "no better than the majority class"
        )
        lines.append(
            f"- {when}: the model ranks incidents with AUC {m['auc']:.2f} (baselines "
            f"{maj['auc']:.2f} and {pri['auc']:.2f}); its Brier score {m['brier']:.3f} is {brier} "
            f"({maj['brier']:.3f}, {pri['brier']:.3f}); at a 0.5 threshold it finds "
            f"{m['recall_breach']:.0%} of the breaches with precision {m['precision_breach']:.0%}."
        )
    lines += [
        "- So: a useful ranking at opening, a weak one once an incident has been open for hours "
        "(everything left has outlived the quick fixes, and breach rates drift between the "
        "training and the test weeks). The probabilities are shown as such, with their reason.",
        "- Training on all history instead of a recent window ranks about as well but is badly "
        "calibrated on this drifting sample (higher Brier): the live model reads recent history.",
        "- The queue adjustment "
        + ("helped" if report["queue_helps"] else "did not help and is off in the live model")
        + ".",
        "",
    ]
    return "\n".join(lines)


def setup_django(database_url: str) -> str:
    import subprocess
    import tempfile

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import fresh_postgres_database

    var = tempfile.mkdtemp(prefix="opsdesk-bench-sla-prediction-")
    env = {**os.environ, "OPSDESK_VAR_DIR": var, "SECURE_COOKIES": "false", "LOG_LEVEL": "WARNING"}
    env.pop("DATABASE_URL", None)
    if database_url:
        env["DATABASE_URL"] = fresh_postgres_database(database_url, "bench_sla_prediction")
    subprocess.run(
        [sys.executable, "-m", "opsdesk", "migrate", "--noinput"],
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "opsdesk.config.settings")
    import django

    django.setup()
    from django.db import connection

    return connection.vendor


def bench_import(path: Path, database_url: str) -> None:
    database = setup_django(database_url)
    from opsdesk.accounts.models import User
    from opsdesk.core.models import BusinessCalendar, Organization
    from opsdesk.servicedesk.importers.servicenow import import_incidents
    from opsdesk.sla.models import Clock, Definition
    from opsdesk.sla.prediction import load_models, score_clocks

    user = User.objects.create_superuser("bench@example.com", "bench-pass-123", full_name="Bench")
    runs = []
    for name, with_sla in (("without SLA definitions", False), ("with a standard SLA", True)):
        org = Organization.objects.create(name=name, slug="with-sla" if with_sla else "no-sla")
        if with_sla:
            calendar = BusinessCalendar.objects.create(
                organization=org, name="24x7", always_open=True, is_default=True
            )
            Definition.objects.create(
                organization=org,
                name="Standard",
                calendar=calendar,
                response_minutes={"1": 15, "2": 30, "3": 240, "4": 480, "5": 480},
                resolution_minutes={"1": 240, "2": 480, "3": 1440, "4": 4320, "5": 4320},
            )
        started, cpu = time.perf_counter(), time.process_time()
        result = import_incidents(acting_user=user, organization=org, path=path)
        seconds = time.perf_counter() - started
        run = {
            "organization": name,
            "incidents": result.created,
            "timeline_entries": result.activities_created,
            "clocks": result.clocks,
            "seconds": round(seconds, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2),
        }
        if with_sla:
            clocks = Clock.objects.filter(organization=org)
            stopped = [c.stopped_at for c in clocks.only("stopped_at") if c.stopped_at]
            now = max(stopped)
            started = time.perf_counter()
            models = load_models(org.pk, now=now)
            run["model_seconds"] = round(time.perf_counter() - started, 2)
            run["model_tickets"] = {f"{k[0]}/{k[1]}": m.total for k, m in models.items()}
            started = time.perf_counter()
            score_clocks(list(clocks), now, models={org.pk: models})
            run["score_all_clocks_seconds"] = round(time.perf_counter() - started, 2)
            run["breached"] = clocks.filter(breached=True).count()
        runs.append(run)
        print(run, file=sys.stderr)
    extra = runs[1]["seconds"] - runs[0]["seconds"]
    extra_cpu = runs[1]["cpu_seconds"] - runs[0]["cpu_seconds"]
    load = os.getloadavg()[0]
    out = {
        "benchmark": "sla_prediction_import",
        "database": database,
        "file": path.name,
        "python": platform.python_version(),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runs": runs,
        "clock_recompute_seconds": round(extra, 2),
        "clock_recompute_cpu_seconds": round(extra_cpu, 2),
        "load_average": round(load, 2),
    }
    results = ROOT / "benchmarks" / "results"
    (results / f"sla_prediction-import-{database}.json").write_text(
        json.dumps(out, indent=1) + "\n"
    )
    lines = [
        f"# ServiceNow import with SLA clocks ({database})",
        "",
        f"`{path.name}` imported into a fresh database, once into an organisation without SLA "
        f"definitions and once into one with a standard SLA, by "
        f"`benchmarks/sla_prediction.py import`; Python {out['python']}, {out['when']}, load "
        f"average {load:.1f} on {os.cpu_count()} CPUs at the end (wall-clock seconds grow with "
        "the load; the CPU seconds of this process much less).",
        "",
        "| organisation | incidents | timeline entries | clocks | seconds | CPU seconds |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run['organization']} | {run['incidents']:,} | {run['timeline_entries']:,} "
            f"| {run['clocks']:,} | {run['seconds']} | {run['cpu_seconds']} |"
        )
    with_sla = runs[1]
    lines += [
        "",
        f"Recomputing the clocks adds {extra:.1f} s wall-clock, {extra_cpu:.1f} s of CPU "
        f"({extra_cpu / max(with_sla['clocks'], 1) * 1000:.2f} ms of CPU per clock). Building the "
        f"breach-prediction model from them takes {with_sla['model_seconds']} s and scoring all "
        f"{with_sla['clocks']:,} clocks {with_sla['score_all_clocks_seconds']} s; "
        f"{with_sla['breached']:,} of the imported clocks breached their targets.",
        "",
    ]
    (results / f"sla_prediction-import-{database}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "import":
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("mode")
        parser.add_argument("file", nargs="?", default=str(DEFAULT))
        parser.add_argument("--database-url", default="")
        args = parser.parse_args()
        bench_import(Path(args.file), args.database_url)
        return
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    started = time.perf_counter()
    report = evaluate_file(path, progress=lambda msg: print(msg, file=sys.stderr))
    report["seconds"] = round(time.perf_counter() - started, 2)
    report["measured_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report["machine"] = f"{platform.python_implementation()} {platform.python_version()}, " + (
        f"{platform.machine()}"
    )
    report["file"] = path.name
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "sla_prediction.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    (out / "sla_prediction.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
