"""The alert history and correlation decisions carry no database-level foreign keys
(`models._log_reference`): the ORM still cascades and nulls them, and the pipeline's rows
always point at rows that exist."""

from __future__ import annotations

import pytest
from django.db import connection

from opsdesk.events import inbox
from opsdesk.events.models import (
    Alert,
    AlertEvent,
    AlertGroup,
    CorrelationDecision,
    InboxEntry,
)
from opsdesk.events.tests.helpers import event

pytestmark = pytest.mark.django_db


def _constraints(model) -> set[str]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {name for name, c in found.items() if c["foreign_key"]}


def test_the_logs_have_no_foreign_key_constraints_and_alerts_keep_theirs():
    assert _constraints(AlertEvent) == set()
    assert _constraints(CorrelationDecision) == set()
    assert _constraints(Alert)  # the alert itself still has its constraints


def test_the_pipeline_rows_point_at_rows_that_exist_and_deletes_cascade(cast):
    org = cast.org_a
    events = [event(f"disk full on db-{i}", fingerprint=f"d{i}") for i in range(5)]
    inbox.store(organization_id=org.pk, source="generic", events=events)
    assert inbox.process_pending("t") == 5
    history = AlertEvent.objects.filter(organization=org)
    decisions = CorrelationDecision.objects.filter(organization=org)
    assert history.count() == 5 and decisions.count() == 5
    alerts = set(Alert.objects.values_list("pk", flat=True))
    groups = set(AlertGroup.objects.values_list("pk", flat=True))
    entries = set(InboxEntry.objects.values_list("pk", flat=True))
    for alert_id, group_id, inbox_id in history.values_list("alert_id", "group_id", "inbox_id"):
        assert alert_id in alerts and group_id in groups and inbox_id in entries
    for alert_id, group_id in decisions.values_list("alert_id", "group_id"):
        assert alert_id in alerts and group_id in groups

    gone = Alert.objects.get(fingerprint="d0")
    gone.delete()
    assert not AlertEvent.objects.filter(alert_id=gone.pk).exists()
    assert not CorrelationDecision.objects.filter(alert_id=gone.pk).exists()
    entry = InboxEntry.objects.get()
    entry.delete()
    assert history.count() == 4
    assert set(history.values_list("inbox_id", flat=True)) == {None}
