"""The timeline tells the receivers about the entries of one transaction together, in
order, without those of a rolled-back savepoint."""

from __future__ import annotations

import pytest
from django.db import transaction

from opsdesk.servicedesk import actions, timeline

pytestmark = pytest.mark.django_db


@pytest.fixture
def heard():
    batches: list[list[str]] = []
    singles: list[tuple[str, bool]] = []

    def on_many(sender, activities, **kwargs):
        batches.append([a.body for a in activities])

    def on_one(sender, activity, batched=False, **kwargs):
        singles.append((activity.body, batched))

    timeline.activities_recorded.connect(on_many, dispatch_uid="test-many")
    timeline.activity_recorded.connect(on_one, dispatch_uid="test-one")
    try:
        yield batches, singles
    finally:
        timeline.activities_recorded.disconnect(dispatch_uid="test-many")
        timeline.activity_recorded.disconnect(dispatch_uid="test-one")


def _note(cast, incident, body):
    actions.add_comment(acting_user=cast.agent, subject=incident, body=body, public=False)


def test_one_transaction_is_told_once_in_order_without_what_rolled_back(
    cast, heard, django_capture_on_commit_callbacks
):
    batches, singles = heard
    with timeline.silenced():
        incident = actions.create_incident(
            acting_user=cast.agent, organization=cast.org_a, title="x"
        )
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        _note(cast, incident, "one")
        with pytest.raises(RuntimeError), transaction.atomic():
            _note(cast, incident, "two")
            raise RuntimeError("rolled back")
        _note(cast, incident, "three")
        _note(cast, incident, "four")
    assert batches == [["one", "three", "four"]]
    assert singles == [("one", True), ("three", True), ("four", True)]


def test_a_first_entry_rolled_back_still_lets_the_others_be_told(
    cast, heard, django_capture_on_commit_callbacks
):
    batches, _ = heard
    with timeline.silenced():
        incident = actions.create_incident(
            acting_user=cast.agent, organization=cast.org_a, title="x"
        )
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            _note(cast, incident, "gone")
            raise RuntimeError("rolled back")
        _note(cast, incident, "kept")
    assert batches == [["kept"]]


def test_each_transaction_is_told_on_its_own(cast, heard, django_capture_on_commit_callbacks):
    batches, _ = heard
    with timeline.silenced():
        incident = actions.create_incident(
            acting_user=cast.agent, organization=cast.org_a, title="x"
        )
    _note(cast, incident, "never committed")  # the test's transaction: never told
    with django_capture_on_commit_callbacks(execute=True):
        _note(cast, incident, "a")
    with django_capture_on_commit_callbacks(execute=True):
        _note(cast, incident, "b")
        _note(cast, incident, "c")
    assert batches == [["a"], ["b", "c"]]
