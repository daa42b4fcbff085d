"""The clocks of the tickets one transaction moved are recomputed once each, in one pass."""

from __future__ import annotations

import pytest
from django.db import transaction

from opsdesk.servicedesk import actions as sd
from opsdesk.sla import clocks

pytestmark = pytest.mark.django_db


def test_one_recompute_per_transaction_with_each_ticket_once(
    cast, monkeypatch, django_capture_on_commit_callbacks
):
    calls: list[list[int]] = []
    real = clocks.recompute_incidents

    def spy(incidents, **kwargs):
        incidents = list(incidents)
        calls.append(sorted(i.pk for i in incidents))
        return real(incidents, **kwargs)

    monkeypatch.setattr(clocks, "recompute_incidents", spy)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        a = sd.create_incident(acting_user=cast.agent, organization=cast.org_a, title="a")
        b = sd.create_incident(acting_user=cast.agent, organization=cast.org_a, title="b")
        sd.add_comment(acting_user=cast.agent, subject=a, body="public reply")
        sd.transition_incident(acting_user=cast.agent, incident=b, transition="start")
    assert calls == [sorted([a.pk, b.pk])]


def test_a_failing_pass_falls_back_to_each_ticket(
    cast, monkeypatch, django_capture_on_commit_callbacks
):
    calls: list[list[int]] = []

    def flaky(incidents, **kwargs):
        incidents = list(incidents)
        calls.append(sorted(i.pk for i in incidents))
        if len(incidents) > 1:
            raise RuntimeError("one bad ticket")

    monkeypatch.setattr(clocks, "recompute_incidents", flaky)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        a = sd.create_incident(acting_user=cast.agent, organization=cast.org_a, title="a")
        b = sd.create_incident(acting_user=cast.agent, organization=cast.org_a, title="b")
    assert calls == [sorted([a.pk, b.pk]), [a.pk], [b.pk]]
