"""Stage ``flapping`` on its own (after dedup, which writes the transitions it counts)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.events import pipeline
from opsdesk.events.models import Alert, AlertEvent
from opsdesk.events.tests.helpers import batch, event

pytestmark = pytest.mark.django_db
STAGES = ("dedup", "flapping")


def _flip(org, fp, at, status, now=None, **settings):
    kw = {"starts_at": at} if status == "firing" else {"ends_at": at}
    b = batch(org, [event(fingerprint=fp, status=status, **kw)], now=now, **settings)
    return pipeline.run(b, only=STAGES)


def _flips(org, fp, start, n, step=timedelta(minutes=1), **settings):
    done = None
    for i in range(n):
        done = _flip(org, fp, start + i * step, "firing" if i % 2 == 0 else "resolved", **settings)
    return done


def test_enough_changes_in_the_window_mark_the_alert_flapping(cast):
    start = timezone.now() - timedelta(minutes=10)
    done = _flips(cast.org_a, "f", start, 4, flap_transitions=4, flap_window_seconds=900)
    alert = Alert.objects.get()
    # fired, resolved, fired, resolved: four status changes in three minutes.
    assert alert.flapping
    assert done.scratch["flapping_started"] == {alert.pk}
    row = AlertEvent.objects.get(alert=alert, kind="flapping")
    assert row.note == "Started flapping: 4 status changes within 15 minutes."
    # The fifth change keeps it flapping; no second "started" row.
    _flip(cast.org_a, "f", start + timedelta(minutes=5), "firing", flap_transitions=4)
    assert AlertEvent.objects.filter(alert=alert, kind="flapping").count() == 1


def test_changes_spread_wider_than_the_window_do_not(cast):
    start = timezone.now() - timedelta(hours=2)
    _flips(cast.org_a, "f", start, 6, step=timedelta(minutes=20), flap_transitions=4)
    assert not Alert.objects.get().flapping
    assert not AlertEvent.objects.filter(kind="flapping").exists()


def test_repeats_and_other_alerts_do_not_count(cast):
    start = timezone.now() - timedelta(minutes=10)
    _flips(cast.org_a, "a", start, 3, flap_transitions=4)
    for _ in range(5):
        _flip(cast.org_a, "a", start + timedelta(minutes=2), "firing", flap_transitions=4)
    _flips(cast.org_a, "b", start, 3, flap_transitions=4)
    assert not Alert.objects.filter(flapping=True).exists()


def test_a_flapping_alert_is_unmarked_once_quiet(cast):
    start = timezone.now() - timedelta(minutes=40)
    _flips(cast.org_a, "f", start, 4, flap_transitions=4, flap_window_seconds=900)
    alert = Alert.objects.get()
    assert alert.flapping
    # Any later batch of the organisation notices the quiet, even without this alert.
    done = pipeline.run(
        batch(cast.org_a, [event(fingerprint="other")], flap_transitions=4), only=STAGES
    )
    alert.refresh_from_db()
    assert not alert.flapping
    assert done.scratch["flapping_stopped"] == {alert.pk}
    assert (
        AlertEvent.objects.filter(alert=alert, kind="flapping")
        .last()
        .note.startswith("Stopped flapping: 0 status changes")
    )


def test_still_busy_alerts_stay_flapping(cast):
    now = timezone.now()
    start = now - timedelta(minutes=4)
    _flips(cast.org_a, "f", start, 4, flap_transitions=4, flap_window_seconds=900)
    pipeline.run(batch(cast.org_a, [event(fingerprint="x")], flap_transitions=4), only=STAGES)
    assert Alert.objects.get(fingerprint="f").flapping


def test_off_when_the_threshold_is_below_two(cast):
    start = timezone.now() - timedelta(minutes=10)
    _flips(cast.org_a, "f", start, 6, flap_transitions=0)
    assert not Alert.objects.get().flapping


def test_query_count_does_not_grow_with_the_batch(cast, django_assert_max_num_queries):
    start = timezone.now() - timedelta(minutes=10)
    events = []
    for n in range(100):
        for i in range(4):
            at = start + timedelta(seconds=30 * i)
            status = "firing" if i % 2 == 0 else "resolved"
            kw = {"starts_at": at} if status == "firing" else {"ends_at": at}
            events.append(event(fingerprint=f"f{n}", status=status, **kw))
    b = pipeline.run(batch(cast.org_a, events, flap_transitions=4), only=("dedup",))
    with django_assert_max_num_queries(5):
        pipeline.run(b, only=("flapping",))
    assert Alert.objects.filter(flapping=True).count() == 100
