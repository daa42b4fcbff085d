"""Periodic scoring of open clocks (breach prediction): every live clock of every
organisation gets its `breach_probability` refreshed every five minutes."""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from opsdesk.core import periodic


@task(queue_name="periodic")
def score_clocks_task() -> dict[str, int]:
    """Score every live clock (see `opsdesk.sla.prediction`)."""
    from opsdesk.sla.prediction import score_open_clocks

    return score_open_clocks()


periodic.register(score_clocks_task, every=timedelta(minutes=5))
