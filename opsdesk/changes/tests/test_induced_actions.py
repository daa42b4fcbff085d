"""Change-induced incidents: suggestions on the changed CI and its neighbours inside the
window, scores, idempotency, the catch-up job, confirm / dismiss / link by hand."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes import induced
from opsdesk.changes.choices import DeploymentSource, InducedState
from opsdesk.changes.models import Deployment, InducedLink, RiskSettings
from opsdesk.changes.tests.factories import topology
from opsdesk.changes.tests.induced_helpers import implemented_change, open_incident
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.servicedesk import actions as desk
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


@pytest.fixture
def cmdb(cast):
    return topology(cast.org_a)


def test_an_incident_on_a_changed_ci_inside_the_window_is_suggested(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = InducedLink.objects.get(incident=inc)
    assert link.change == c and link.state == InducedState.SUGGESTED
    assert link.reason == (
        f"{c.number} was implemented on bank-app 40 min before the incident opened; "
        "it is the incident's CI."
    )
    assert link.score > 0.95
    # Written by the system: audited without a person.
    record = AuditRecord.objects.get(object_type="changes.inducedlink", object_id=str(link.pk))
    assert record.actor_id is None


def test_outside_the_window_nothing_is_suggested_and_the_window_is_configurable(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    implemented_change(cast, [cmdb["app"]], now - timedelta(hours=30))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    assert not InducedLink.objects.filter(incident=inc).exists()
    RiskSettings.objects.create(organization=cast.org_a, induced_window_hours=48)
    later = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = InducedLink.objects.get(incident=later)
    assert "1 d 6 h before" in link.reason
    assert 0.5 < link.score < 0.75  # late in the window: the time factor falls towards 0.5


def test_a_change_after_the_incident_or_on_another_ci_is_not_suggested(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    implemented_change(
        cast, [cmdb["app"]], now + timedelta(hours=1), started=now + timedelta(minutes=10)
    )
    implemented_change(cast, [cmdb["mail_srv"]], now - timedelta(minutes=5))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    assert not InducedLink.objects.filter(incident=inc).exists()


def test_a_change_still_being_implemented_is_suggested(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["app"]], None, started=now - timedelta(hours=2))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = InducedLink.objects.get(incident=inc, change=c)
    assert "was being implemented on bank-app when the incident opened" in link.reason
    assert link.score == 1.0


def test_dependencies_are_suggested_with_lower_scores_and_say_how(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    direct = implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=40))
    one_hop = implemented_change(cast, [cmdb["db"]], now - timedelta(minutes=40))
    two_hops = implemented_change(cast, [cmdb["db_srv"]], now - timedelta(minutes=40))
    upstream = implemented_change(cast, [cmdb["banking"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    links = {link.change_id: link for link in InducedLink.objects.filter(incident=inc)}
    assert set(links) == {direct.pk, one_hop.pk, two_hops.pk, upstream.pk}
    assert (
        links[direct.pk].score
        > links[one_hop.pk].score
        > links[upstream.pk].score
        > links[two_hops.pk].score
    )
    assert links[two_hops.pk].reason == (
        f"{two_hops.number} was implemented on db-srv-01 40 min before the incident opened; "
        "the incident's CI bank-app depends on it through bank-db."
    )
    assert links[upstream.pk].reason.endswith("it depends on the incident's CI bank-app.")


def test_closer_in_time_scores_higher(cast, cmdb, django_capture_on_commit_callbacks):
    now = timezone.now()
    recent = implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=10))
    older = implemented_change(cast, [cmdb["app"]], now - timedelta(hours=20))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    scores = dict(InducedLink.objects.filter(incident=inc).values_list("change_id", "score"))
    assert scores[recent.pk] > scores[older.pk]


def test_suggestions_are_idempotent_and_a_dismissal_sticks(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    assert induced.suggest_for_incident(inc) == []
    assert induced.catch_up(since=now - timedelta(hours=1)) == 0
    link = InducedLink.objects.get(incident=inc)
    induced.dismiss_induced(acting_user=cast.agent, link=link, reason="Unrelated: a user's VPN")
    induced.suggest_for_incident(inc)
    assert list(InducedLink.objects.filter(incident=inc).values_list("state", flat=True)) == [
        InducedState.DISMISSED
    ]


def test_setting_the_ci_later_suggests(cast, cmdb, django_capture_on_commit_callbacks):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["db_srv"]], now - timedelta(minutes=15))
    inc = open_incident(cast, django_capture_on_commit_callbacks, opened_at=now)
    assert not InducedLink.objects.filter(incident=inc).exists()
    with django_capture_on_commit_callbacks(execute=True):
        desk.update_incident(acting_user=cast.agent, incident=inc, ci=cmdb["db_srv"])
    assert InducedLink.objects.get(incident=inc).change == c


def test_the_catch_up_job_finds_incidents_written_without_the_signal(cast, cmdb):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["app"]], now - timedelta(hours=2))
    with timeline.silenced():  # as an import or the demo writes them
        inc = desk.create_incident(
            acting_user=cast.agent,
            organization=cast.org_a,
            title="Imported",
            ci=cmdb["app"],
            opened_at=now,
        )
    assert not InducedLink.objects.filter(incident=inc).exists()
    assert induced.catch_up() == 1
    assert InducedLink.objects.get(incident=inc).change == c
    assert induced.catch_up() == 0


def test_a_deployment_on_the_service_is_suggested(cast, cmdb, django_capture_on_commit_callbacks):
    now = timezone.now()
    deployment = Deployment.objects.create(
        organization=cast.org_a,
        source=DeploymentSource.GITHUB,
        external_id="run-1",
        service=cmdb["banking"],
        version="2.3.1",
        environment="production",
        outcome="success",
        started_at=now - timedelta(minutes=70),
        finished_at=now - timedelta(minutes=65),
    )
    inc = open_incident(
        cast, django_capture_on_commit_callbacks, service=cmdb["banking"], opened_at=now
    )
    link = InducedLink.objects.get(incident=inc)
    assert link.deployment == deployment and link.change is None
    assert link.reason == (
        "A deployment of 2.3.1 to production (GitHub Actions) finished on Online Banking "
        "1 h 5 min before the incident opened; it is the incident's service."
    )


def test_other_organisations_changes_are_never_suggested(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    b = topology(cast.org_b, prefix="b-")
    implemented_change(cast, [b["app"]], now - timedelta(minutes=5), org=cast.org_b)
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    assert not InducedLink.objects.filter(incident=inc).exists()


def test_confirm_records_on_both_timelines(cast, cmdb, django_capture_on_commit_callbacks):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = InducedLink.objects.get(incident=inc)
    with pytest.raises(PermissionDenied):
        induced.confirm_induced(acting_user=cast.requester, link=link)
    induced.confirm_induced(acting_user=cast.agent, link=link)
    assert link.state == InducedState.CONFIRMED and link.decided_by == cast.agent
    on_incident = Activity.objects.get(subject_type="incident", subject_id=inc.pk, kind="link")
    assert on_incident.data["number"] == c.number and on_incident.data["induced"] is True
    on_change = Activity.objects.get(subject_type="change", subject_id=c.pk, kind="link")
    assert on_change.data["number"] == inc.number and on_change.actor == cast.agent
    with pytest.raises(Conflict):
        induced.confirm_induced(acting_user=cast.agent, link=link)
    # Undoing a confirmation unlinks on both timelines, with the reason.
    with pytest.raises(FieldError) as err:
        induced.dismiss_induced(acting_user=cast.agent, link=link, reason=" ")
    assert "reason" in err.value.errors
    induced.dismiss_induced(acting_user=cast.agent, link=link, reason="It was the network.")
    assert Activity.objects.get(subject_type="change", subject_id=c.pk, kind="unlink").body == (
        "It was the network."
    )
    assert Activity.objects.filter(
        subject_type="incident", subject_id=inc.pk, kind="unlink"
    ).exists()


def test_dismissing_a_suggestion_notes_it_on_the_incident_only(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = InducedLink.objects.get(incident=inc)
    induced.dismiss_induced(acting_user=cast.agent, link=link, reason="Unrelated.")
    assert link.state == InducedState.DISMISSED
    entry = Activity.objects.get(subject_type="incident", subject_id=inc.pk, kind="unlink")
    assert entry.data["reason"] == "Unrelated."
    assert not Activity.objects.filter(subject_type="change", subject_id=c.pk, kind="unlink")


def test_link_by_hand(cast, cmdb, django_capture_on_commit_callbacks):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["mail_srv"]], now - timedelta(days=3))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = induced.link_induced(acting_user=cast.agent, incident=inc, change=c)
    assert link.state == InducedState.CONFIRMED and "by hand" in link.reason
    assert Activity.objects.filter(subject_type="change", subject_id=c.pk, kind="link").exists()
    with pytest.raises(Conflict):
        induced.link_induced(acting_user=cast.agent, incident=inc, change=c)
    # A change of another organisation, or one never implemented, is refused naming change_id.
    b = topology(cast.org_b, prefix="b-")
    other = implemented_change(cast, [b["app"]], now, org=cast.org_b)
    with pytest.raises(FieldError) as err:
        induced.link_induced(acting_user=cast.agent, incident=inc, change=other)
    assert "change_id" in err.value.errors
    from opsdesk.changes.tests.factories import change

    planned = change(cast)
    with pytest.raises(FieldError) as err:
        induced.link_induced(acting_user=cast.agent, incident=inc, change=planned)
    assert "change_id" in err.value.errors


def test_linking_by_hand_confirms_an_existing_suggestion(
    cast, cmdb, django_capture_on_commit_callbacks
):
    now = timezone.now()
    c = implemented_change(cast, [cmdb["app"]], now - timedelta(minutes=40))
    inc = open_incident(cast, django_capture_on_commit_callbacks, ci=cmdb["app"], opened_at=now)
    link = induced.link_induced(acting_user=cast.agent, incident=inc, change=c)
    assert InducedLink.objects.filter(incident=inc).count() == 1
    assert link.state == InducedState.CONFIRMED and "40 min" in link.reason


def test_incidents_opened_together_are_looked_at_together(
    cast, cmdb, django_capture_on_commit_callbacks, monkeypatch
):
    """One transaction's incidents: loaded at once; without a change or deployment in the
    window no neighbourhood is walked; with one, each gets its own suggestions."""
    walked: list[int] = []
    real = induced.neighbourhood

    def spy(incident):
        walked.append(incident.pk)
        return real(incident)

    monkeypatch.setattr(induced, "neighbourhood", spy)
    now = timezone.now()
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        quiet = [
            desk.create_incident(
                acting_user=cast.agent,
                organization=cast.org_a,
                title=f"quiet {n}",
                ci=cmdb["app"],
                opened_at=now,
            )
            for n in range(3)
        ]
    assert walked == []
    assert not InducedLink.objects.filter(incident__in=quiet).exists()
    change = implemented_change(cast, [cmdb["app"]], now - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        loud = [
            desk.create_incident(
                acting_user=cast.agent,
                organization=cast.org_a,
                title=f"loud {n}",
                ci=cmdb["app"],
                opened_at=now,
            )
            for n in range(2)
        ]
    assert walked == [i.pk for i in loud]
    for incident in loud:
        assert InducedLink.objects.filter(incident=incident, change=change).count() == 1
