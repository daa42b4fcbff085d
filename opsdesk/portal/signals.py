"""The portal listens to the ticket timeline: a resolved incident or a fulfilled request
sends its requester a satisfaction survey."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from opsdesk.servicedesk.choices import ActivityKind, SubjectType
from opsdesk.servicedesk.timeline import activity_recorded, subject_model

#: (subject type, state reached) that sends a survey.
SURVEY_TRIGGERS = {
    (SubjectType.INCIDENT, "resolved"),
    (SubjectType.REQUEST, "fulfilled"),
}


@receiver(activity_recorded, dispatch_uid="portal-send-survey")
def send_survey_on_resolution(sender: Any, activity: Any, **kwargs: Any) -> None:
    if activity.kind != ActivityKind.STATE:
        return
    if (activity.subject_type, (activity.data or {}).get("to")) not in SURVEY_TRIGGERS:
        return
    from opsdesk.portal.actions import send_survey

    subject = (
        subject_model(activity.subject_type)._base_manager.filter(pk=activity.subject_id).first()
    )
    if subject is not None:
        send_survey(subject, at=activity.at)
