"""The correlate stage on its own: topology, group-by, text, new groups, group columns."""

from __future__ import annotations

import pytest

from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.events.choices import GroupState, Method
from opsdesk.events.correlation import text as textmod
from opsdesk.events.correlation.topology import Neighbourhood
from opsdesk.events.models import Alert, AlertGroup, CorrelationDecision
from opsdesk.events.stages.correlate import PROPAGATION
from opsdesk.events.tests.correlation_fixtures import alert_batch, correlate

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_miners():
    textmod.forget()
    yield
    textmod.forget()


@pytest.fixture
def shop(cast):
    """Shop (tier 1) depends on web-03, which depends on app-02, which runs on db-07;
    Payroll (tier 3) depends on pay-app on pay-srv; Mail on mail-srv shares nothing."""
    org = cast.org_a
    cis = {
        "shop": ci(org, "Shop", "business_service", criticality=1),
        "web": ci(org, "web-03", "application"),
        "app": ci(org, "app-02", "application"),
        "db": ci(org, "db-07", "database"),
        "web2": ci(org, "web-04", "application"),
        "payroll": ci(org, "Payroll", "business_service", criticality=3),
        "pay": ci(org, "pay-app", "application"),
        "pay_srv": ci(org, "pay-srv", "server"),
        "mail": ci(org, "mail-srv", "server"),
        "backup": ci(org, "backup-01", "server"),
    }
    relate(cis["shop"], "depends_on", cis["web"])
    relate(cis["shop"], "depends_on", cis["web2"])
    relate(cis["web"], "depends_on", cis["app"])
    relate(cis["web2"], "depends_on", cis["app"])
    relate(cis["app"], "runs_on", cis["db"])
    relate(cis["payroll"], "depends_on", cis["pay"])
    relate(cis["pay"], "runs_on", cis["pay_srv"])
    relate(cis["backup"], "backs_up", cis["db"])
    return cis


def groups_of(*titles: str) -> list[int | None]:
    found = dict(Alert.objects.values_list("title", "group_id"))
    return [found[t] for t in titles]


def test_a_cascade_becomes_one_group_by_topology_with_reasons(cast, shop):
    batch = alert_batch(
        cast.org_a,
        [
            {"title": "db-07 down", "ci": shop["db"], "t": 0, "severity": "critical"},
            {"title": "app-02 errors", "ci": shop["app"], "t": 20},
            {"title": "web-03 slow", "ci": shop["web"], "t": 40, "severity": "warning"},
        ],
    )
    correlate(batch)
    db, app, web = groups_of("db-07 down", "app-02 errors", "web-03 slow")
    assert db == app == web is not None
    group = AlertGroup.objects.get(pk=db)
    assert batch.groups_opened == {group.pk} == batch.groups_touched
    assert (group.alert_count, group.firing_count, group.severity) == (3, 3, "critical")
    assert group.title == "db-07 down"
    assert group.service_id == shop["shop"].pk
    assert group.method == Method.TOPOLOGY
    assert group.number.startswith("ALG")
    reasons = {d.alert.title: d for d in CorrelationDecision.objects.select_related("alert")}
    assert reasons["db-07 down"].method == Method.NEW
    assert reasons["web-03 slow"].method == Method.TOPOLOGY
    assert reasons["web-03 slow"].reason == (
        "web-03 is 1 hop from app-02 (web-03 depends on app-02); db-07 is common ground "
        "(the CI or a dependency) of 2 of the group's 2 CIs and of it."
    )
    assert reasons["app-02 errors"].reason == "app-02 is 1 hop from db-07 (app-02 runs on db-07)."


def test_two_hops_reason_reads_along_the_dependencies(cast, shop):
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "db-07 down", "ci": shop["db"], "t": 0},
                {"title": "web-03 slow", "ci": shop["web"], "t": 40},
            ],
        )
    )
    decision = CorrelationDecision.objects.get(alert__title="web-03 slow")
    assert (
        decision.reason == "web-03 is 2 hops from db-07 (web-03 depends on app-02 runs on db-07)."
    )
    assert decision.score == pytest.approx(0.5)


def test_siblings_on_a_common_dependency_join_but_not_through_a_common_dependent(cast, shop):
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "web-03 slow", "ci": shop["web"], "t": 0},
                {"title": "web-04 slow", "ci": shop["web2"], "t": 10},
                {"title": "pay-app down", "ci": shop["pay"], "t": 15},
            ],
        )
    )
    web, web2, pay = groups_of("web-03 slow", "web-04 slow", "pay-app down")
    assert web == web2
    assert pay != web
    decision = CorrelationDecision.objects.get(alert__title="web-04 slow")
    assert (
        "web-04 depends on app-02" in decision.reason
        and "web-03 depends on app-02" in decision.reason
    )


def test_the_valley_rule_keeps_two_apps_of_one_service_apart(cast, shop):
    # web-03 and pay-app both sit under business services, but Shop -> web-03 and a path
    # web-03 <- Shop -> web-04 goes up then down: a shared dependent is no shared cause.
    relate(shop["shop"], "depends_on", shop["pay"])
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "web-03 slow", "ci": shop["web"], "t": 0},
                {"title": "pay-app down", "ci": shop["pay"], "t": 5},
            ],
        )
    )
    web, pay = groups_of("web-03 slow", "pay-app down")
    assert web != pay


def test_an_alert_at_the_edge_of_a_group_without_a_common_cause_opens_its_own(cast, shop):
    # web-03, web-04 and pay-app all depend on app-02: one group. pay-srv is 1 hop from
    # pay-app, but only pay-app of the three depends on it: no common cause, its own group.
    relate(shop["pay"], "depends_on", shop["app"])
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "web-03 slow", "ci": shop["web"], "t": 0},
                {"title": "web-04 slow", "ci": shop["web2"], "t": 5},
                {"title": "pay-app down", "ci": shop["pay"], "t": 10},
                {"title": "pay-srv disk", "ci": shop["pay_srv"], "t": 20},
            ],
        )
    )
    web, web2, pay, srv = groups_of("web-03 slow", "web-04 slow", "pay-app down", "pay-srv disk")
    assert web == web2 == pay
    assert srv != web
    decision = CorrelationDecision.objects.get(alert__title="pay-app down")
    assert "app-02 is common ground" in decision.reason and "3 of" not in decision.reason


def test_relationships_that_carry_no_impact_do_not_correlate(cast, shop):
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "db-07 down", "ci": shop["db"], "t": 0},
                {"title": "backup late", "ci": shop["backup"], "t": 5},
            ],
        )
    )
    db, backup = groups_of("db-07 down", "backup late")
    assert db != backup


def test_hops_and_window_limit_topology(cast, shop):
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "db-07 down", "ci": shop["db"], "t": 0},
                {"title": "web-03 slow", "ci": shop["web"], "t": 30},
            ],
            topology_hops=1,
        )
    )
    db, web = groups_of("db-07 down", "web-03 slow")
    assert db != web
    correlate(
        alert_batch(
            cast.org_a,
            [{"title": "app-02 errors", "ci": shop["app"], "t": 121}],
            topology_hops=3,
            window_seconds=120,
        )
    )
    # 121 s after db-07's event is outside the window of db-07's group, inside web-03's.
    (app,) = groups_of("app-02 errors")
    assert app == web


def test_topology_joins_need_the_related_alert_within_propagation_time(cast, shop):
    late = int(PROPAGATION.total_seconds()) + 60
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "db-07 down", "ci": shop["db"], "t": 0},
                {"title": "app-02 errors", "ci": shop["app"], "t": 30},
                {"title": "web-03 slow", "ci": shop["web"], "t": 30 + late},
            ],
            window_seconds=1800,
        )
    )
    db, app, web = groups_of("db-07 down", "app-02 errors", "web-03 slow")
    # Inside the window, but minutes after every alert of the group near it: another problem.
    assert db == app
    assert web != db


def test_a_late_batch_joins_the_group_its_time_belongs_to(cast, shop):
    correlate(alert_batch(cast.org_a, [{"title": "web-03 slow", "ci": shop["web"], "t": 120}]))
    # The root's event arrives later but started earlier.
    correlate(alert_batch(cast.org_a, [{"title": "db-07 down", "ci": shop["db"], "t": 0}]))
    web, db = groups_of("web-03 slow", "db-07 down")
    assert web == db
    group = AlertGroup.objects.get(pk=web)
    assert group.onset_at == Alert.objects.get(title="db-07 down").starts_at
    assert group.alert_count == 2


def test_group_by_labels_correlate_in_the_window(cast):
    specs = [
        {
            "title": "Pod restarting",
            "labels": {"alertname": "KubePodCrashLooping", "cluster": "prod"},
            "t": 0,
        },
        {
            "title": "Pod pending",
            "labels": {"alertname": "KubePodCrashLooping", "cluster": "prod"},
            "t": 60,
        },
        {
            "title": "Pod evicted",
            "labels": {"alertname": "KubePodCrashLooping", "cluster": "dev"},
            "t": 61,
        },
    ]
    correlate(
        alert_batch(cast.org_a, specs, group_by=["alertname", "cluster"], text_similarity=1.0)
    )
    a, b, c = groups_of("Pod restarting", "Pod pending", "Pod evicted")
    assert a == b != c
    decision = CorrelationDecision.objects.get(alert__title="Pod pending")
    assert decision.method == Method.TIME
    number = AlertGroup.objects.get(pk=a).number
    assert decision.reason.startswith(
        f"Same alertname=KubePodCrashLooping, cluster=prod as {number}, "
    )
    opened = CorrelationDecision.objects.get(alert__title="Pod evicted")
    assert opened.method == Method.NEW and opened.reason.endswith(
        f"opened {AlertGroup.objects.get(pk=c).number}."
    )
    assert AlertGroup.objects.get(pk=a).key == "alertname=KubePodCrashLooping|cluster=prod"


def test_similar_text_correlates_alerts_without_a_ci(cast, shop):
    correlate(
        alert_batch(
            cast.org_a,
            [
                {
                    "title": "Replication lag 45 s on replica <ID>",
                    "text": "Replication lag <NUM> s on replica <ID>",
                    "t": 0,
                },
                {
                    "title": "Replication lag 90 s on replica <ID>",
                    "text": "Replication lag <NUM> s on replica <ID>",
                    "t": 5,
                },
                {"title": "Certificate expires in 3 days", "t": 9},
                # Bound to unrelated CIs: the CMDB decides, not the text.
                {"title": "Disk full on pay-srv", "ci": shop["pay_srv"], "t": 10},
                {"title": "Disk full on mail-srv", "ci": shop["mail"], "t": 11},
            ],
        )
    )
    lag1, lag2, cert, disk1, disk2 = groups_of(
        "Replication lag 45 s on replica <ID>",
        "Replication lag 90 s on replica <ID>",
        "Certificate expires in 3 days",
        "Disk full on pay-srv",
        "Disk full on mail-srv",
    )
    assert lag1 == lag2
    assert len({lag1, cert, disk1, disk2}) == 4
    decision = CorrelationDecision.objects.get(alert__title__startswith="Replication lag 90")
    assert decision.method == Method.TEXT and decision.score >= 0.8


def test_suppressed_and_flapping_alerts_open_no_group(cast, shop):
    batch = alert_batch(
        cast.org_a,
        [
            {"title": "db-07 down", "ci": shop["db"], "t": 0, "suppressed": "maintenance CHG1"},
            {"title": "mail flapping", "ci": shop["mail"], "t": 0, "flapping": True},
        ],
    )
    correlate(batch)
    assert groups_of("db-07 down", "mail flapping") == [None, None]
    assert not AlertGroup.objects.exists() and not batch.groups_touched
    # A flapping alert still joins an open group.
    correlate(alert_batch(cast.org_a, [{"title": "app-02 errors", "ci": shop["app"], "t": 10}]))
    correlate(
        alert_batch(
            cast.org_a, [{"title": "web flapping", "ci": shop["web"], "t": 20, "flapping": True}]
        )
    )
    assert groups_of("app-02 errors")[0] == groups_of("web flapping")[0] is not None


def test_resolution_touches_and_resolves_the_group_and_refire_opens_a_new_one(cast, shop):
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "db-07 down", "ci": shop["db"], "t": 0},
                {"title": "app-02 errors", "ci": shop["app"], "t": 5},
            ],
        )
    )
    group = AlertGroup.objects.get()
    batch = alert_batch(
        cast.org_a, [{"title": "db-07 down", "ci": shop["db"], "t": 60, "status": "resolved"}]
    )
    correlate(batch)
    group.refresh_from_db()
    assert batch.groups_touched == {group.pk} and not batch.groups_resolved
    assert group.firing_count == 1 and group.alert_count == 2
    batch = alert_batch(
        cast.org_a, [{"title": "app-02 errors", "ci": shop["app"], "t": 70, "status": "resolved"}]
    )
    correlate(batch)
    assert batch.groups_resolved == {group.pk}
    # The incident stage resolves the group; a re-fire afterwards starts a new group.
    AlertGroup.objects.filter(pk=group.pk).update(state=GroupState.RESOLVED)
    batch = alert_batch(cast.org_a, [{"title": "db-07 down", "ci": shop["db"], "t": 4000}])
    correlate(batch)
    (db,) = groups_of("db-07 down")
    assert db != group.pk and batch.groups_opened == {db}


def test_organisations_never_share_groups(cast, shop):
    other = ci(cast.org_b, "db-07", "database")
    correlate(alert_batch(cast.org_a, [{"title": "db-07 down", "ci": shop["db"], "t": 0}]))
    correlate(alert_batch(cast.org_b, [{"title": "db-07 down B", "ci": other, "t": 1}]))
    a, b = groups_of("db-07 down", "db-07 down B")
    assert a != b
    assert AlertGroup.objects.get(pk=b).organization_id == cast.org_b.pk


def test_one_neighbourhood_walk_per_batch(cast, shop, django_assert_max_num_queries):
    hood = Neighbourhood(cast.org_a.pk, 3)
    # Types, two per level, the names of every CI reached.
    with django_assert_max_num_queries(1 + 2 * 3 + 1):
        hood.extend([shop["db"].pk, shop["web"].pk, shop["pay"].pk, shop["mail"].pk])
    assert shop["shop"].pk in hood.reach(shop["db"].pk)
    with django_assert_max_num_queries(0):  # the reasons name CIs without asking again
        hood.describe(hood.reach(shop["db"].pk)[shop["shop"].pk].path)


def test_the_propagation_time_is_the_organisations_setting(cast, shop):
    # The same three alerts as above, web-03's 4 minutes after app-02's: with a five-minute
    # propagation time the cascade is one group.
    correlate(
        alert_batch(
            cast.org_a,
            [
                {"title": "db-07 down", "ci": shop["db"], "t": 0},
                {"title": "app-02 errors", "ci": shop["app"], "t": 30},
                {"title": "web-03 slow", "ci": shop["web"], "t": 30 + 240},
            ],
            window_seconds=1800,
            propagation_seconds=300,
        )
    )
    db, app, web = groups_of("db-07 down", "app-02 errors", "web-03 slow")
    assert db == app == web
