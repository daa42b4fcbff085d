"""Correlation settings: managers and admins change them, audited, every bad value named."""

from __future__ import annotations

import pytest

from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.events.models import CorrelationSettings
from opsdesk.events.settings_actions import update_settings

pytestmark = pytest.mark.django_db


def test_a_manager_changes_the_settings_and_an_audit_record_says_what(cast):
    conf = update_settings(
        acting_user=cast.manager,
        organization=cast.org_a,
        window_seconds="900",
        topology_hops=2,
        group_by="alertname, cluster alertname",
        text_similarity=0.7,
        open_incidents=False,
        incident_min_severity="major",
        incident_team=cast.team_a.pk,
    )
    stored = CorrelationSettings.for_org(cast.org_a.pk)
    assert stored.pk == conf.pk
    assert (stored.window_seconds, stored.topology_hops, stored.group_by) == (
        900,
        2,
        ["alertname", "cluster"],
    )
    assert stored.text_similarity == pytest.approx(0.7)
    assert stored.open_incidents is False and stored.incident_min_severity == "major"
    assert stored.incident_team_id == cast.team_a.pk
    record = AuditRecord.objects.filter(
        object_type="events.correlationsettings", object_id=str(conf.pk)
    ).first()
    assert record is not None and record.actor_id == cast.manager.pk
    # A second change updates the same row and records what changed.
    update_settings(acting_user=cast.admin, organization=cast.org_a, topology_hops=4)
    assert CorrelationSettings.objects.filter(organization=cast.org_a).count() == 1
    last = AuditRecord.objects.filter(
        object_type="events.correlationsettings", object_id=str(conf.pk)
    ).first()
    assert last.changes["topology_hops"] == [2, 4]
    # Organisation B keeps its defaults.
    assert CorrelationSettings.for_org(cast.org_b.pk).pk is None


@pytest.mark.parametrize("user", ["agent", "auditor", "requester", "admin_b"])
def test_only_managers_and_admins_of_the_organisation(cast, user):
    with pytest.raises(PermissionDenied):
        update_settings(acting_user=getattr(cast, user), organization=cast.org_a, topology_hops=1)
    assert not CorrelationSettings.objects.filter(organization=cast.org_a).exists()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"window_seconds": 5}, "window_seconds"),
        ({"window_seconds": "ten"}, "window_seconds"),
        ({"window_seconds": True}, "window_seconds"),
        ({"topology_hops": 11}, "topology_hops"),
        ({"text_similarity": 1.5}, "text_similarity"),
        ({"text_similarity": "nan"}, "text_similarity"),
        ({"flap_transitions": 1}, "flap_transitions"),
        ({"propagation_seconds": 5}, "propagation_seconds"),
        ({"reopen_seconds": -1}, "reopen_seconds"),
        ({"reopen_seconds": 8 * 86_400}, "reopen_seconds"),
        ({"group_by": [3]}, "group_by"),
        ({"group_by": "bad label!"}, "group_by"),
        ({"group_by": {"a": 1}}, "group_by"),
        ({"open_incidents": "yes"}, "open_incidents"),
        ({"incident_min_severity": "dire"}, "incident_min_severity"),
        ({"incident_team": "x"}, "incident_team"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_values_are_refused_naming_the_field(cast, fields, named):
    with pytest.raises(FieldError) as caught:
        update_settings(acting_user=cast.manager, organization=cast.org_a, **fields)
    assert named in caught.value.errors
    assert not CorrelationSettings.objects.filter(organization=cast.org_a).exists()


def test_a_team_of_another_organisation_is_refused(cast):
    with pytest.raises(FieldError) as caught:
        update_settings(
            acting_user=cast.manager, organization=cast.org_a, incident_team=cast.team_b.pk
        )
    assert "incident_team" in caught.value.errors


def test_propagation_and_reopen_windows_are_settings(cast):
    defaults = CorrelationSettings.for_org(cast.org_a.pk)
    assert (defaults.propagation_seconds, defaults.reopen_seconds) == (180, 3600)
    update_settings(
        acting_user=cast.manager,
        organization=cast.org_a,
        propagation_seconds="300",
        reopen_seconds=0,
    )
    stored = CorrelationSettings.for_org(cast.org_a.pk)
    assert (stored.propagation_seconds, stored.reopen_seconds) == (300, 0)
