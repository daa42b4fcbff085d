"""Stage ``silence`` on its own: active silences mark matching events suppressed and count."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.events import pipeline
from opsdesk.events.models import Silence
from opsdesk.events.silences import create_silence, expire_silence
from opsdesk.events.tests.helpers import batch, event

pytestmark = pytest.mark.django_db


def _silence(cast, matchers, org=None, **kw):
    kw.setdefault("ends_at", timezone.now() + timedelta(hours=1))
    return create_silence(
        acting_user=cast.agent if org is None else cast.agent_b,
        organization=org or cast.org_a,
        matchers=matchers,
        comment=kw.pop("comment", "Replacing disks on the db hosts"),
        **kw,
    )


def _events():
    return [
        event("Disk full", labels={"alertname": "DiskFull", "instance": "db-07:9100"}),
        event("Disk full", labels={"alertname": "DiskFull", "instance": "web-01:9100"}),
        event("CPU high", resource={"host.name": "db-07"}, labels={"alertname": "CPU"}),
        event("Pod crash", resource={"k8s.namespace.name": "payments"}),
    ]


def test_matching_events_are_suppressed_with_the_silence_named(cast):
    s = _silence(cast, [{"name": "instance", "op": "=~", "value": "db-.*"}])
    done = pipeline.run(batch(cast.org_a, _events()), only=("silence",))
    assert [i.suppressed_by for i in done.items] == [
        f"silence #{s.pk}: Replacing disks on the db hosts",
        "",
        "",
        "",
    ]
    s.refresh_from_db()
    assert s.matched_count == 1


def test_resource_attributes_match_too_and_counts_add_up(cast):
    s = _silence(
        cast,
        [
            {"name": "host.name", "op": "=", "value": "db-07"},
            {"name": "alertname", "op": "!=", "value": "DiskFull"},
        ],
    )
    ns = _silence(cast, [{"name": "k8s.namespace.name", "op": "=", "value": "payments"}])
    for _ in range(2):
        done = pipeline.run(batch(cast.org_a, _events()), only=("silence",))
    assert [bool(i.suppressed_by) for i in done.items] == [False, False, True, True]
    assert done.items[3].suppressed_by.startswith(f"silence #{ns.pk}:")
    assert Silence.objects.get(pk=s.pk).matched_count == 2
    assert Silence.objects.get(pk=ns.pk).matched_count == 2


def test_only_active_silences_of_the_organisation_apply(cast):
    now = timezone.now()
    _silence(cast, [{"name": "alertname", "op": "=", "value": "DiskFull"}], org=cast.org_b)
    later = _silence(
        cast,
        [{"name": "alertname", "op": "=", "value": "DiskFull"}],
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )
    gone = _silence(cast, [{"name": "alertname", "op": "=", "value": "CPU"}])
    expire_silence(acting_user=cast.agent, silence=gone)
    done = pipeline.run(batch(cast.org_a, _events(), now=now), only=("silence",))
    assert not any(i.suppressed_by for i in done.items)
    # Events received while the pending silence is active are muted by it.
    events = _events()
    for e in events:
        e.received_at = now + timedelta(minutes=90)
    done = pipeline.run(batch(cast.org_a, events, now=now), only=("silence",))
    assert [bool(i.suppressed_by) for i in done.items] == [True, True, False, False]
    assert done.items[0].suppressed_by.startswith(f"silence #{later.pk}:")


def test_long_comments_are_cut_in_the_reason(cast):
    _silence(cast, [{"name": "alertname", "op": "=", "value": "CPU"}], comment="x " * 400)
    done = pipeline.run(batch(cast.org_a, _events()), only=("silence",))
    assert len(done.items[2].suppressed_by) < 230


def test_one_query_for_the_silences_whatever_the_batch(cast, django_assert_max_num_queries):
    _silence(cast, [{"name": "instance", "op": "=~", "value": "db-.*"}])
    big = batch(cast.org_a, _events() * 200)
    with django_assert_max_num_queries(2):
        pipeline.run(big, only=("silence",))
    assert sum(bool(i.suppressed_by) for i in big.items) == 200
