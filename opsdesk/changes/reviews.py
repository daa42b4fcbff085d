"""Post-implementation reviews: what happened when a change went in, and what we learnt.

A review is **required** for every emergency change and for every change completed as
failed or backed out: the after-hook on ``complete`` opens it, and the guard on ``close``
refuses to close the change (409 naming ``review``) until it is completed. Any other change
may get an optional review once implementation has started (`start_review`); an optional
review never blocks closing.

Completing asks for a summary; for a failed or backed-out change also what went wrong and
the lessons. Every write is audited (the model is change-logged) and appears on the change's
timeline (kind ``link`` when the review is opened, ``field`` when it is edited or completed).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from opsdesk.changes import hooks
from opsdesk.changes.choices import FAILED_CLOSE_CODES, ChangeState, ChangeType, ReviewState
from opsdesk.changes.models import Change, PostImplementationReview
from opsdesk.changes.sections import Section, register_section
from opsdesk.core.actions import require, save_validated
from opsdesk.core.context import acting_as
from opsdesk.core.errors import Conflict, FieldError, NotFound
from opsdesk.core.permissions import Action, has_permission
from opsdesk.servicedesk import timeline
from opsdesk.servicedesk.choices import ActivityKind

#: The text fields of a review, in the order of the form.
REVIEW_FIELDS = (
    "summary",
    "what_went_well",
    "what_went_wrong",
    "root_cause",
    "lessons",
    "follow_up",
)
FIELD_LABELS = {
    "summary": "Summary",
    "what_went_well": "What went well",
    "what_went_wrong": "What went wrong",
    "root_cause": "Root cause",
    "lessons": "Lessons learnt",
    "follow_up": "Follow-up actions",
}
MAX_TEXT = 50_000
#: States in which a change has been (or is being) implemented, so a review makes sense.
REVIEWABLE_STATES = (ChangeState.IMPLEMENT, ChangeState.REVIEW, ChangeState.CLOSED)
SYSTEM_NAME = "Post-implementation review"


def failed(change: Change) -> bool:
    return change.close_code in FAILED_CLOSE_CODES


def required_reason(change: Change) -> str:
    """Why `change` must be reviewed before it closes, or "" when it need not be."""
    if change.change_type == ChangeType.EMERGENCY:
        return "Every emergency change is reviewed after implementation."
    if failed(change):
        return f"The change was completed as {change.get_close_code_display().lower()}."
    return ""


def review_required(change: Change) -> bool:
    return bool(required_reason(change))


def required_fields(change: Change) -> tuple[str, ...]:
    """What must be filled in before the review of `change` can be completed."""
    if failed(change):
        return ("summary", "what_went_wrong", "lessons")
    return ("summary",)


# --- reads -----------------------------------------------------------------------------------


def reviews(user: Any, action: str = Action.VIEW) -> QuerySet[PostImplementationReview]:
    return PostImplementationReview.objects.restrict(user, action).select_related(
        "change", "change__service", "change__assignment_group", "completed_by"
    )


def review_of(user: Any, change: Change) -> PostImplementationReview | None:
    return reviews(user).filter(change_id=change.pk).first()


def access_review(user: Any, change: Change) -> PostImplementationReview:
    found = review_of(user, change)
    if found is None:
        raise NotFound(f"{change.number} has no post-implementation review.")
    return found


def open_reviews(user: Any, organization_id: int) -> QuerySet[PostImplementationReview]:
    return (
        reviews(user)
        .filter(organization_id=organization_id, state=ReviewState.OPEN)
        .order_by("created_at", "id")
    )


# --- actions ---------------------------------------------------------------------------------


def _open(change: Change, acting_user: Any, system: str, required: str) -> PostImplementationReview:
    review = PostImplementationReview(organization_id=change.organization_id, change=change)
    save_validated(review)
    timeline.record(
        change,
        ActivityKind.LINK,
        actor=acting_user,
        actor_name=system,
        body=required or "An optional review was started.",
        data={
            "type": "review",
            "id": review.pk,
            "state": review.state,
            "required": bool(required),
            **({"reason": required} if required else {}),
        },
    )
    return review


@hooks.after("complete")
def open_required_review(
    change: Change, name: str, values: dict[str, Any], acting_user: Any
) -> None:
    """After ``complete``: open the review a failed, backed-out or emergency change needs."""
    reason = required_reason(change)
    if not reason or PostImplementationReview.objects.filter(change=change).exists():
        return
    _open(change, acting_user, "" if acting_user else SYSTEM_NAME, reason)


@hooks.guard("close")
def refuse_close_without_review(
    change: Change, name: str, values: dict[str, Any], acting_user: Any
) -> None:
    """Before ``close``: a required review must be completed."""
    reason = required_reason(change)
    if not reason:
        return
    review = PostImplementationReview.objects.filter(change_id=change.pk).first()
    if review is None or review.state != ReviewState.COMPLETED:
        raise Conflict(
            f"{change.number} cannot close before its post-implementation review is "
            f"completed. {reason}",
            field="review",
        )


@transaction.atomic
def start_review(*, acting_user: Any, change: Change) -> PostImplementationReview:
    """Start a review of a change that does not require one (or whose required review was
    never opened, e.g. a change completed before reviews existed)."""
    require(acting_user, PostImplementationReview, Action.ADD, change.organization_id)
    if PostImplementationReview.objects.filter(change_id=change.pk).exists():
        raise Conflict(f"{change.number} already has a review.", field="review")
    if change.state not in REVIEWABLE_STATES:
        raise Conflict(
            f"{change.number} is {change.get_state_display().lower()}: a review starts once "
            "implementation has started.",
            field="state",
        )
    with acting_as(acting_user):
        return _open(change, acting_user, "", required_reason(change))


def _clean(fields: dict[str, Any]) -> dict[str, str]:
    unknown = sorted(set(fields) - set(REVIEW_FIELDS))
    if unknown:
        raise FieldError({name: "Not a field of a review." for name in unknown})
    out: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, value in fields.items():
        text = "" if value is None else value
        if not isinstance(text, str):
            errors[name] = "Text is expected."
            continue
        if len(text) > MAX_TEXT:
            errors[name] = f"At most {MAX_TEXT} characters."
            continue
        out[name] = text.strip()
    if errors:
        raise FieldError(errors)
    return out


def _refuse_if_completed(review: PostImplementationReview) -> None:
    if review.state == ReviewState.COMPLETED:
        raise Conflict("The review is completed and can no longer change.", field="state")


@transaction.atomic
def update_review(
    *, acting_user: Any, review: PostImplementationReview, **fields: Any
) -> PostImplementationReview:
    """Fill in or edit the text of an open review."""
    require(acting_user, PostImplementationReview, Action.CHANGE, review.organization_id)
    _refuse_if_completed(review)
    values = _clean(fields)
    changed = {
        name: [getattr(review, name), value]
        for name, value in values.items()
        if getattr(review, name) != value
    }
    if not changed:
        return review
    with acting_as(acting_user):
        for name, value in values.items():
            setattr(review, name, value)
        save_validated(review)
        timeline.record(
            review.change,
            ActivityKind.FIELD,
            actor=acting_user,
            data={
                "review": review.pk,
                "changes": {f"review.{name}": pair for name, pair in changed.items()},
            },
        )
    return review


@transaction.atomic
def complete_review(
    *, acting_user: Any, review: PostImplementationReview
) -> PostImplementationReview:
    """Complete the review: its required fields must be filled in (a 422 names each)."""
    require(acting_user, PostImplementationReview, Action.CHANGE, review.organization_id)
    _refuse_if_completed(review)
    change = review.change
    missing = {
        name: f"{FIELD_LABELS[name]} is required to complete the review"
        + (" of a failed change." if failed(change) and name != "summary" else ".")
        for name in required_fields(change)
        if not (getattr(review, name) or "").strip()
    }
    if missing:
        raise FieldError(missing)
    now = timezone.now()
    with acting_as(acting_user):
        review.state = ReviewState.COMPLETED
        review.completed_by = acting_user
        review.completed_at = now
        save_validated(review)
        timeline.record(
            change,
            ActivityKind.FIELD,
            actor=acting_user,
            body=review.summary,
            data={
                "review": review.pk,
                "changes": {"review.state": ["open", "completed"]},
                "lessons": review.lessons,
            },
            at=now,
        )
    return review


# --- the change page -------------------------------------------------------------------------


def change_url(change: Change) -> str:
    from opsdesk.changes.induced import change_url as url

    return url(change)


def review_section(user: Any, change: Change) -> Section | None:
    """The review form (open) or summary (completed); a "Start a review" button for a change
    that has been implemented and has none."""
    org = change.organization_id
    if not has_permission(user, PostImplementationReview, Action.VIEW, org):
        return None
    review = review_of(user, change)
    can_start = (
        review is None
        and change.state in REVIEWABLE_STATES
        and has_permission(user, PostImplementationReview, Action.ADD, org)
    )
    if review is None and not can_start:
        return None
    can_edit = (
        review is not None
        and review.state == ReviewState.OPEN
        and has_permission(user, PostImplementationReview, Action.CHANGE, org)
    )
    required = required_fields(change)
    context: dict[str, Any] = {
        "change": change,
        "change_url": change_url(change),
        "review": review,
        "reason": required_reason(change),
        "can_start": can_start,
        "can_edit": can_edit,
        "fields": [
            {
                "name": name,
                "label": FIELD_LABELS[name],
                "value": getattr(review, name) if review else "",
                "required": name in required,
            }
            for name in REVIEW_FIELDS
        ],
    }
    context["review_section"] = context
    return Section(
        title="Post-implementation review",
        template="changes/reviews/section.html",
        context=context,
        order=61,
    )


register_section(review_section)
