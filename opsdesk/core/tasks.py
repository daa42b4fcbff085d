"""Background jobs of the core. Tasks take ids, never objects."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_tasks import task

from opsdesk.core import periodic

FINISHED_TASK_RETENTION = timedelta(days=7)


@task(queue_name="periodic")
def prune_finished_tasks_task() -> dict[str, int]:
    """Delete finished task results and periodic claims older than the retention period."""
    from django_tasks_db.models import DBTaskResult

    from opsdesk.core.models import PeriodicJobRun

    cutoff = timezone.now() - FINISHED_TASK_RETENTION
    tasks, _ = DBTaskResult.objects.filter(
        finished_at__lt=cutoff, status__in=["SUCCESSFUL", "FAILED"]
    ).delete()
    runs, _ = PeriodicJobRun.objects.filter(tick__lt=cutoff).delete()
    return {"task_results": tasks, "periodic_runs": runs}


periodic.register(prune_finished_tasks_task, every=timedelta(hours=1))
