"""The CAB pages, the policy editor and the change page's Approvals section."""

from __future__ import annotations

import pytest
from django.urls import reverse

from opsdesk.changes import approvals as engine
from opsdesk.changes import cab
from opsdesk.changes.choices import ChangeState
from opsdesk.changes.models import ApprovalPolicy, CabMeeting
from opsdesk.changes.sections import sections_for
from opsdesk.changes.tests.approvals_helpers import person, policy, to_authorise
from opsdesk.changes.tests.factories import when

pytestmark = pytest.mark.django_db


def _login(client, user):
    client.force_login(user)
    return client


def test_my_approvals_queue_lists_and_decides(cast, client):
    c = to_authorise(cast, change_manager=cast.manager)
    page = _login(client, cast.manager).get(reverse("cab-home"))
    assert page.status_code == 200
    assert c.number.encode() in page.content and b"My approvals" in page.content
    [approval] = engine.outstanding(c)
    url = reverse("cab-approval-decide", args=[approval.pk, "approve"])
    resp = client.post(url, {"comment": "ok", "next": reverse("cab-home")})
    assert resp.status_code == 302 and resp["Location"] == reverse("cab-home")
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED


def test_rejecting_without_a_reason_is_reported_not_applied(cast, client):
    c = to_authorise(cast, change_manager=cast.manager)
    [approval] = engine.outstanding(c)
    _login(client, cast.manager)
    url = reverse("cab-approval-decide", args=[approval.pk, "reject"])
    resp = client.post(url, {"comment": "", "next": "https://evil.example/"}, follow=True)
    assert b"Say why" in resp.content
    assert resp.redirect_chain[0][0] != "https://evil.example/"
    c.refresh_from_db()
    assert c.state == ChangeState.AUTHORISE


def test_someone_elses_approval_is_forbidden(cast, client):
    c = to_authorise(cast, change_manager=cast.manager)
    [approval] = engine.outstanding(c)
    resp = _login(client, person(cast, "Olu Other")).post(
        reverse("cab-approval-decide", args=[approval.pk, "approve"])
    )
    assert resp.status_code == 403


def test_pages_need_a_role_that_works_changes(cast, client):
    assert _login(client, cast.requester).get(reverse("cab-home")).status_code == 403
    assert _login(client, cast.auditor).get(reverse("cab-policies")).status_code == 200


def test_planning_a_meeting_and_deciding_on_its_page(cast, client):
    policy(cast, "CAB", [{"approver_kind": "cab"}])
    c = to_authorise(cast)
    _login(client, cast.manager)
    resp = client.post(
        reverse("cab-meeting-new"),
        {
            "title": "Weekly CAB",
            "kind": "cab",
            "starts_at": when(1, 14).strftime("%Y-%m-%dT%H:%M"),
            "ends_at": when(1, 15).strftime("%Y-%m-%dT%H:%M"),
            "chair": cast.manager.pk,
            "members": [cast.agent.pk],
        },
    )
    meeting = CabMeeting.objects.get(title="Weekly CAB")
    assert resp["Location"] == reverse("cab-meeting", args=[meeting.pk])
    client.post(reverse("cab-meeting-agenda", args=[meeting.pk]))
    client.post(reverse("cab-meeting-move", args=[meeting.pk, "start"]))
    page = client.get(reverse("cab-meeting", args=[meeting.pk]))
    assert c.number.encode() in page.content and b"Approve " in page.content
    [item] = cab.agenda(meeting)
    client.post(
        reverse("cab-item-decision", args=[meeting.pk, item.pk]),
        {"decision": "approved", "notes": "Agreed"},
    )
    c.refresh_from_db()
    assert c.state == ChangeState.SCHEDULED
    page = client.get(reverse("cab-meeting", args=[meeting.pk]))
    assert b"Agreed" in page.content and b"1 approved" in page.content


def test_another_organisations_meeting_is_not_found(cast, client):
    meeting = cab.create_meeting(
        acting_user=cast.admin_b,
        organization=cast.org_b,
        title="B",
        starts_at=when(1),
        ends_at=when(1, 11),
    )
    assert (
        _login(client, cast.admin).get(reverse("cab-meeting", args=[meeting.pk])).status_code == 404
    )


def test_the_policy_editor(cast, client):
    ann = person(cast, "Ann One")
    _login(client, cast.manager)
    resp = client.post(
        reverse("cab-policy-new"),
        {
            "new-name": "Security review",
            "new-order": "20",
            "new-change_types": ["normal"],
            "new-risk_classes": ["high"],
            "new-is_active": "on",
            "newstep-approver_kind": "users",
            "newstep-users": [ann.pk],
            "newstep-quorum": "1",
        },
    )
    assert resp.status_code == 302
    made = ApprovalPolicy.objects.get(name="Security review")
    assert made.risk_classes == ["high"] and made.steps.get().users.get() == ann
    client.post(
        reverse("cab-policy-step-add", args=[made.pk]),
        {f"s{made.pk}-approver_kind": "cab", f"s{made.pk}-quorum": "1"},
    )
    assert made.steps.count() == 2
    page = client.get(reverse("cab-policies"))
    assert b"Security review" in page.content and b"a CAB meeting" in page.content
    # Errors are reported, naming the field.
    resp = client.post(
        reverse("cab-policy-step-add", args=[made.pk]),
        {f"s{made.pk}-approver_kind": "team", f"s{made.pk}-quorum": "1"},
        follow=True,
    )
    assert b"team: A team step needs a team." in resp.content
    agent = _login(client, cast.agent)
    assert (
        agent.post(
            reverse("cab-policy-step-add", args=[made.pk]),
            {f"s{made.pk}-approver_kind": "cab", f"s{made.pk}-quorum": "1"},
        ).status_code
        == 403
    )


def test_the_change_page_section_shows_steps_and_buttons_for_the_approver(cast, rf):
    c = to_authorise(cast, change_manager=cast.manager)
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = cast.manager
    [section] = [s for s in sections_for(cast.manager, c) if s.title == "Approvals"]
    assert section.order == 40
    html = render_to_string(section.template, section.context, request)
    assert "Mandla Manager" in html and ">Approve</button>" in html
    request.user = cast.agent
    [section] = [s for s in sections_for(cast.agent, c) if s.title == "Approvals"]
    html = render_to_string(section.template, section.context, request)
    assert "Mandla Manager" in html and ">Approve</button>" not in html
    assert [s for s in sections_for(cast.requester, c) if s.title == "Approvals"] == []
