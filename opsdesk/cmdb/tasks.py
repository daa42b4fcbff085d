"""Background jobs of the CMDB. Tasks take ids, never objects."""

from __future__ import annotations

from django_tasks import task


@task()
def run_import_task(job_id: int) -> dict[str, int]:
    """Run a queued discovery import (see ``cmdb.imports.run_import``)."""
    from opsdesk.cmdb.imports import run_import

    job = run_import(job_id)
    return {
        "created": job.created,
        "updated": job.updated,
        "unchanged": job.unchanged,
        "failed": job.failed,
    }
