"""The ``runbooks`` stage (last): self-healing runbooks considered for the groups the batch
opened, or that new CIs joined. Runs are recorded in the batch's transaction; their actions
are queued as background tasks on commit (see `opsdesk.events.runbooks`)."""

from __future__ import annotations

from opsdesk.events import runbook_tasks  # noqa: F401  (registers the periodic verify job)
from opsdesk.events.pipeline import Batch, stage
from opsdesk.events.runbooks import consider


@stage("runbooks")
def run(batch: Batch) -> None:
    batch.scratch["runbook_runs"] = [r.pk for r in consider(batch)]
