"""Discovery imports: starting an import job, running it, and reading jobs.

``start_import`` stores the file as an :class:`ImportJob` and queues ``run_import_task``
after commit; the task parses the file with the format's importer, reconciles it (see
``reconcile``) and records progress, counts, the per-row report and the preview.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from opsdesk.cmdb import importers
from opsdesk.cmdb.choices import ImportFormat, ImportStatus
from opsdesk.cmdb.models import ConfigurationItem, ImportJob
from opsdesk.cmdb.reconcile import reconcile
from opsdesk.core.actions import require
from opsdesk.core.errors import FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Action
from opsdesk.core.selectors import access

logger = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 20 * 1024 * 1024
#: Progress is written at most once per this many rows.
PROGRESS_EVERY = 500
MAX_REPORT = 1000


def start_import(
    *,
    acting_user: Any,
    organization: Organization,
    format: str,
    source: str,
    filename: str,
    payload: bytes,
    partial: bool = False,
    dry_run: bool = False,
    enqueue: bool = True,
) -> ImportJob:
    """Store an import job and queue it (after commit). Needs "add CI" in the organisation."""
    require(acting_user, ConfigurationItem, Action.ADD, organization.pk)
    errors: dict[str, str] = {}
    if format not in ImportFormat.values:
        errors["format"] = f"Choose one of: {', '.join(ImportFormat.values)}."
    if len(payload) > MAX_IMPORT_BYTES:
        errors["file"] = f"The file is larger than {MAX_IMPORT_BYTES // (1024 * 1024)} MB."
    elif not payload:
        errors["file"] = "The file is empty."
    source = (source or "").strip() or str(format)
    if len(source) > 100 or "\x00" in source:
        errors["source"] = "A source name of at most 100 characters."
    if len(filename or "") > 255 or "\x00" in (filename or ""):
        errors["filename"] = "At most 255 characters."
    if errors:
        raise FieldError(errors)
    with transaction.atomic():
        job = ImportJob(
            organization=organization,
            format=format,
            source=source,
            filename=filename or "",
            payload=payload,
            partial=partial,
            dry_run=dry_run,
            created_by=acting_user if getattr(acting_user, "pk", None) else None,
        )
        job.save()
        if enqueue:
            job_id = job.pk
            transaction.on_commit(lambda: _enqueue(job_id))
    return job


def _enqueue(job_id: int) -> None:
    from opsdesk.cmdb.tasks import run_import_task

    run_import_task.enqueue(job_id)


def _save_progress(job: ImportJob, **values: Any) -> None:
    """Progress in its own short transaction, so pages polling the job see it move."""
    ImportJob.objects.filter(pk=job.pk).update(**values)
    for name, value in values.items():
        setattr(job, name, value)


def run_import(job_id: int, *, progress: Any = None) -> ImportJob:
    """Parse and reconcile the job's file; record progress, counts, report and preview."""
    job = ImportJob.objects.select_related("organization", "created_by").get(pk=job_id)
    if job.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED):
        return job  # already ran (a retried task)
    _save_progress(job, status=ImportStatus.RUNNING, started_at=timezone.now(), processed=0)
    try:
        items, relationships, report = importers.parse(
            job.format, bytes(job.payload), {"cluster": None}
        )
    except Exception:  # an importer bug must not leave the job running forever
        logger.exception("importer crashed", extra={"job": job.pk})
        items, relationships = [], []
        report = [{"row": 0, "field": "file", "message": "The file could not be read."}]
    total = len(items)
    _save_progress(job, total=total)
    last = [0]

    def on_progress(done: int, of: int) -> None:
        if done - last[0] >= PROGRESS_EVERY or done >= of:
            last[0] = done
            _save_progress(job, processed=min(done, of), total=of)
        if progress is not None:
            progress(done, of)

    if report and not job.partial:
        # A malformed file: nothing is written; validate the rest to report every problem.
        result = reconcile(
            organization=job.organization,
            source=job.source,
            items=items,
            relationships=relationships,
            acting_user=job.created_by,
            partial=False,
            dry_run=True,
            progress=on_progress,
        )
        result.created = result.updated = result.unchanged = result.relationships_created = 0
        result.preview = result.preview if job.dry_run else []
        applied = False
    else:
        result = reconcile(
            organization=job.organization,
            source=job.source,
            items=items,
            relationships=relationships,
            acting_user=job.created_by,
            partial=job.partial,
            dry_run=job.dry_run,
            progress=on_progress,
        )
        applied = result.applied
    full_report = [*report, *result.report]
    failed_rows = {r["row"] for r in full_report}
    succeeded = not full_report or (job.partial and (applied or job.dry_run))
    if job.dry_run:
        succeeded = not full_report or job.partial
    _save_progress(
        job,
        status=ImportStatus.SUCCEEDED if succeeded else ImportStatus.FAILED,
        processed=total,
        created=result.created,
        updated=result.updated,
        unchanged=result.unchanged,
        failed=len(failed_rows),
        relationships_created=result.relationships_created,
        report=full_report[:MAX_REPORT],
        preview=result.preview,
        finished_at=timezone.now(),
    )
    return job


def imports_for_user(user: Any) -> QuerySet[ImportJob]:
    return (
        ImportJob.objects.restrict(user, Action.VIEW)
        .defer("payload")
        .select_related("organization", "created_by")
    )


def access_import(user: Any, import_id: int) -> ImportJob:
    return access(imports_for_user(user), import_id, "import")
