"""Background jobs of the service desk. Tasks take ids, never objects."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from opsdesk.core import periodic


@task(queue_name="periodic")
def auto_close_resolved_task() -> dict[str, int]:
    """Close incidents resolved longer ago than their organisation allows."""
    from opsdesk.servicedesk.actions import auto_close_resolved

    return {"closed": auto_close_resolved()}


periodic.register(auto_close_resolved_task, every=timedelta(minutes=15))
