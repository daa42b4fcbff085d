"""The event loop of `opsdesk worker` and the inbox claiming it relies on."""

from __future__ import annotations

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from opsdesk.events import inbox, transport, worker
from opsdesk.events.choices import InboxState
from opsdesk.events.models import Alert, InboxEntry
from opsdesk.events.tests.helpers import event, integration, post

ONE = {"title": "Disk full on db-07", "severity": "critical", "fingerprint": "w-1"}


@pytest.mark.django_db
def test_a_step_processes_pending_entries_and_then_finds_none(cast, api_client):
    _, token, _ = integration(cast.org_a)
    for _ in range(3):
        assert post(api_client, "generic", ONE, token).status_code == 202
    loop = worker.EventLoop("t", batch=2)
    assert loop.step() == 2
    assert loop.step() == 1
    assert loop.step() == 0
    assert loop.processed == 3
    assert set(InboxEntry.objects.values_list("state", flat=True)) == {InboxState.DONE}
    assert Alert.objects.get(organization=cast.org_a, fingerprint="w-1").count == 3


@pytest.mark.django_db
def test_the_sweeper_only_takes_entries_that_waited(cast):
    old = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    InboxEntry.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    fresh = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    sweeper = worker.EventLoop("t", only_older_than=60)
    assert sweeper.step() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.state, fresh.state) == (InboxState.DONE, InboxState.PENDING)


@pytest.mark.django_db
def test_one_organisation_up_to_an_entry(cast):
    a1 = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    b1 = inbox.store(organization_id=cast.org_b.pk, source="generic", events=[event()])
    a2 = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    a3 = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    assert inbox.process_pending("t", organization_id=cast.org_a.pk, up_to_id=a2.pk) == 2
    states = dict(InboxEntry.objects.values_list("pk", "state"))
    assert states == {
        a1.pk: InboxState.DONE,
        b1.pk: InboxState.PENDING,
        a2.pk: InboxState.DONE,
        a3.pk: InboxState.PENDING,
    }
    # Done entries are never processed again.
    assert inbox.process_pending("t", ids=[a1.pk, a2.pk]) == 0


@pytest.mark.django_db(transaction=True)
def test_the_loop_thread_drains_what_arrives_and_stops(cast, api_client):
    _, token, _ = integration(cast.org_a)
    seen = threading.Event()
    loop = worker.EventLoop("t", idle_max=0.2, on_batch=lambda n: seen.set())
    loop.start()
    try:
        assert post(api_client, "generic", ONE, token).status_code == 202
        assert seen.wait(20), "the loop did not process the entry"
    finally:
        worker.stop([loop])
    assert not loop.is_alive()
    assert InboxEntry.objects.get().state == InboxState.DONE


@pytest.mark.django_db(transaction=True)
def test_postgresql_workers_wake_on_notify(cast):
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    listener = worker.Listener()
    try:
        assert listener.wait(0.05) is False
        entry = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
        transport.dispatch(entry)  # the db transport's dispatcher NOTIFYs
        assert listener.wait(5) is True
    finally:
        listener.close()


@pytest.mark.django_db(transaction=True)
def test_skip_locked_leaves_a_busy_organisation_to_its_worker(cast):
    """While one worker holds organisation A, another claims B's entries, not A's newer ones."""
    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED sharing is PostgreSQL's; SQLite runs one worker")
    import psycopg

    a1 = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    b1 = inbox.store(organization_id=cast.org_b.pk, source="generic", events=[event()])
    params = connection.get_connection_params()
    for key in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(key, None)
    with psycopg.connect(**params) as other:  # another worker, mid-batch on organisation A
        other.execute("SELECT id FROM core_organization WHERE id = %s FOR UPDATE", [cast.org_a.pk])
        assert inbox.process_pending("t") == 1
        assert InboxEntry.objects.get(pk=b1.pk).state == InboxState.DONE
        assert InboxEntry.objects.get(pk=a1.pk).state == InboxState.PENDING
        other.rollback()
    assert inbox.process_pending("t") == 1
    assert InboxEntry.objects.get(pk=a1.pk).state == InboxState.DONE


@pytest.mark.django_db
def test_events_command_process_retry_status(cast):
    entry = inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    InboxEntry.objects.filter(pk=entry.pk).update(state=InboxState.FAILED, attempts=5, error="x")
    out = StringIO()
    call_command("events", "status", "--json", stdout=out)
    assert '"failed": {\n      "entries": 1' in out.getvalue()
    out = StringIO()
    call_command("events", "retry", stdout=out)
    assert "1 entries back to pending" in out.getvalue()
    entry.refresh_from_db()
    assert (entry.state, entry.attempts) == (InboxState.PENDING, 0)
    out = StringIO()
    call_command("events", "process", stdout=out)
    assert "1 events processed" in out.getvalue()
    entry.refresh_from_db()
    assert entry.state == InboxState.DONE


@pytest.mark.django_db(transaction=True)  # the batch's transaction is a real one
@pytest.mark.parametrize("synchronous", [False, True])
def test_a_batch_commits_without_waiting_for_the_flush_unless_configured(
    cast, monkeypatch, settings, synchronous
):
    """PostgreSQL: the batch's own transaction has ``synchronous_commit`` off (its entries'
    "done" marks commit with it); intake's stays on."""
    settings.EVENTS_PIPELINE_SYNCHRONOUS_COMMIT = synchronous
    seen: list[str] = []
    real = inbox.apply

    def spy(entries, now=None):
        with connection.cursor() as cursor:
            cursor.execute(
                "SHOW synchronous_commit" if connection.vendor == "postgresql" else "SELECT 'n/a'"
            )
            seen.append(cursor.fetchone()[0])
        return real(entries, now)

    monkeypatch.setattr(inbox, "apply", spy)
    inbox.store(organization_id=cast.org_a.pk, source="generic", events=[event()])
    assert inbox.process_pending("t") == 1
    expected = "n/a" if connection.vendor != "postgresql" else ("on" if synchronous else "off")
    assert seen == [expected]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # SET LOCAL: over with the batch's transaction
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone()[0] == "on"


def test_each_batch_is_logged_with_its_stage_times_at_debug(cast, caplog):
    """What `benchmarks/ingest.py` reads from the worker's log to measure the stages through
    correlation in the real worker."""
    import json
    import logging

    from opsdesk.events import pipeline

    inbox.store(
        organization_id=cast.org_a.pk,
        source="generic",
        events=[event(fingerprint="log-1"), event(fingerprint="log-2")],
    )
    with caplog.at_level(logging.DEBUG, logger="opsdesk.events.inbox"):
        assert inbox.process_pending("t") == 2
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("pipeline batch")]
    assert len(lines) == 1
    summary = json.loads(lines[0].removeprefix("pipeline batch "))
    assert summary["events"] == 2 and summary["organization"] == cast.org_a.pk
    stages = summary["stages_ms"]
    assert set(pipeline.ORDER) <= set(stages)
    through = sum(stages.get(name, 0.0) for name in pipeline.THROUGH_CORRELATION)
    assert summary["through_correlation_ms"] == pytest.approx(through, abs=0.05)
    assert 0 < summary["through_correlation_ms"] < sum(stages.values()) + 0.05
