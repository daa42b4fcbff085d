"""`opsdesk sla_prediction evaluate FILE` and `opsdesk sla_prediction score [--organization SLUG]`.

``evaluate`` measures the breach-prediction model on a ServiceNow incident event log (see
`opsdesk.sla.evaluation`) and keeps the result for ``GET /api/v1/sla/prediction/evaluation``;
``score`` scores every live clock now (what the five-minute periodic job does).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from opsdesk.core.models import Organization


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


class Command(BaseCommand):
    help = "Breach prediction: evaluate the model on history, or score the live clocks."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        evaluate = sub.add_parser("evaluate", help="Measure the model on a ServiceNow event log.")
        evaluate.add_argument("file", help="incident_event_log.csv, or a .zip holding it")
        evaluate.add_argument("--json", action="store_true", help="Print the whole report.")
        score = sub.add_parser("score", help="Score every live clock now.")
        score.add_argument("--organization", default=None, help="Only this organisation (slug).")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "evaluate":
            self._evaluate(Path(options["file"]), as_json=options["json"])
        else:
            self._score(options["organization"])

    def _evaluate(self, path: Path, *, as_json: bool) -> None:
        from opsdesk.sla.evaluation import EvaluationFileError, evaluate_file, save_evaluation

        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            report = evaluate_file(path, progress=lambda msg: self.stderr.write(msg))
        except EvaluationFileError as exc:
            raise CommandError(str(exc)) from None
        saved = save_evaluation(report)
        if as_json:
            self.stdout.write(json.dumps(report, indent=1, sort_keys=True))
            return
        self.stdout.write(
            f"{report['incidents']} incidents: {report['train']} train, {report['test']} test "
            f"(breach rate {report['train_breach_rate']:.0%} / {report['test_breach_rate']:.0%})"
        )
        for label, result in report["checkpoints"].items():
            self.stdout.write(f"{label} ({result['incidents']} incidents still open)")
            for name in ("majority_baseline", "priority_baseline", "model", "model_with_queue"):
                m = result[name]
                self.stdout.write(
                    f"  {name:18} "
                    + "  ".join(
                        f"{key} {_fmt(m.get(key))}"
                        for key in ("accuracy", "balanced_accuracy", "brier", "auc")
                    )
                )
        self.stdout.write(f"Saved to {saved}")

    def _score(self, slug: str | None) -> None:
        from opsdesk.sla.prediction import score_open_clocks

        org_id = None
        if slug:
            org = Organization.objects.filter(slug=slug).first()
            if org is None:
                raise CommandError(f"No organisation with slug {slug!r}.")
            org_id = org.pk
        result = score_open_clocks(organization_id=org_id)
        self.stdout.write(f"Scored {result['scored']} live clocks.")
