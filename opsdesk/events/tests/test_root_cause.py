"""Root-cause ranking: graph position, time lead, changes and deployments, the stage."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsdesk.changes.models import Change, Deployment
from opsdesk.changes.tests.factories import change
from opsdesk.changes.tests.induced_helpers import implemented_change
from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.events import rootcause
from opsdesk.events.correlation import text as textmod
from opsdesk.events.models import AlertGroup
from opsdesk.events.tests.correlation_fixtures import alert_batch, at, correlate_and_rank

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_miners():
    textmod.forget()


@pytest.fixture
def estate(cast):
    """Twelve web nodes depend on app-02, which depends on db-07 on db-srv."""
    org = cast.org_a
    cis = {
        "app": ci(org, "app-02", "application"),
        "db": ci(org, "db-07", "database"),
        "srv": ci(org, "db-srv", "server"),
        "webs": [ci(org, f"web-{i:02d}", "application") for i in range(12)],
    }
    relate(cis["app"], "depends_on", cis["db"])
    relate(cis["db"], "runs_on", cis["srv"])
    for web in cis["webs"]:
        relate(web, "depends_on", cis["app"])
    return cis


def implemented(cast, target, minutes_before: float, onset_seconds: float = 0) -> Change:
    """A standard change on `target`, implemented `minutes_before` the onset (through the
    change actions, as the change helpers' tests do)."""
    return implemented_change(
        cast,
        [target],
        None,
        started=at(onset_seconds) - timedelta(minutes=minutes_before),
        template_name=f"Patch {target.name} {minutes_before}",
    )


def cascade(cast, estate, root_t: float = 0, app_t: float = 20, web_t: float = 40):
    specs = [
        {"title": "db-07 down", "ci": estate["db"], "t": root_t, "severity": "critical"},
        {"title": "app-02 errors", "ci": estate["app"], "t": app_t},
    ] + [{"title": f"{w.name} 5xx", "ci": w, "t": web_t + i} for i, w in enumerate(estate["webs"])]
    batch = alert_batch(cast.org_a, specs)
    correlate_and_rank(batch)
    return AlertGroup.objects.get(), batch


def test_the_ci_everything_depends_on_and_that_alerted_first_ranks_first(cast, estate):
    chg = implemented(cast, estate["db"], minutes_before=9)
    group, _ = cascade(cast, estate)
    top = group.root_causes[0]
    assert (top["ci_id"], top["ci"], top["ci_class"]) == (estate["db"].pk, "db-07", "database")
    assert top["evidence"] == [
        "db-07 alerted 20 s before its 13 alerting dependents",
        f"{chg.number} was implemented on it 9 min earlier",
    ]
    assert (top["change_id"], top["change"]) == (chg.pk, chg.number)
    assert group.cause_change_id == chg.pk
    assert [c["ci"] for c in group.root_causes[:3]] == ["db-07", "app-02", "db-srv"]
    scores = [c["score"] for c in group.root_causes]
    assert scores == sorted(scores, reverse=True)
    assert top["score"] > 0.9


def test_a_silent_common_dependency_wins_when_no_alerting_ci_explains_all(cast, estate):
    # Only web nodes alert: app-02 (silent) is what all of them depend on, nearest.
    specs = [{"title": f"{w.name} 5xx", "ci": w, "t": i} for i, w in enumerate(estate["webs"][:5])]
    correlate_and_rank(alert_batch(cast.org_a, specs))
    group = AlertGroup.objects.get()
    top = group.root_causes[0]
    assert top["ci"] == "app-02" and not top["alerted"]
    assert top["evidence"] == ["5 of 5 alerting CIs depend on app-02 (it has no alert of its own)"]
    assert group.cause_change_id is None


def test_position_beats_time_lead(cast, estate):
    # The web nodes alerted before the database (its monitoring is slow): it still explains
    # them all.
    group, _ = cascade(cast, estate, root_t=120, app_t=100, web_t=0)
    top = group.root_causes[0]
    assert top["ci"] == "db-07"
    assert "after the first of its 13 alerting dependents" in top["evidence"][0]


def test_old_or_unrelated_changes_are_not_evidence(cast, estate):
    implemented(cast, estate["db"], minutes_before=180)  # outside the 2 h window
    planned = change(cast, title="Not yet done")
    planned.cis.set([estate["db"]])  # never implemented
    group, _ = cascade(cast, estate)
    assert group.root_causes[0]["change_id"] is None
    assert group.cause_change_id is None


def test_a_change_on_a_dependency_is_named_as_the_cause(cast, estate):
    chg = implemented(cast, estate["srv"], minutes_before=30)
    group, _ = cascade(cast, estate)
    srv = next(c for c in group.root_causes if c["ci"] == "db-srv")
    assert srv["evidence"][-1] == f"{chg.number} was implemented on it 30 min earlier"
    assert group.root_causes[0]["ci"] == "db-07"
    assert group.cause_change_id == chg.pk


def test_a_recent_deployment_is_evidence(cast, estate):
    Deployment.objects.create(
        organization=cast.org_a,
        source="generic",
        external_id="run-1",
        ci=estate["app"],
        version="2.4.1",
        started_at=at(-400),
        finished_at=at(-300),
    )
    specs = [
        {"title": "app-02 errors", "ci": estate["app"], "t": 0},
        *({"title": f"{w.name} 5xx", "ci": w, "t": 5} for w in estate["webs"][:3]),
    ]
    correlate_and_rank(alert_batch(cast.org_a, specs))
    top = AlertGroup.objects.get().root_causes[0]
    assert top["ci"] == "app-02"
    assert "a deployment of 2.4.1 finished on it 5 min earlier" in top["evidence"]


def test_rank_of_one_group_equals_the_stored_ranking(cast, estate):
    group, _ = cascade(cast, estate)
    assert rootcause.rank(group) == group.root_causes


def test_the_stage_reranks_only_groups_that_gained_alerts(
    cast, estate, django_assert_max_num_queries
):
    group, _ = cascade(cast, estate)
    AlertGroup.objects.filter(pk=group.pk).update(root_causes=[{"ci": "kept"}])
    # A repeat of an alert already in the group: touched, not grown, not re-ranked.
    batch = alert_batch(cast.org_a, [{"title": "db-07 down", "ci": estate["db"], "t": 0}])
    correlate_and_rank(batch)
    assert batch.groups_touched == {group.pk}
    group.refresh_from_db()
    assert group.root_causes == [{"ci": "kept"}]
