"""Periodic jobs run once per tick however many workers race for them."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from opsdesk.core import periodic
from opsdesk.core.models import PeriodicJobRun


@task(queue_name="periodic")
def sample_task() -> int:
    return 42


@pytest.fixture
def only_sample_job(monkeypatch):
    monkeypatch.setattr(periodic, "REGISTRY", {})
    periodic.register(sample_task, every=timedelta(minutes=5), name="sample")
    return periodic.REGISTRY["sample"]


def test_tick_is_time_floored_to_the_period():
    now = datetime(2026, 11, 22, 10, 7, 31, tzinfo=UTC)
    assert periodic.tick_of(now, timedelta(minutes=5)) == datetime(2026, 11, 22, 10, 5, tzinfo=UTC)
    assert periodic.tick_of(now, timedelta(hours=1)) == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def test_second_worker_in_same_tick_claims_nothing(db, only_sample_job):
    now = datetime(2026, 11, 22, 10, 7, tzinfo=UTC)
    assert periodic.schedule_due_jobs("worker-1", now) == ["sample"]
    assert periodic.schedule_due_jobs("worker-2", now + timedelta(seconds=30)) == []
    assert PeriodicJobRun.objects.filter(job="sample").count() == 1
    assert DBTaskResult.objects.filter(queue_name="periodic").count() == 1
    # the next tick runs again
    assert periodic.schedule_due_jobs("worker-2", now + timedelta(minutes=5)) == ["sample"]
    run = PeriodicJobRun.objects.order_by("-tick").first()
    assert run.worker == "worker-2"
    assert run.task_result_id


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_claim_each_tick_exactly_once(only_sample_job):
    """Several threads (each with its own database connection) race for the same ticks."""
    start = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    ticks = [start + timedelta(minutes=5 * i) for i in range(5)]
    claims: list[tuple[str, list[str]]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def worker(name: str) -> None:
        try:
            barrier.wait()
            for tick in ticks:
                claims.append((name, periodic.schedule_due_jobs(name, tick + timedelta(seconds=1))))
        except BaseException as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sum(len(c) for _, c in claims) == len(ticks)
    assert PeriodicJobRun.objects.count() == len(ticks)
    assert DBTaskResult.objects.filter(queue_name="periodic").count() == len(ticks)


@pytest.mark.django_db(transaction=True)
def test_worker_batch_runs_periodic_job(only_sample_job):
    from django.core.management import call_command

    call_command("worker", "--batch")
    result = DBTaskResult.objects.get(queue_name="periodic")
    assert result.status == "SUCCESSFUL"
    assert result.return_value == 42


def test_prune_task_removes_only_old_finished_results(db):
    from opsdesk.core.tasks import prune_finished_tasks_task

    old = datetime.now(UTC) - timedelta(days=30)
    PeriodicJobRun.objects.create(job="x", tick=old, worker="w")
    PeriodicJobRun.objects.create(job="x", tick=datetime.now(UTC), worker="w")
    outcome = prune_finished_tasks_task.call()
    assert outcome["periodic_runs"] == 1
    assert PeriodicJobRun.objects.count() == 1
