"""The requester portal: raising incidents and requests, seeing only one's own tickets and
only their public timeline, commenting, closing/reopening, and the satisfaction survey."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from opsdesk.catalog.models import Approval, ServiceRequest
from opsdesk.catalog.tests.factories import catalog_item, order
from opsdesk.cmdb.tests.factories import ci
from opsdesk.portal.models import Survey
from opsdesk.servicedesk import actions as desk_actions
from opsdesk.servicedesk.models import Attachment, Incident

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def _incident(cast, title="Printer jammed", requester=None):  # type: ignore[no-untyped-def]
    return desk_actions.create_incident(
        acting_user=requester or cast.requester, organization=cast.org_a, title=title
    )


def test_report_a_problem_raises_a_portal_incident_with_files(cast):
    service = ci(cast.org_a, "Email", "business_service")
    client = client_for(cast.requester)
    assert client.get(reverse("portal-report")).status_code == 200
    resp = client.post(
        reverse("portal-report"),
        {
            "title": "Outlook keeps crashing",
            "description": "Since this morning",
            "service": str(service.pk),
            "urgency": "2",
            "files": [SimpleUploadedFile("shot.png", b"\x89PNG....", content_type="image/png")],
        },
    )
    incident = Incident.objects.get(title="Outlook keeps crashing")
    assert resp.status_code == 302 and resp["Location"] == reverse(
        "portal-incident", args=[incident.pk]
    )
    assert incident.channel == "portal" and incident.requester == cast.requester
    assert incident.service == service and incident.urgency == 2
    assert Attachment.objects.filter(subject_id=incident.pk, filename="shot.png").exists()
    page = client.get(resp["Location"])
    assert "shot.png" in text(page)


def test_report_errors_are_shown_next_to_the_field_and_nothing_is_created(cast):
    client = client_for(cast.requester)
    resp = client.post(
        reverse("portal-report"),
        {
            "title": "Bad file",
            "urgency": "3",
            "files": [SimpleUploadedFile("x.exe", b"MZ", content_type="application/x-msdownload")],
        },
    )
    assert resp.status_code == 422
    assert "files of type application/x-msdownload are not allowed" in text(resp)
    assert not Incident.objects.filter(title="Bad file").exists()
    resp = client.post(reverse("portal-report"), {"title": " ", "urgency": "9"})
    assert resp.status_code == 422
    assert 'id="r-title-error"' in text(resp)


def test_requester_sees_only_own_tickets_and_no_work_notes(cast):
    mine = _incident(cast)
    desk_actions.add_comment(acting_user=cast.agent, subject=mine, body="Public reply")
    desk_actions.add_comment(
        acting_user=cast.agent, subject=mine, body="Secret work note", public=False
    )
    theirs = _incident(cast, "Agents own laptop", requester=cast.agent)
    client = client_for(cast.requester)
    page = text(client.get(reverse("portal-incident", args=[mine.pk])))
    assert "Public reply" in page and "Secret work note" not in page
    assert client.get(reverse("portal-incident", args=[theirs.pk])).status_code == 404
    listing = text(client.get(reverse("portal-tickets")))
    assert mine.number in listing and theirs.number not in listing
    # Even an agent sees only the public timeline in the portal.
    own_as_agent = text(client_for(cast.agent).get(reverse("portal-incident", args=[theirs.pk])))
    assert "Agents own laptop" in own_as_agent


def test_tickets_of_another_organisation_are_404(cast):
    b_incident = desk_actions.create_incident(
        acting_user=cast.admin_b, organization=cast.org_b, title="B's"
    )
    client = client_for(cast.admin_b)
    assert client.get(reverse("portal-incident", args=[b_incident.pk])).status_code == 200
    for user in (cast.requester, cast.admin):
        client = client_for(user)
        assert client.get(reverse("portal-incident", args=[b_incident.pk])).status_code == 404
        resp = client.post(reverse("portal-incident-comment", args=[b_incident.pk]), {"body": "x"})
        assert resp.status_code == 404
    item_b = catalog_item(cast.org_b, "B laptop")
    assert (
        client_for(cast.requester).get(reverse("portal-order", args=[item_b.pk])).status_code == 404
    )


def test_comment_and_attachment_on_own_ticket(cast):
    mine = _incident(cast)
    client = client_for(cast.requester)
    resp = client.post(
        reverse("portal-incident-comment", args=[mine.pk]),
        {
            "body": "Still happening",
            "files": [SimpleUploadedFile("log.txt", b"error 42", content_type="text/plain")],
        },
    )
    assert resp.status_code == 302
    page = text(client.get(reverse("portal-incident", args=[mine.pk])))
    assert "Still happening" in page and "log.txt" in page
    attachment = Attachment.objects.get(filename="log.txt")
    download = client.get(reverse("portal-attachment", args=[attachment.pk]))
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"error 42"
    assert (
        client_for(cast.auditor).get(reverse("portal-attachment", args=[attachment.pk])).status_code
        == 404
    )


def test_reopen_and_close_a_resolved_incident(cast):
    mine = _incident(cast)
    desk_actions.transition_incident(
        acting_user=cast.agent,
        incident=mine,
        transition="resolve",
        resolution_code="solved_remotely",
        resolution_notes="Cleared the queue",
    )
    client = client_for(cast.requester)
    page = text(client.get(reverse("portal-incident", args=[mine.pk])))
    assert "We think this is fixed" in page and "Cleared the queue" in page
    client.post(reverse("portal-incident-transition", args=[mine.pk]), {"transition": "reopen"})
    mine.refresh_from_db()
    assert mine.state == "resolved"  # a reason is needed
    client.post(
        reverse("portal-incident-transition", args=[mine.pk]),
        {"transition": "reopen", "reason": "Jammed again"},
    )
    mine.refresh_from_db()
    assert mine.state == "in_progress" and mine.reopen_count == 1
    client.post(reverse("portal-incident-transition", args=[mine.pk]), {"transition": "resolve"})
    mine.refresh_from_db()
    assert mine.state == "in_progress"  # not a requester transition
    desk_actions.transition_incident(
        acting_user=cast.agent,
        incident=mine,
        transition="resolve",
        resolution_code="solved_remotely",
        resolution_notes="Replaced the roller",
    )
    client.post(reverse("portal-incident-transition", args=[mine.pk]), {"transition": "close"})
    mine.refresh_from_db()
    assert mine.state == "closed"


def test_order_from_the_catalogue_shows_errors_next_to_each_field(cast):
    item = catalog_item(
        cast.org_a, approval_steps=[{"kind": "users", "user_ids": [cast.manager.pk]}]
    )
    client = client_for(cast.requester)
    listing = text(client.get(reverse("portal-catalog")))
    assert "New laptop" in listing and "Hardware" in listing
    resp = client.post(
        reverse("portal-order", args=[item.pk]),
        {"answers.model": "Gold", "answers.start_date": "", "quantity": "1"},
    )
    assert resp.status_code == 422
    page = text(resp)
    assert 'id="f-0-model-error">One of: Standard, Developer.' in page
    assert 'id="f-1-start_date-error">Required.' in page
    assert not ServiceRequest.objects.exists()
    resp = client.post(
        reverse("portal-order", args=[item.pk]),
        {"answers.model": "Developer", "answers.start_date": "2031-05-06", "quantity": "2"},
    )
    req = ServiceRequest.objects.get()
    assert resp["Location"] == reverse("portal-request", args=[req.pk])
    page = text(client.get(resp["Location"]))
    assert "Waiting for approval from Mandla Manager" in page and "New laptop x2" in page


def test_request_page_shows_public_timeline_only(cast):
    item = catalog_item(
        cast.org_a, tasks=[{"title": "Image the laptop", "team_id": cast.team_a.pk}]
    )
    req = order(cast.requester, item)
    desk_actions.add_comment(
        acting_user=cast.agent, subject=req, body="Internal only", public=False
    )
    desk_actions.add_comment(acting_user=cast.agent, subject=req, body="On its way")
    page = text(client_for(cast.requester).get(reverse("portal-request", args=[req.pk])))
    assert "On its way" in page and "Internal only" not in page
    assert "Image the laptop" not in page  # tasks are internal
    other = order(cast.agent, item)
    assert (
        client_for(cast.requester).get(reverse("portal-request", args=[other.pk])).status_code
        == 404
    )


def test_survey_answered_once_from_the_ticket_page(cast, django_capture_on_commit_callbacks):
    mine = _incident(cast)
    with django_capture_on_commit_callbacks(execute=True):
        desk_actions.transition_incident(
            acting_user=cast.agent,
            incident=mine,
            transition="resolve",
            resolution_code="solved_remotely",
            resolution_notes="Done",
        )
    survey = Survey.objects.get()
    client = client_for(cast.requester)
    assert "How did we do" in text(client.get(reverse("portal-home")))
    assert "How did we do?" in text(client.get(reverse("portal-incident", args=[mine.pk])))
    assert (
        client_for(cast.agent)
        .post(reverse("portal-survey-answer", args=[survey.pk]), {"rating": "1"})
        .status_code
        == 404
    )
    client.post(
        reverse("portal-survey-answer", args=[survey.pk]), {"rating": "5", "comment": "Quick!"}
    )
    survey.refresh_from_db()
    assert survey.rating == 5 and survey.comment == "Quick!" and survey.answered_at
    client.post(reverse("portal-survey-answer", args=[survey.pk]), {"rating": "1"})
    survey.refresh_from_db()
    assert survey.rating == 5
    page = text(client.get(reverse("portal-incident", args=[mine.pk])))
    assert "You rated this <strong>5/5</strong>" in page and "rated it 5/5" in page


def test_approver_who_is_a_requester_decides_from_my_approvals(cast):
    from opsdesk.core.permissions import Role
    from opsdesk.core.testing.factories import member

    lina = member(cast.org_a, Role.REQUESTER, email="lina@a.test", full_name="Lina Lead")
    item = catalog_item(cast.org_a, approval_steps=[{"kind": "users", "user_ids": [lina.pk]}])
    req = order(cast.requester, item)
    client = client_for(lina)
    assert "1 request waiting for your approval" in text(client.get(reverse("portal-home")))
    page = text(client.get(reverse("catalog-approvals")))
    assert req.number in page and "Needed from" in page
    approval = Approval.objects.get()
    resp = client.post(
        reverse("catalog-approval-decide", args=[approval.pk]),
        {"decision": "approve", "next": "/portal/"},
    )
    assert resp["Location"] == "/portal/"
    approval.refresh_from_db()
    assert approval.state == "approved"
    req.refresh_from_db()
    assert req.state == "fulfilled"
