"""The correlation state kept between batches (`opsdesk.events.correlation.state`): the same
decisions and group columns as a cold read, and never trusted once something outside the
pipeline changed a group or the CMDB, or after a batch that rolled back."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from opsdesk.cmdb.models import Relationship
from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.core.models import Organization
from opsdesk.events import inbox
from opsdesk.events.choices import GroupState, Method
from opsdesk.events.correlation import scenarios
from opsdesk.events.correlation import state as kept
from opsdesk.events.correlation import text as textmod
from opsdesk.events.correlation.topology import Neighbourhood
from opsdesk.events.group_actions import merge_groups, resolve_group, split_group
from opsdesk.events.models import Alert, AlertGroup, CorrelationDecision
from opsdesk.events.stages import correlate as stage
from opsdesk.events.stages.incident import resolve_quiet_groups
from opsdesk.events.tests.correlation_fixtures import alert_batch, correlate

pytestmark = pytest.mark.django_db

GROUP_COLUMNS = (
    "number",
    "title",
    "state",
    "severity",
    "key",
    "method",
    "service__name",
    "onset_at",
    "last_event_at",
    "alert_count",
    "event_count",
    "firing_count",
)


@pytest.fixture(autouse=True)
def _fresh():
    textmod.forget()
    kept.forget()
    yield
    textmod.forget()
    kept.forget()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a stage (or anything) and its on-commit hooks, as a committed batch would."""

    def run(fn, *args):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args)

    return run


@pytest.fixture
def loads(monkeypatch):
    """The ids of the groups read from the database (not taken from the kept state)."""
    read: list[int] = []
    real = stage._read

    def spy(state, pks, group_by):
        read.extend(pks)
        real(state, pks, group_by)

    monkeypatch.setattr(stage, "_read", spy)
    return read


@pytest.fixture
def shop(cast):
    """db-07 <- app-02 <- web-03, web-04 (both on app-02); mail-srv unrelated."""
    org = cast.org_a
    cis = {
        "web": ci(org, "web-03", "application"),
        "web2": ci(org, "web-04", "application"),
        "app": ci(org, "app-02", "application"),
        "db": ci(org, "db-07", "database"),
        "mail": ci(org, "mail-srv", "server"),
        "relay": ci(org, "relay-01", "server"),
    }
    relate(cis["web"], "depends_on", cis["app"])
    relate(cis["web2"], "depends_on", cis["app"])
    relate(cis["app"], "runs_on", cis["db"])
    return cis


def _group_of(title: str) -> AlertGroup:
    return Alert.objects.select_related("group").get(title=title).group


def test_the_state_is_kept_after_a_commit_and_reused(cast, shop, committed, loads):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    group = _group_of("db down")
    state = kept.peek(org.pk)
    assert state is not None and set(state.groups) == {group.pk}
    assert state.groups[group.pk].version == AlertGroup.objects.get(pk=group.pk).updated_at
    loads.clear()
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 20}]))
    assert _group_of("app errors") == group
    assert loads == []  # the group came from the kept state
    group.refresh_from_db()
    assert (group.alert_count, group.method) == (2, Method.TOPOLOGY)


def test_a_batch_that_rolls_back_leaves_no_state(cast, shop, committed, loads):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    group = _group_of("db down")

    batch = alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 20}])

    def failing() -> None:
        with transaction.atomic():
            correlate(batch)
            assert kept.peek(org.pk) is None  # taken out for the batch
            raise RuntimeError("a later stage failed")

    with pytest.raises(RuntimeError):
        committed(failing)
    assert kept.peek(org.pk) is None
    assert Alert.objects.get(title="app errors").group_id is None
    # The retry reads the group again and sees only what was committed.
    loads.clear()
    committed(correlate, alert_batch(org, [{"title": "web slow", "ci": shop["web"], "t": 30}]))
    assert loads == [group.pk]
    group.refresh_from_db()
    assert group.alert_count == 2
    assert set(group.alerts.values_list("title", flat=True)) == {"db down", "web slow"}


def test_an_operator_merge_is_seen_by_the_next_batch(cast, shop, committed, loads):
    org = cast.org_a
    committed(
        correlate,
        alert_batch(
            org,
            [
                {"title": "db down", "ci": shop["db"], "t": 0},
                {"title": "mail queue", "ci": shop["mail"], "t": 5},
            ],
        ),
    )
    target, other = _group_of("db down"), _group_of("mail queue")
    assert target != other
    merge_groups(acting_user=cast.agent, target=target, others=[other])
    loads.clear()
    # A repeat of the moved alert touches the target: its columns count both alerts.
    committed(
        correlate,
        alert_batch(
            org, [{"title": "mail queue", "ci": shop["mail"], "t": 5, "severity": "critical"}]
        ),
    )
    assert target.pk in loads
    target.refresh_from_db()
    assert (target.alert_count, target.severity) == (2, "critical")
    state = kept.peek(org.pk)
    assert set(state.groups[target.pk].rows) == set(target.alerts.values_list("pk", flat=True))


def test_an_operator_split_is_seen_by_the_next_batch(cast, shop, committed, loads):
    org = cast.org_a
    committed(
        correlate,
        alert_batch(
            org,
            [
                {"title": "db down", "ci": shop["db"], "t": 0},
                {"title": "app errors", "ci": shop["app"], "t": 10},
            ],
        ),
    )
    group = _group_of("db down")
    assert _group_of("app errors") == group
    split_group(acting_user=cast.agent, group=group, alerts=[Alert.objects.get(title="app errors")])
    loads.clear()
    committed(
        correlate,
        alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0, "severity": "minor"}]),
    )
    assert group.pk in loads
    group.refresh_from_db()
    assert (group.alert_count, group.title, group.severity) == (1, "db down", "minor")


def test_a_group_resolved_outside_the_pipeline_is_not_joined(cast, shop, committed):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    first = _group_of("db down")
    resolve_group(acting_user=cast.agent, group=first)
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 20}]))
    assert _group_of("app errors") != first
    assert first.pk not in kept.peek(org.pk).groups


def test_a_group_the_incident_stage_resolves_is_not_joined(cast, shop, committed):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    committed(
        correlate,
        alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0, "status": "resolved"}]),
    )
    first = _group_of("db down")
    later = AlertGroup.objects.get(pk=first.pk).last_event_at + timedelta(hours=1)
    assert resolve_quiet_groups(organization_id=org.pk, now=later) == 1
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 20}]))
    assert _group_of("app errors") != first
    assert AlertGroup.objects.get(pk=first.pk).state == GroupState.RESOLVED


def test_cmdb_changes_are_seen_by_the_next_batch(cast, shop, committed):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    group = _group_of("db down")
    # relay-01 is unrelated: it opens its own group (and the kept neighbourhood knows it)...
    committed(correlate, alert_batch(org, [{"title": "relay 1", "ci": shop["relay"], "t": 10}]))
    assert _group_of("relay 1") != group
    resolve_group(acting_user=cast.agent, group=_group_of("relay 1"))
    # ...until it is related to the database (a relationship added outside the pipeline).
    relate(shop["relay"], "depends_on", shop["db"])
    committed(correlate, alert_batch(org, [{"title": "relay 2", "ci": shop["relay"], "t": 20}]))
    assert _group_of("relay 2") == group
    # A renamed CI is named by its new name.
    shop["db"].name = "db-07-new"
    shop["db"].save()
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 30}]))
    reason = CorrelationDecision.objects.get(alert__title="app errors").reason
    assert "db-07-new" in reason
    # Deleted: web-04 no longer reaches the group through app-02.
    Relationship.objects.get(source=shop["web2"]).delete()
    committed(correlate, alert_batch(org, [{"title": "web-04 slow", "ci": shop["web2"], "t": 40}]))
    assert _group_of("web-04 slow") != group


def _feed(org: Organization, scenario: scenarios.Scenario, run) -> None:
    for received, events in scenarios.batches(scenario):
        entry = inbox.store(
            organization_id=org.pk, source="generic", events=events, received_at=received
        )
        run(inbox.process_pending, "test", 200, [entry.pk])


def _outcome(org: Organization) -> tuple[list, list]:
    decisions = list(
        CorrelationDecision.objects.filter(organization=org)
        .order_by("pk")
        .values_list("alert__fingerprint", "group__number", "method", "score", "reason")
    )
    groups = list(
        AlertGroup.objects.filter(organization=org).order_by("number").values_list(*GROUP_COLUMNS)
    )
    return decisions, groups


def test_kept_state_decides_exactly_as_a_cold_read(cast, committed):
    """The labelled scenarios through the whole pipeline, once reading every group again
    for every batch, once keeping the state: identical decisions and group columns."""
    outcomes = []
    for n, keep in enumerate((False, True)):
        org = Organization.objects.create(name=f"State {n}", slug=f"state-{n}")
        rng = random.Random(5)
        topo = scenarios.build_topology(org, rng, services=6)
        start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
        scenario = scenarios.generate(topo, rng, start, faults=6, noise=12, flapping=2, hours=1)

        def cold(fn, *args):
            kept.forget()
            return fn(*args)

        _feed(org, scenario, committed if keep else cold)
        outcomes.append(_outcome(org))
    (cold_decisions, cold_groups), (warm_decisions, warm_groups) = outcomes
    assert len(cold_decisions) > 20
    assert any(d[2] == Method.TOPOLOGY for d in cold_decisions)
    assert warm_decisions == cold_decisions
    assert warm_groups == cold_groups


def test_a_neighbourhood_extended_batch_by_batch_answers_as_one_read_at_once(cast):
    """A kept neighbourhood grows with every batch's CIs; every walk from a CI it was
    extended with is the same as in a neighbourhood read for exactly those CIs at once."""
    rng = random.Random(3)
    topo = scenarios.build_topology(cast.org_a, rng, services=6)
    ids = sorted(topo.ids.values())
    rng.shuffle(ids)
    kept_hood = Neighbourhood(cast.org_a.pk, 3)
    for i in range(0, len(ids), 7):
        kept_hood.extend(ids[i : i + 7])
        kept_hood.new_batch()
    for start in ids[:40]:
        fresh = Neighbourhood(cast.org_a.pk, 3)
        fresh.extend([start])
        assert kept_hood.reach(start) == fresh.reach(start)
        assert kept_hood.downstream(start) == fresh.downstream(start)


def test_a_group_changed_while_the_batch_ran_is_not_kept(cast, shop, committed, monkeypatch):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    group = _group_of("db down")
    real = stage._catch_up

    def meanwhile(state, batch, group_by):  # an operator's change commits mid-batch
        real(state, batch, group_by)
        AlertGroup.objects.filter(pk=group.pk).update(updated_at=timezone.now())

    monkeypatch.setattr(stage, "_catch_up", meanwhile)
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 20}]))
    assert _group_of("app errors") == group
    assert group.pk not in kept.peek(org.pk).groups


def test_a_suppressed_repeat_by_another_worker_is_seen_by_one_keeping_the_group(
    cast, shop, committed, loads
):
    """Another worker folds a muted repeat into an alert of the group (its row changes, the
    group's columns do not): the group's version still moves, so the rows kept here are read
    again instead of trusted."""
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    group = _group_of("db down")
    ours = kept.checkout(org.pk)  # this worker's state, aside while the other one works
    assert ours is not None
    muted = {"title": "db down", "ci": shop["db"], "t": 30, "severity": "critical"}
    committed(correlate, alert_batch(org, [{**muted, "suppressed": "silence: db maintenance"}]))
    assert kept.peek(org.pk) is not None  # the other worker keeps its own
    kept.forget([org.pk])
    committed(kept.keep, ours)
    loads.clear()
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 40}]))
    assert group.pk in loads
    alert = Alert.objects.get(title="db down")
    assert kept.peek(org.pk).groups[group.pk].rows[alert.pk].severity == "critical"
    assert _group_of("app errors") == group


def test_a_suppressed_repeat_keeps_this_workers_rows_when_nobody_else_changed_the_group(
    cast, shop, committed, loads
):
    org = cast.org_a
    committed(correlate, alert_batch(org, [{"title": "db down", "ci": shop["db"], "t": 0}]))
    group = _group_of("db down")
    committed(
        correlate,
        alert_batch(
            org,
            [
                {"title": "db down", "ci": shop["db"], "t": 30, "suppressed": "silence: x"},
                {"title": "web slow", "ci": shop["web"], "t": 35},
            ],
        ),
    )
    loads.clear()
    committed(correlate, alert_batch(org, [{"title": "app errors", "ci": shop["app"], "t": 40}]))
    assert loads == []
    assert (
        kept.peek(org.pk).groups[group.pk].version == AlertGroup.objects.get(pk=group.pk).updated_at
    )
