"""Stage ``dedup`` on its own: fingerprints, folding, transitions, out-of-order events,
history rows; and the volatile-token normalisation behind the computed fingerprints."""

from __future__ import annotations

import ipaddress
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.events import pipeline
from opsdesk.events.choices import GroupState
from opsdesk.events.models import Alert, AlertEvent, AlertGroup
from opsdesk.events.normalise import computed_fingerprint, fingerprint, normalise_text
from opsdesk.events.tests.helpers import batch, event

# --- normalise (no database) -----------------------------------------------------------------

TEMPLATE = (
    "Request {id} (container {hex}) from {ip4} via {ip6} failed {n} times in {d} at {ts} "
    "(owner {mail}, {url})"
)


def _message(
    ident: str, hexid: str, ip4: str, ip6: str, n: int, d: str, ts: str, mail: str, query: str
) -> str:
    return TEMPLATE.format(
        id=ident,
        hex=hexid,
        ip4=ip4,
        ip6=ip6,
        n=n,
        d=d,
        ts=ts,
        mail=mail,
        url=f"https://api.example.com/v1/x?{query}",
    )


ids = st.uuids().map(str)
hexids = st.integers(0, 16**12).map(lambda i: f"a{i:x}9".rjust(12, "0"))
ip4s = st.integers(0, 2**32 - 1).map(lambda i: str(ipaddress.IPv4Address(i)))
ip6s = st.integers(2**16, 2**128 - 1).map(lambda i: str(ipaddress.IPv6Address(i)))
durations = st.tuples(st.integers(1, 999), st.sampled_from(["ms", "s", "m", "h", "min"])).map(
    lambda t: f"{t[0]}{t[1]}"
)
stamps = st.datetimes(
    min_value=timezone.datetime(2000, 1, 1), max_value=timezone.datetime(2099, 1, 1)
).map(lambda d: d.isoformat(timespec="seconds") + "Z")
mails = st.from_regex(r"[a-z]{1,8}\.[a-z]{1,8}@[a-z]{2,8}\.(com|org|io)", fullmatch=True)
queries = st.from_regex(r"[a-z]{1,5}=[a-z0-9]{1,8}(&[a-z]{1,5}=[a-z0-9]{1,8}){0,3}", fullmatch=True)
parts = st.tuples(ids, hexids, ip4s, ip6s, st.integers(0, 10**9), durations, stamps, mails, queries)


@settings(max_examples=200, deadline=None)
@given(a=parts, b=parts)
def test_the_same_message_with_other_volatile_tokens_normalises_alike(a, b):
    assert normalise_text(_message(*a)) == normalise_text(_message(*b))
    ea = event(_message(*a), resource={"host.name": "web-01"})
    eb = event(_message(*b), resource={"host.name": "web-01"})
    assert computed_fingerprint(ea) == computed_fingerprint(eb)


@settings(max_examples=100, deadline=None)
@given(
    a=parts,
    hosts=st.lists(
        st.from_regex(r"[a-z]{2,6}-[0-9]{2}", fullmatch=True), min_size=2, max_size=2, unique=True
    ),
)
def test_different_resources_give_different_fingerprints(a, hosts):
    text = _message(*a)
    one = event(text, resource={"host.name": hosts[0]})
    two = event(text, resource={"host.name": hosts[1]})
    assert computed_fingerprint(one) != computed_fingerprint(two)
    # In the text only (no resource attributes), a host name is not a volatile token either.
    assert computed_fingerprint(event(f"Disk full on {hosts[0]}")) != computed_fingerprint(
        event(f"Disk full on {hosts[1]}")
    )


def test_placeholders():
    text = (
        "Pod 5f0c6c1e-1234-4abc-8def-0123456789ab on 10.0.4.17:9100 and fe80::1ff:fe23:4567:890a "
        "took 5.2s (status 503) at 2026-03-01T10:00:00Z, sha 3f4e5d6c7b8a, 0xdeadbeef, "
        "ops@example.com https://x.io/a?b=1"
    )
    assert normalise_text(text) == (
        "Pod <uuid> on <ip> and <ip> took <duration> (status <num>) at <time>, sha <hex>, <hex>, "
        "<email> https://x.io/a?<query>"
    )
    assert normalise_text("CPU high on web-01 (95%)") == "CPU high on web-01 (<num>%)"


def test_source_fingerprint_wins_and_long_ones_are_hashed():
    assert fingerprint(event(fingerprint="abc123")) == "abc123"
    long = "/subscriptions/" + "x" * 200
    assert len(fingerprint(event(fingerprint=long))) == 64
    assert fingerprint(event(fingerprint=long)) == fingerprint(event(fingerprint=long))
    # Labels that identify the target count; the others (severity, summary) do not.
    assert computed_fingerprint(event(labels={"instance": "a:9100"})) != computed_fingerprint(
        event(labels={"instance": "b:9100"})
    )
    assert computed_fingerprint(event(labels={"summary": "x"})) == computed_fingerprint(
        event(labels={"summary": "y"})
    )


# --- the stage -------------------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db


def _run(org, events, **kw):
    return pipeline.run(batch(org, events, **kw), only=("dedup",))


def _history(alert):
    return list(AlertEvent.objects.filter(alert=alert).values_list("kind", "count"))


@pytestmark_db
def test_duplicates_fold_into_one_alert_with_counts(cast):
    t0 = timezone.now() - timedelta(minutes=5)
    events = [
        event(
            f"Request {uuid.uuid4()} failed on web-01",
            starts_at=t0,
            received_at=t0 + timedelta(seconds=i),
        )
        for i in range(5)
    ]
    done = _run(cast.org_a, events)
    alert = Alert.objects.get()
    assert alert.count == 5
    assert alert.first_seen == t0 and alert.last_seen == t0 + timedelta(seconds=4)
    assert alert.normalised_text == "Request <uuid> failed on web-01"
    assert [i.created for i in done.items] == [True, False, False, False, False]
    assert [i.status_changed for i in done.items] == [True, False, False, False, False]
    assert {i.alert.pk for i in done.items} == {alert.pk}
    assert _history(alert) == [("fired", 1), ("repeated", 4)]
    # A second batch folds into the same row.
    _run(cast.org_a, [event(f"Request {uuid.uuid4()} failed on web-01", starts_at=t0)])
    alert.refresh_from_db()
    assert (Alert.objects.count(), alert.count) == (1, 6)


@pytestmark_db
def test_each_organisation_has_its_own_alerts(cast):
    _run(cast.org_a, [event(fingerprint="same")])
    _run(cast.org_b, [event(fingerprint="same")])
    assert Alert.objects.filter(fingerprint="same").count() == 2


@pytestmark_db
def test_transitions_resolve_and_fire_again(cast):
    t0 = timezone.now() - timedelta(hours=1)
    _run(cast.org_a, [event(fingerprint="f", starts_at=t0)])
    done = _run(
        cast.org_a,
        [
            event(
                fingerprint="f",
                status="resolved",
                ends_at=t0 + timedelta(minutes=5),
                severity="minor",
            )
        ],
    )
    assert done.items[0].status_changed
    alert = Alert.objects.get()
    assert (alert.status, alert.transitions, alert.ends_at) == (
        "resolved",
        1,
        t0 + timedelta(minutes=5),
    )
    assert alert.severity == "minor"
    done = _run(cast.org_a, [event(fingerprint="f", starts_at=t0 + timedelta(minutes=10))])
    assert done.items[0].status_changed and not done.items[0].created
    alert.refresh_from_db()
    assert (alert.status, alert.transitions, alert.ends_at) == ("firing", 2, None)
    assert alert.starts_at == t0 + timedelta(minutes=10)
    assert _history(alert) == [("fired", 1), ("resolved", 1), ("fired", 1)]


@pytestmark_db
def test_out_of_order_events_do_not_overwrite_newer_state(cast):
    t0 = timezone.now() - timedelta(hours=1)
    # The resolution arrives first, then the (older) firing event it ends.
    _run(cast.org_a, [event(fingerprint="f", starts_at=t0)])
    _run(cast.org_a, [event(fingerprint="f", status="resolved", ends_at=t0 + timedelta(minutes=5))])
    done = _run(cast.org_a, [event(fingerprint="f", starts_at=t0, description="late re-send")])
    assert not done.items[0].status_changed
    alert = Alert.objects.get()
    assert alert.status == "resolved"
    assert alert.description == ""
    assert alert.count == 3
    assert AlertEvent.objects.filter(alert=alert, kind="repeated").get().note.startswith("1 older")
    # A late resolution of an earlier episode does not resolve the current one.
    _run(cast.org_a, [event(fingerprint="f", starts_at=t0 + timedelta(minutes=20))])
    done = _run(
        cast.org_a, [event(fingerprint="f", status="resolved", ends_at=t0 + timedelta(minutes=5))]
    )
    assert not done.items[0].status_changed
    alert.refresh_from_db()
    assert alert.status == "firing"


@pytestmark_db
def test_out_of_order_within_one_batch_is_folded_oldest_first(cast):
    t0 = timezone.now() - timedelta(hours=1)
    resolved = event(fingerprint="f", status="resolved", ends_at=t0 + timedelta(minutes=5))
    firing = event(fingerprint="f", starts_at=t0)
    done = _run(cast.org_a, [resolved, firing])
    alert = Alert.objects.get()
    assert (alert.status, alert.transitions, alert.starts_at) == ("resolved", 1, t0)
    # Both items carry the alert; the firing one created it, the resolution changed it.
    assert [i.created for i in done.items] == [False, True]
    assert [i.status_changed for i in done.items] == [True, True]


@pytestmark_db
def test_a_firing_alert_of_a_resolved_group_is_shown_to_correlation(cast):
    now = timezone.now()
    _run(cast.org_a, [event(fingerprint="f", starts_at=now - timedelta(minutes=30))])
    alert = Alert.objects.get()
    group = AlertGroup.objects.create(
        organization=cast.org_a,
        title="g",
        state=GroupState.RESOLVED,
        onset_at=now,
        last_event_at=now,
    )
    Alert.objects.filter(pk=alert.pk).update(group=group)
    done = _run(cast.org_a, [event(fingerprint="f", starts_at=now - timedelta(minutes=30))] * 2)
    assert [i.status_changed for i in done.items] == [True, False]
    assert AlertEvent.objects.filter(alert=alert, kind="fired").last().group_id == group.pk
    # An open group: a repeat is only a repeat.
    AlertGroup.objects.filter(pk=group.pk).update(state=GroupState.OPEN)
    done = _run(cast.org_a, [event(fingerprint="f", starts_at=now - timedelta(minutes=30))])
    assert not done.items[0].status_changed


@pytestmark_db
def test_suppressed_events_are_stored_counted_and_noted(cast):
    muted = event(fingerprint="f")
    b = batch(cast.org_a, [muted, event(fingerprint="f")])
    b.items[0].suppressed_by = b.items[1].suppressed_by = "silence #1: db work"
    pipeline.run(b, only=("dedup",))
    alert = Alert.objects.get()
    assert alert.suppressed_by == "silence #1: db work"
    assert _history(alert) == [("fired", 1), ("suppressed", 1)]
    assert AlertEvent.objects.get(kind="suppressed").note == "silence #1: db work"
    # The next unsuppressed event of the still-firing alert is news for correlation.
    done = _run(cast.org_a, [event(fingerprint="f")])
    assert done.items[0].status_changed
    alert.refresh_from_db()
    assert alert.suppressed_by == ""


@pytestmark_db
def test_new_alert_first_seen_resolved_does_not_count_as_a_fire(cast):
    done = _run(cast.org_a, [event(fingerprint="r", status="resolved")])
    assert done.items[0].created and not done.items[0].status_changed
    assert Alert.objects.get().status == "resolved"


@pytestmark_db
def test_query_count_does_not_grow_with_the_batch(cast, django_assert_max_num_queries):
    events = [
        event(f"Error {i % 7} on host-{i % 20:02d}", resource={"host.name": f"h{i % 20}"})
        for i in range(300)
    ]
    _run(cast.org_a, events[:50])
    with django_assert_max_num_queries(8):
        _run(cast.org_a, events)
    assert Alert.objects.count() == 20
    assert sum(Alert.objects.values_list("count", flat=True)) == 350
