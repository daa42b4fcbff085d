"""Post-implementation reviews: required for failed, backed-out and emergency changes, opened
when the change completes, and blocking `close` until completed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes import actions, reviews
from opsdesk.changes.choices import ChangeState, ChangeType, ReviewState
from opsdesk.changes.models import PostImplementationReview
from opsdesk.changes.tests.factories import change, template, when
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db


def implemented(cast, close_code: str | None = None, **fields):
    """A standard change taken New -> Scheduled -> Implement (-> Review with `close_code`)."""
    tpl = template(cast, name=fields.pop("template_name", "Patch a Linux server"))
    c = actions.create_change(
        acting_user=cast.agent,
        organization=cast.org_a,
        template=tpl,
        planned_start=when(1),
        **fields,
    )
    actions.transition_change(acting_user=cast.agent, change=c, name="schedule")
    actions.transition_change(acting_user=cast.agent, change=c, name="implement")
    if close_code:
        actions.transition_change(
            acting_user=cast.agent, change=c, name="complete", close_code=close_code
        )
    return c


def emergency_in_implementation(cast):
    """An emergency change put in Implement directly (the approvals part authorises it)."""
    c = change(cast, change_type=ChangeType.EMERGENCY, justification="Bank down")
    c.state = ChangeState.IMPLEMENT
    c.actual_start = timezone.now() - timedelta(hours=1)
    c.save()
    return c


def test_a_failed_change_gets_a_review_that_blocks_close_until_completed(cast):
    c = implemented(cast, "failed")
    review = PostImplementationReview.objects.get(change=c)
    assert review.state == ReviewState.OPEN
    opened = Activity.objects.get(subject_type="change", subject_id=c.pk, kind="link")
    assert opened.data["type"] == "review" and opened.data["required"] is True
    with pytest.raises(Conflict) as err:
        actions.transition_change(acting_user=cast.agent, change=c, name="close", close_notes="x")
    assert err.value.field == "review"
    c.refresh_from_db()
    assert c.state == ChangeState.REVIEW

    with pytest.raises(FieldError) as err:
        reviews.complete_review(acting_user=cast.agent, review=review)
    assert set(err.value.errors) == {"summary", "what_went_wrong", "lessons"}
    reviews.update_review(
        acting_user=cast.agent,
        review=review,
        summary="Patch broke the kernel module.",
        what_went_wrong="The storage driver failed to load.",
    )
    with pytest.raises(FieldError) as err:
        reviews.complete_review(acting_user=cast.agent, review=review)
    assert set(err.value.errors) == {"lessons"}
    reviews.update_review(acting_user=cast.agent, review=review, lessons="Test on a canary first.")
    reviews.complete_review(acting_user=cast.agent, review=review)
    assert review.state == ReviewState.COMPLETED and review.completed_by == cast.agent
    actions.transition_change(acting_user=cast.agent, change=c, name="close", close_notes="Done")
    assert c.state == ChangeState.CLOSED
    assert (
        AuditRecord.objects.filter(
            object_type="changes.postimplementationreview", object_id=str(review.pk)
        ).count()
        >= 3
    )
    fields = Activity.objects.filter(subject_type="change", subject_id=c.pk, kind="field")
    assert any("review.state" in a.data.get("changes", {}) for a in fields)


def test_a_backed_out_change_needs_a_review_too(cast):
    c = implemented(cast, "backed_out")
    assert PostImplementationReview.objects.filter(change=c).exists()


def test_an_emergency_change_is_always_reviewed_even_when_successful(cast):
    c = emergency_in_implementation(cast)
    actions.transition_change(
        acting_user=cast.agent, change=c, name="complete", close_code="successful"
    )
    review = PostImplementationReview.objects.get(change=c)
    with pytest.raises(Conflict):
        actions.transition_change(acting_user=cast.agent, change=c, name="close", close_notes="x")
    c.refresh_from_db()
    with pytest.raises(FieldError) as err:
        reviews.complete_review(acting_user=cast.agent, review=review)
    assert set(err.value.errors) == {"summary"}  # a successful change needs only a summary
    reviews.update_review(acting_user=cast.agent, review=review, summary="Fixed the outage.")
    reviews.complete_review(acting_user=cast.agent, review=review)
    actions.transition_change(acting_user=cast.agent, change=c, name="close", close_notes="ok")
    assert c.state == ChangeState.CLOSED


def test_a_successful_standard_change_needs_no_review_but_may_have_one(cast):
    c = implemented(cast, "successful")
    assert not PostImplementationReview.objects.filter(change=c).exists()
    review = reviews.start_review(acting_user=cast.agent, change=c)
    assert review.state == ReviewState.OPEN
    with pytest.raises(Conflict) as err:
        reviews.start_review(acting_user=cast.agent, change=c)
    assert err.value.field == "review"
    # An optional review does not block closing.
    actions.transition_change(acting_user=cast.agent, change=c, name="close", close_notes="ok")
    assert c.state == ChangeState.CLOSED


def test_a_review_cannot_start_before_implementation(cast):
    c = change(cast)
    with pytest.raises(Conflict) as err:
        reviews.start_review(acting_user=cast.agent, change=c)
    assert err.value.field == "state"


def test_completed_reviews_are_final_and_bad_fields_are_named(cast):
    c = implemented(cast, "failed")
    review = c.review
    with pytest.raises(FieldError) as err:
        reviews.update_review(acting_user=cast.agent, review=review, verdict="bad")
    assert "verdict" in err.value.errors
    with pytest.raises(FieldError) as err:
        reviews.update_review(acting_user=cast.agent, review=review, summary=42)
    assert "summary" in err.value.errors
    reviews.update_review(
        acting_user=cast.agent, review=review, summary="s", what_went_wrong="w", lessons="l"
    )
    reviews.complete_review(acting_user=cast.agent, review=review)
    with pytest.raises(Conflict):
        reviews.update_review(acting_user=cast.agent, review=review, summary="rewrite")
    with pytest.raises(Conflict):
        reviews.complete_review(acting_user=cast.agent, review=review)


def test_requesters_and_auditors_cannot_write_reviews(cast):
    c = implemented(cast, "failed")
    for user in (cast.requester, cast.auditor):
        with pytest.raises(PermissionDenied):
            reviews.update_review(acting_user=user, review=c.review, summary="x")
        with pytest.raises(PermissionDenied):
            reviews.complete_review(acting_user=user, review=c.review)
