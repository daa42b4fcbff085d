"""The ``runbooks`` stage (last): self-healing runbooks considered for the groups the batch
opened, or that new CIs joined. Runs are recorded in the batch's transaction; their actions
are queued as background tasks on commit (see `opsdesk.events.runbooks`).

Self-healing must never cost an event: a failure here is logged and rolled back to a
savepoint, and the batch's other effects commit."""

from __future__ import annotations

import logging

from django.db import transaction

from opsdesk.events import (  # noqa: F401  (register the incident panel and the verify job)
    runbook_panel,
    runbook_tasks,
)
from opsdesk.events.pipeline import Batch, stage
from opsdesk.events.runbooks import consider

logger = logging.getLogger(__name__)


@stage("runbooks")
def run(batch: Batch) -> None:
    try:
        with transaction.atomic():
            runs = consider(batch)
    except Exception:
        logger.exception("runbooks stage failed for organisation %s", batch.organization_id)
        runs = []
    batch.scratch["runbook_runs"] = [r.pk for r in runs]
