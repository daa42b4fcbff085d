"""MTTD / MTTA / MTTR, compression, noise and grouping feedback, with numbers worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsdesk.changes.models import Change
from opsdesk.changes.tests.factories import change, topology
from opsdesk.events import pipeline
from opsdesk.events.group_actions import merge_groups, split_group
from opsdesk.events.metrics import event_metrics, grouping_feedback, stats
from opsdesk.events.models import AlertEvent, AlertGroup
from opsdesk.events.tests.group_helpers import alert, batch_for, group
from opsdesk.servicedesk.models import Incident

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # 1 November 00:30 in Berlin
START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def _opened(org, g: AlertGroup, opened, assigned=None, resolved=None) -> Incident:
    pipeline.run(batch_for(org, opened=(g,)), only=("incident",))
    g.refresh_from_db()
    Incident._base_manager.filter(pk=g.incident_id).update(
        opened_at=opened,
        first_assigned_at=assigned,
        resolved_at=resolved,
        state="resolved" if resolved else "new",
    )
    return g.incident


@pytest.fixture
def scene(cast):
    org = cast.org_a
    org.time_zone = "Europe/Berlin"
    org.save()
    cis = topology(org)
    # 1: banking, detected in 2 min, acknowledged 5 min later, resolved an hour after onset.
    g1 = group(org, {"severity": "critical", "count": 4}, {}, service=cis["banking"], at=T0)
    _opened(
        org,
        g1,
        T0 + timedelta(seconds=120),
        T0 + timedelta(seconds=420),
        T0 + timedelta(seconds=3600),
    )
    # 2: email, a day later; the change that caused it started 10 min before the first event.
    t2 = T0 + timedelta(days=1)
    g2 = group(org, {"severity": "major"}, service=cis["email"], at=t2)
    bad = change(cast, title="Mail relay config")
    Change._base_manager.filter(pk=bad.pk).update(actual_start=t2 - timedelta(seconds=600))
    AlertGroup.objects.filter(pk=g2.pk).update(cause_change=bad)
    _opened(org, g2, t2 + timedelta(seconds=60))
    # 3: info only: no incident.
    group(org, {"severity": "info"}, service=cis["banking"], at=T0 + timedelta(hours=2))
    # 4: merged into 1 by an operator: not counted as a group of its own.
    g4 = group(org, {"severity": "minor"}, service=cis["banking"], at=T0 + timedelta(minutes=3))
    merge_groups(acting_user=cast.agent, target=g1, others=[g4])
    # Outside the period.
    group(org, {"severity": "critical"}, at=END + timedelta(days=1))
    return {"org": org, "cis": cis, "g1": g1, "g2": g2}


def test_stats_nearest_rank():
    assert stats([]) == {"count": 0, "mean": None, "median": None, "p90": None}
    assert stats([10.0] * 9 + [1000.0]) == {"count": 10, "mean": 109.0, "median": 10.0, "p90": 10.0}
    assert stats([1.0, 2.0, 3.0])["p90"] == 3.0


def test_mttd_mtta_mttr_from_the_onset(scene):
    m = event_metrics(scene["org"].pk, START, END)
    total = m["total"]
    assert total["groups"] == 3 and total["incidents"] == 2
    # MTTD: 120 s; and 60 s after the first event + 600 s since the change began = 660 s.
    assert total["mttd"] == {"count": 2, "mean": 390.0, "median": 390.0, "p90": 660.0}
    assert total["mtta"] == {"count": 1, "mean": 300.0, "median": 300.0, "p90": 300.0, "open": 1}
    assert total["mttr"] == {
        "count": 1,
        "mean": 3600.0,
        "median": 3600.0,
        "p90": 3600.0,
        "open": 1,
    }
    assert m["onsets_from_changes"] == 1


def test_per_service_and_month_in_the_organisations_time_zone(scene):
    m = event_metrics(scene["org"].pk, START, END)
    services = {row["service"]: row for row in m["by_service"]}
    assert set(services) == {"Online Banking", "Email"}
    assert services["Online Banking"]["groups"] == 2  # g1 (with g4's alerts) and the info one
    assert services["Online Banking"]["mttd"]["median"] == 120.0
    assert services["Email"]["mttd"]["median"] == 660.0
    assert [row["month"] for row in m["by_month"]] == ["2026-11"]  # 23:30 UTC = 00:30 Berlin
    only_email = event_metrics(scene["org"].pk, START, END, service_id=scene["cis"]["email"].pk)
    assert only_email["total"]["incidents"] == 1
    assert only_email["total"]["mttd"]["median"] == 660.0


def test_compression(scene):
    total = event_metrics(scene["org"].pk, START, END)["total"]
    # g1: 3 alerts (one counted 4 times) = 6 events; g2: 1; info group: 1.
    assert (total["alerts"], total["events"]) == (5, 8)
    assert total["alerts_per_incident"] == 2.0  # 4 alerts of g1 and g2 over 2 incidents
    assert total["events_per_group"] == round(8 / 3, 2)


def test_noise(cast, scene):
    org = scene["org"]
    at = T0 + timedelta(hours=5)
    quiet = alert(org, "Silenced disk alert", status="firing", at=at, count=1)
    AlertEvent.objects.filter(alert=quiet).update(kind="suppressed", count=5)
    flappy = alert(org, "Flappy link", at=at)
    for kind in ("resolved", "fired", "flapping"):
        AlertEvent.objects.create(
            organization=org, alert=flappy, at=at, status="firing", severity="major", kind=kind
        )
    n = event_metrics(org.pk, START, END)["noise"]
    # Events: g1 5 + g4 1 + g2 1 + info 1 + suppressed 5 + flappy 3 (fired, resolved,
    # fired; "flapping" marks a state, not an event) = 16.
    assert n["suppressed_events"] == 5 and n["suppressed_alerts"] == 1
    assert n["flapping_alerts"] == 1 and n["flapping_events"] == 3
    assert n["events"] == 16
    assert n["noise_ratio"] == 0.5


def test_grouping_feedback_counts_merges_and_splits(cast, scene):
    g2 = scene["g2"]
    alert(scene["org"], "second", group=g2)
    split_group(acting_user=cast.agent, group=g2, alerts=[g2.alerts.order_by("id").last()])
    from django.utils import timezone

    now = timezone.now()
    fb = grouping_feedback(scene["org"].pk, now - timedelta(hours=1), now + timedelta(hours=1))
    assert (fb["merges"], fb["splits"], fb["corrections"]) == (1, 1, 2)
    # Groups opened by the pipeline in the hour (the five of the scene; not the split one).
    assert fb["groups"] == 5 and fb["correction_rate"] == 0.4


def test_other_organisation_sees_none_of_it(cast, scene):
    assert event_metrics(cast.org_b.pk, START, END)["total"]["groups"] == 0
