"""Alerts kept by the worker between batches (`opsdesk.events.kept_alerts`): a repeat is
folded into the alert as the database holds it whether it came from the kept copy or a
fresh read, and the kept copy is never used once the row changed, or after a rollback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.events import inbox, kept_alerts, pipeline
from opsdesk.events.correlation import state as kept_state
from opsdesk.events.correlation import text as textmod
from opsdesk.events.models import Alert
from opsdesk.events.stages import dedup
from opsdesk.events.tests.helpers import event

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row versions (xmin, ctid) are PostgreSQL's"
)


@pytest.fixture(autouse=True)
def _fresh():
    kept_alerts.forget()
    kept_state.forget()
    textmod.forget()
    yield
    kept_alerts.forget()
    kept_state.forget()
    textmod.forget()


@pytest.fixture
def send(cast, django_capture_on_commit_callbacks):
    """Store events as one inbox entry and process it as a worker does, committed (its
    on-commit hooks run); returns the statements that read alert rows whole or by version."""
    org = cast.org_a
    start = timezone.now() - timedelta(minutes=30)

    def run(*titles: str, minute: int = 0, severity: str = "major") -> dict[str, int]:
        at = start + timedelta(minutes=minute)
        events = [
            event(t, severity=severity, starts_at=at, received_at=at, fingerprint=t) for t in titles
        ]
        inbox.store(organization_id=org.pk, source="generic", events=events)
        with (
            CaptureQueriesContext(connection) as queries,
            django_capture_on_commit_callbacks(execute=True),
        ):
            assert inbox.process_pending("test") == len(events)
        sql = [q["sql"] for q in queries.captured_queries]
        return {
            "versions": sum(s.startswith("SELECT") and "xmin" in s for s in sql),
            "rows": sum('a."labels"' in s for s in sql),
        }

    return run


@postgresql_only
def test_a_repeat_of_a_kept_alert_reads_only_its_version(cast, send):
    assert send("disk full on db-1", "cpu high on web-1") == {"versions": 0, "rows": 1}
    # First repeats: read whole (new alerts are inserted by COPY, which returns no version).
    assert send("disk full on db-1", "cpu high on web-1", minute=1) == {"versions": 0, "rows": 1}
    assert set(kept_alerts.get(cast.org_a.pk)) == {"disk full on db-1", "cpu high on web-1"}
    # Now both are kept as written: only their versions are read.
    seen = send("disk full on db-1", "cpu high on web-1", minute=2, severity="critical")
    assert seen == {"versions": 1, "rows": 0}
    alert = Alert.objects.get(fingerprint="disk full on db-1")
    assert (alert.count, alert.severity) == (3, "critical")
    assert alert.last_seen == max(Alert.objects.values_list("last_seen", flat=True))
    kept = kept_alerts.get(cast.org_a.pk)["disk full on db-1"][1]
    for field in Alert._meta.concrete_fields:
        assert kept[field.attname] == getattr(alert, field.attname), field.name


@postgresql_only
def test_an_alert_changed_by_someone_else_is_read_again(cast, send):
    send("disk full on db-1")
    send("disk full on db-1", minute=1)
    assert "disk full on db-1" in kept_alerts.get(cast.org_a.pk)
    Alert.objects.filter(fingerprint="disk full on db-1").update(count=100, description="by hand")
    assert send("disk full on db-1", minute=2) == {"versions": 1, "rows": 1}
    alert = Alert.objects.get(fingerprint="disk full on db-1")
    assert alert.count == 101


@postgresql_only
def test_a_second_write_in_the_same_transaction_is_not_mistaken_for_the_kept_one(
    cast, send, monkeypatch
):
    """A later stage of the same batch writes with the same ``xmin``: the ``ctid`` tells the
    versions apart."""
    send("disk full on db-1")
    last = pipeline.ORDER[-1]
    real = pipeline.STAGES[last]

    def and_by_hand(batch: pipeline.Batch) -> None:
        real(batch)
        Alert.objects.filter(fingerprint="disk full on db-1").update(count=50)

    monkeypatch.setitem(pipeline.STAGES, last, and_by_hand)
    send("disk full on db-1", minute=1)
    monkeypatch.setitem(pipeline.STAGES, last, real)
    assert "disk full on db-1" in kept_alerts.get(cast.org_a.pk)
    send("disk full on db-1", minute=2)
    assert Alert.objects.get(fingerprint="disk full on db-1").count == 51


@postgresql_only
def test_a_batch_that_rolls_back_keeps_nothing(cast, send):
    send("disk full on db-1")
    org = cast.org_a
    inbox.store(
        organization_id=org.pk,
        source="generic",
        events=[event("disk full on db-1", fingerprint="disk full on db-1")],
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        entries = inbox._claim(10, None)
        inbox.apply(entries)
        raise RuntimeError("a later step failed")
    assert kept_alerts.get(org.pk) == {}


@postgresql_only
def test_what_is_kept_is_what_was_written_not_what_changed_in_memory(
    cast, send, django_capture_on_commit_callbacks
):
    send("disk full on db-1")
    org = cast.org_a
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        alert = dedup._existing(org.pk, ["disk full on db-1"])["disk full on db-1"]
        alert.count += 1
        alert.title = "changed in memory only"
        versions = dedup.bulk_set(Alert, [alert], ["count"], versions=True)
        kept_alerts.remember(org.pk, [alert], ["count"], versions)
    kept = kept_alerts.get(org.pk)["disk full on db-1"][1]
    stored = Alert.objects.get(pk=alert.pk)
    assert (
        (kept["count"], kept["title"]) == (stored.count, stored.title) == (2, "disk full on db-1")
    )


def test_elsewhere_nothing_is_kept_and_repeats_still_fold(cast, send):
    send("disk full on db-1")
    send("disk full on db-1", minute=1)
    send("disk full on db-1", minute=2)
    assert Alert.objects.get(fingerprint="disk full on db-1").count == 3
    if connection.vendor != "postgresql":
        assert kept_alerts.get(cast.org_a.pk) == {}


def test_memory_is_bounded_least_recently_written_organisations_go_first(
    cast, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(kept_alerts, "MAX_ALERTS", 5)

    def keep(org_id: int, n: int, prefix: str) -> None:
        alerts = [
            dedup._alert({"id": i + 1, "fingerprint": f"{prefix}{i}", "labels": {}, "resource": {}})
            for i in range(n)
        ]
        for alert in alerts:
            kept_alerts.loaded(alert, dict(alert.__dict__))
        with django_capture_on_commit_callbacks(execute=True):
            kept_alerts.remember(org_id, alerts, ["count"], {a.pk: "1/(0,1)" for a in alerts})

    keep(1, 3, "a")
    keep(2, 2, "b")
    assert len(kept_alerts.get(1)) == 3 and len(kept_alerts.get(2)) == 2
    keep(3, 2, "c")  # 7 > 5: organisation 1, the least recently written, goes
    assert kept_alerts.get(1) == {} and len(kept_alerts.get(2)) == 2
    keep(2, 6, "d")  # one organisation alone past the bound: it starts afresh
    assert kept_alerts.get(2) == {} and len(kept_alerts.get(3)) == 2
