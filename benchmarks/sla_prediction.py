"""Breach prediction measured on history: the ServiceNow incident event log.

    .venv/bin/python benchmarks/sla_prediction.py [FILE]

FILE defaults to ../shared/data/itsm/servicenow_incident_event_log.csv.zip. Trains on the
incidents opened in the first 70 % of the time span and tests on the last 30 % (see
`opsdesk.sla.evaluation`), predicting ``made_sla == false`` at opening and at 4 h and 24 h
for incidents still open then, against the majority class and the breach rate by priority.
Runs in well under a minute, no database. Results: benchmarks/results/sla_prediction.{json,md}.
"""

from __future__ import annotations

import json
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


def main() -> None:
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
