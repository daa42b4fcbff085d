"""Periodic jobs that run once per tick, however many workers are running.

Each worker's scheduler computes the current tick of every registered job (the time
floored to the job's period) and tries to insert a `PeriodicJobRun(job, tick)` row. The
unique constraint lets exactly one insert win; that worker enqueues the task in the same
transaction. Losers see an IntegrityError and move on. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: Any  # a django_tasks Task
    every: timedelta


REGISTRY: dict[str, PeriodicJob] = {}


def register(task: Any, every: timedelta, name: str | None = None) -> Any:
    """Run `task` (a @task function) every `every`; returns the task unchanged."""
    job_name = name or task.name
    if every < timedelta(seconds=1):
        raise ValueError("A periodic job runs at most once a second.")
    REGISTRY[job_name] = PeriodicJob(job_name, task, every)
    return task


def tick_of(now: datetime, every: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    period = every.total_seconds()
    elapsed = (now - epoch).total_seconds()
    return epoch + timedelta(seconds=(elapsed // period) * period)


def schedule_due_jobs(worker_id: str, now: datetime | None = None) -> list[str]:
    """Claim and enqueue every job whose current tick has not run yet. Returns claimed names."""
    from opsdesk.core.models import PeriodicJobRun

    now = now or timezone.now()
    claimed: list[str] = []
    for job in REGISTRY.values():
        tick = tick_of(now, job.every)
        try:
            with transaction.atomic():
                run = PeriodicJobRun.objects.create(job=job.name, tick=tick, worker=worker_id[:200])
                result = job.task.using(queue_name="periodic").enqueue()
                run.task_result_id = str(result.id)
                run.save(update_fields=["task_result_id"])
        except IntegrityError:
            continue
        logger.info("periodic job %s claimed for tick %s", job.name, tick.isoformat())
        claimed.append(job.name)
    return claimed
