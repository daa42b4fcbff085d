"""Stage ``maintenance`` on its own (after dedup and bind): windows and changes in Implement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes.models import Change
from opsdesk.changes.tests.factories import change, topology
from opsdesk.changes.window_actions import create_window
from opsdesk.cmdb.models import CIIdentifier
from opsdesk.events import pipeline
from opsdesk.events.models import Alert, AlertEvent
from opsdesk.events.stages.maintenance import services_above
from opsdesk.events.tests.helpers import batch, event

pytestmark = pytest.mark.django_db
STAGES = ("silence", "dedup", "bind", "maintenance")


@pytest.fixture
def cis(cast):
    found = topology(cast.org_a)
    # Bind by host name: the factories save CIs without identifier rows.
    for ci in found.values():
        CIIdentifier.objects.create(
            organization=cast.org_a, ci=ci, kind=f"name:{ci.ci_class.key}", value=ci.name.lower()
        )
    return found


def _window(cast, name="Sunday patching", services=(), start=None, hours=4):
    start = start or timezone.now() - timedelta(hours=1)
    return create_window(
        acting_user=cast.manager,
        organization=cast.org_a,
        kind="maintenance",
        name=name,
        starts_at=start,
        ends_at=start + timedelta(hours=hours),
        services=list(services),
    )


def _on(host, **kw):
    return event(f"CPU high on {host}", resource={"host.name": host}, **kw)


def _run(cast, *events):
    return pipeline.run(batch(cast.org_a, list(events)), only=STAGES)


def test_an_organisation_wide_window_suppresses_everything_in_it(cast, cis):
    _window(cast)
    done = _run(cast, _on("db-srv-01"), _on("unknown-host"))
    assert all(
        i.suppressed_by.startswith("maintenance window 'Sunday patching' (") for i in done.items
    )
    assert Alert.objects.filter(suppressed_by__startswith="maintenance window").count() == 2
    row = AlertEvent.objects.filter(kind="suppressed").first()
    assert row.count == 1 and row.note.startswith("maintenance window")


def test_a_window_of_a_service_covers_the_cis_it_rests_on(cast, cis):
    _window(cast, "Banking upgrade", services=[cis["banking"]])
    done = _run(cast, _on("db-srv-01"), _on("app-srv-01"), _on("mail-srv-01"), _on("ghost"))
    assert [bool(i.suppressed_by) for i in done.items] == [True, True, False, False]
    assert "Banking upgrade" in done.items[0].suppressed_by


def test_windows_outside_the_event_time_do_not_apply(cast, cis):
    _window(cast, start=timezone.now() + timedelta(hours=2))
    _window(cast, "Last week", start=timezone.now() - timedelta(days=7))
    done = _run(cast, _on("db-srv-01"))
    assert not done.items[0].suppressed_by
    # An event that says it started inside the window is covered, though processed later.
    past = timezone.now() - timedelta(days=7) + timedelta(hours=1)
    done = _run(cast, _on("app-srv-01", starts_at=past))
    assert done.items[0].suppressed_by.startswith("maintenance window 'Last week'")


def test_a_change_being_implemented_suppresses_its_cis(cast, cis):
    work = change(cast, cis=[cis["db_srv"]])
    done = _run(cast, _on("db-srv-01"))
    assert not done.items[0].suppressed_by  # not implementing yet
    Change._base_manager.filter(pk=work.pk).update(state="implement")
    done = _run(cast, _on("db-srv-01"), _on("app-srv-01"))
    assert done.items[0].suppressed_by == f"change {work.number} is being implemented on db-srv-01"
    assert not done.items[1].suppressed_by
    # Once the change is over the next firing event counts again, and correlation sees it.
    Change._base_manager.filter(pk=work.pk).update(state="review")
    done = _run(cast, _on("db-srv-01"))
    assert not done.items[0].suppressed_by and done.items[0].status_changed
    alert = Alert.objects.get(pk=done.items[0].alert.pk)
    assert alert.suppressed_by == ""
    assert (
        AlertEvent.objects.filter(alert=alert, kind="fired").last().note == "no longer suppressed"
    )


def test_a_silenced_event_keeps_the_silence_as_its_reason(cast, cis):
    from opsdesk.events.silences import create_silence

    _window(cast)
    s = create_silence(
        acting_user=cast.agent,
        organization=cast.org_a,
        matchers=[{"name": "host.name", "op": "=", "value": "db-srv-01"}],
        ends_at=timezone.now() + timedelta(hours=1),
        comment="db work",
    )
    done = _run(cast, _on("db-srv-01"))
    assert done.items[0].suppressed_by == f"silence #{s.pk}: db work"
    assert Alert.objects.get().suppressed_by == f"silence #{s.pk}: db work"


def test_services_above_walks_from_every_ci_at_once(cast, cis):
    found = services_above(cast.org_a.pk, {cis["db_srv"].pk, cis["mail_srv"].pk, cis["email"].pk})
    assert found[cis["db_srv"].pk] == {cis["banking"].pk}
    assert found[cis["mail_srv"].pk] == {cis["email"].pk}
    assert found[cis["email"].pk] == {cis["email"].pk}


def test_queries_do_not_grow_with_the_batch(cast, cis, django_assert_max_num_queries):
    _window(cast, "Banking upgrade", services=[cis["banking"]])
    hosts = ["db-srv-01", "app-srv-01", "mail-srv-01", "ghost"]
    done = pipeline.run(batch(cast.org_a, [_on(hosts[n % 4]) for n in range(400)]), only=STAGES[:3])
    with django_assert_max_num_queries(16):
        pipeline.run(done, only=("maintenance",))
    assert sum(bool(i.suppressed_by) for i in done.items) == 200
