"""The front stages' writes (`pipeline.run`): every alert row of a batch is written once by
silence..maintenance (one INSERT of the new alerts with everything the stages set, one
UPDATE of the changed ones), and the history once, after correlation, with its groups."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from opsdesk.cmdb.actions import create_ci
from opsdesk.cmdb.models import CIClass
from opsdesk.events import pipeline
from opsdesk.events.choices import GroupState
from opsdesk.events.models import Alert, AlertEvent, AlertGroup
from opsdesk.events.stages.dedup import allocate_ids
from opsdesk.events.tests.helpers import batch, event

pytestmark = pytest.mark.django_db
FRONT = ("silence", "dedup", "flapping", "bind", "maintenance")
ALERT_TABLE = Alert._meta.db_table
HISTORY_TABLE = AlertEvent._meta.db_table


def _writes(queries, table):
    """(INSERTs, UPDATEs) of `table` among the captured statements (a prepared statement run
    for many rows is logged once, as "N times: ..."; PostgreSQL inserts with COPY)."""
    head = r"\s*(?:\d+ times: )?"
    quoted = rf'"?{table}"?'
    inserts = sum(
        bool(re.match(rf"{head}(?:INSERT INTO|COPY) {quoted}\s", q["sql"])) for q in queries
    )
    updates = sum(bool(re.match(rf"{head}UPDATE {quoted}\s", q["sql"])) for q in queries)
    return inserts, updates


def _server(cast, name):
    return create_ci(
        acting_user=cast.admin,
        organization=cast.org_a,
        ci_class=CIClass.objects.get(key="server"),
        name=name,
    )


def _on(host, n, **kw):
    return event(
        f"Disk full on {host}", fingerprint=f"{host}-{n}", resource={"host.name": host}, **kw
    )


def test_new_alerts_are_inserted_once_with_what_every_front_stage_set(cast):
    db = _server(cast, "db-07")
    start = timezone.now() - timedelta(minutes=5)
    # Four status changes of one new alert in the batch: it starts flapping.
    flips = [
        event(fingerprint="flap", status=s, **{"starts_at" if s == "firing" else "ends_at": t})
        for s, t in (
            ("firing", start),
            ("resolved", start + timedelta(minutes=1)),
            ("firing", start + timedelta(minutes=2)),
            ("resolved", start + timedelta(minutes=3)),
        )
    ]
    b = batch(cast.org_a, [_on("db-07", n) for n in range(3)] + flips, flap_transitions=4)
    with CaptureQueriesContext(connection) as seen:
        pipeline.run(b, only=FRONT)
    assert _writes(seen.captured_queries, ALERT_TABLE) == (1, 0)
    assert _writes(seen.captured_queries, HISTORY_TABLE) == (1, 0)
    bound = Alert.objects.filter(fingerprint__startswith="db-07")
    assert {(a.ci_id, a.binding) for a in bound} == {
        (db.pk, "host.name=db-07 → CI db-07 (name:server)")
    }
    flapping = Alert.objects.get(fingerprint="flap")
    assert flapping.flapping and flapping.transitions == 3
    kinds = list(AlertEvent.objects.filter(alert=flapping).values_list("kind", flat=True))
    assert kinds == ["fired", "resolved", "fired", "resolved", "flapping"]
    # Nothing is left waiting on the batch.
    assert not (b.new_alerts or b.dirty_alerts or b.history)


def test_changed_alerts_are_updated_once(cast):
    pipeline.run(batch(cast.org_a, [_on("web-01", n) for n in range(5)]), only=FRONT)
    _server(cast, "web-01")  # the CMDB learns the host: bind moves the alerts to it
    b = batch(cast.org_a, [_on("web-01", n, severity="critical") for n in range(5)])
    with CaptureQueriesContext(connection) as seen:
        pipeline.run(b, only=FRONT)
    assert _writes(seen.captured_queries, ALERT_TABLE) == (0, 1)
    alerts = list(Alert.objects.filter(organization=cast.org_a))
    assert {(a.count, a.severity, a.ci_id is not None) for a in alerts} == {(2, "critical", True)}


def test_a_batch_run_in_steps_leaves_its_rows_after_each_step(cast):
    b = pipeline.run(batch(cast.org_a, [_on("web-02", 1)]), only=("dedup",))
    alert = Alert.objects.get()
    assert alert.pk == b.items[0].alert.pk and alert.ci_id is None
    _server(cast, "web-02")
    pipeline.run(b, only=("bind",))
    assert Alert.objects.get().ci_id is not None


def test_history_rows_are_written_after_correlation_with_their_group(cast):
    _server(cast, "db-08")
    b = batch(cast.org_a, [_on("db-08", n) for n in range(3)] + [_on("db-08", 0)])
    with CaptureQueriesContext(connection) as seen:
        pipeline.run(b, only=(*FRONT, "correlate"))
    assert _writes(seen.captured_queries, HISTORY_TABLE)[0] == 1
    rows = list(AlertEvent.objects.values_list("kind", "alert__group_id", "group_id"))
    assert len(rows) == 4
    assert all(group and group == own for _, group, own in rows)


def test_a_refired_alert_keeps_its_old_group_on_the_row_and_older_rows_join_the_new(cast):
    now = timezone.now()
    old = AlertGroup.objects.create(
        organization=cast.org_a,
        title="g",
        state=GroupState.RESOLVED,
        onset_at=now,
        last_event_at=now,
    )
    # A first-seen-resolved row without a group, then the alert is put in a resolved group.
    pipeline.run(
        batch(cast.org_a, [event(fingerprint="r", status="resolved", ends_at=now)]), only=FRONT
    )
    alert = Alert.objects.get()
    ungrouped = AlertEvent.objects.get(alert=alert)
    assert ungrouped.group_id is None
    Alert.objects.filter(pk=alert.pk).update(group=old)
    # It fires again: correlation puts it in a new group.
    pipeline.run(batch(cast.org_a, [event(fingerprint="r")]), only=(*FRONT, "correlate"))
    alert.refresh_from_db()
    assert alert.group_id not in (None, old.pk)
    fired = AlertEvent.objects.get(alert=alert, kind="fired")
    assert fired.group_id == old.pk  # made while the alert was in the old group
    ungrouped.refresh_from_db()
    assert ungrouped.group_id == alert.group_id  # correlation's update of the older rows


def test_a_failing_later_stage_rolls_the_whole_batch_back(cast, monkeypatch):
    def boom(_batch):
        raise RuntimeError("correlation failed")

    monkeypatch.setitem(pipeline.STAGES, "correlate", boom)
    with pytest.raises(RuntimeError), transaction.atomic():
        pipeline.run(batch(cast.org_a, [_on("web-03", n) for n in range(3)]))
    assert not Alert.objects.exists() and not AlertEvent.objects.exists()
    monkeypatch.undo()
    done = pipeline.run(batch(cast.org_a, [_on("web-03", n) for n in range(3)]), only=FRONT)
    assert Alert.objects.count() == 3
    assert {i.alert.pk for i in done.items} == set(Alert.objects.values_list("pk", flat=True))


def test_allocated_ids_are_not_taken_by_an_insert_made_meanwhile(cast):
    b = batch(cast.org_a, [_on("web-04", n) for n in range(3)])
    pipeline.STAGES["dedup"](b)
    allocated = set(b.new_alerts)
    assert len(allocated) == 3
    # Someone else inserts an alert before the batch writes its own.
    other = Alert.objects.create(
        organization=cast.org_a,
        source="generic",
        fingerprint="meanwhile",
        status="firing",
        severity="minor",
        title="t",
        starts_at=timezone.now(),
        first_seen=timezone.now(),
        last_seen=timezone.now(),
    )
    assert other.pk not in allocated
    pipeline.run(b, only=())
    assert set(Alert.objects.values_list("pk", flat=True)) == allocated | {other.pk}


def test_ids_are_allocated_in_order_above_every_existing_one(cast):
    pipeline.run(batch(cast.org_a, [_on("web-05", 1)]), only=FRONT)
    top = Alert.objects.order_by("-pk").values_list("pk", flat=True).first()
    alerts = [Alert(organization=cast.org_a) for _ in range(4)]
    allocate_ids(Alert, alerts)
    ids = [a.pk for a in alerts]
    assert ids == sorted(ids) and len(set(ids)) == 4 and ids[0] > top


def test_awkward_text_and_json_are_stored_as_given(cast):
    title = 'Tab\there, new\nline, back\\slash, quote " and é ✓'
    labels = {"alertname": "Odd\tOne", "path": "C:\\temp\\x", "json": '{"a": [1, 2]}', "nl": "a\nb"}
    resource = {"host.name": "höst-01", "k8s.pod.name": "p\\q"}
    done = pipeline.run(
        batch(
            cast.org_a,
            [event(title, fingerprint="odd", labels=labels, resource=resource, description="")],
        ),
        only=FRONT,
    )
    stored = Alert.objects.get(fingerprint="odd")
    assert (stored.title, stored.labels, stored.resource) == (title, labels, resource)
    assert stored.normalised_text == done.items[0].alert.normalised_text
    assert AlertEvent.objects.get(alert=stored).note == ""
