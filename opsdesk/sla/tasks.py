"""Periodic jobs: the warning and breach sweep, once a minute across all workers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django_tasks import task

from opsdesk.core import periodic


@task(queue_name="periodic")
def sla_sweep_task() -> dict[str, Any]:
    """Record the warnings and breaches that have come due and perform their escalations."""
    from opsdesk.sla.sweep import sweep

    return sweep().as_dict()


periodic.register(sla_sweep_task, every=timedelta(seconds=60))
