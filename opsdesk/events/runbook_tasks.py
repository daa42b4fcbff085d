"""Background jobs of runbooks: carrying out one run, and the periodic verification of runs
whose alert must clear. Tasks take ids, never objects."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from opsdesk.core import periodic


@task()
def execute_run_task(run_id: int) -> str:
    """Carry out a queued runbook run (see `opsdesk.events.runbooks.execute_run`)."""
    from opsdesk.events.runbook_runs import execute_run

    return execute_run(run_id)


@task(queue_name="periodic")
def verify_runbook_runs_task() -> dict[str, int]:
    """Succeed runs whose alerts cleared, escalate those whose verify time passed."""
    from opsdesk.events.runbook_runs import verify_runs

    return verify_runs()


periodic.register(verify_runbook_runs_task, every=timedelta(minutes=1))
