"""The agent and approver pages of service requests and the catalogue admin."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from opsdesk.catalog.models import Approval, CatalogItem, FulfilmentTask
from opsdesk.catalog.tests.factories import catalog_item, order

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def test_request_page_shows_steps_tasks_and_the_whole_timeline_to_agents(cast):
    item = catalog_item(
        cast.org_a,
        approval_steps=[
            {"kind": "users", "user_ids": [cast.manager.pk], "label": "Budget holder"},
            {"kind": "group", "team_id": cast.team_a.pk},
        ],
        tasks=[{"title": "Image the laptop", "team_id": cast.team_a.pk}],
    )
    req = order(cast.requester, item)
    agent = client_for(cast.agent)
    listing = text(agent.get(reverse("catalog-requests")))
    assert req.number in listing
    page = text(agent.get(reverse("catalog-request", args=[req.pk])))
    assert "Step 1: Budget holder" in page and "Step 2: Approval by Service Desk A" in page
    assert "Waiting" in page and "Later" in page
    agent.post(
        reverse("catalog-request-comment", args=[req.pk]),
        {"body": "Ordered", "visibility": "internal"},
    )
    assert "Ordered" in text(agent.get(reverse("catalog-request", args=[req.pk])))
    assert "Ordered" not in text(
        client_for(cast.requester).get(reverse("catalog-request", args=[req.pk]))
    )


def test_my_approvals_then_task_queue_fulfils(cast):
    item = catalog_item(
        cast.org_a,
        approval_steps=[{"kind": "users", "user_ids": [cast.manager.pk]}],
        tasks=[{"title": "Image the laptop", "team_id": cast.team_a.pk}],
    )
    req = order(cast.requester, item)
    manager = client_for(cast.manager)
    page = text(manager.get(reverse("catalog-approvals")))
    assert req.number in page and "Standard" in page
    approval = Approval.objects.get()
    resp = manager.post(
        reverse("catalog-approval-decide", args=[approval.pk]), {"decision": "reject"}
    )
    approval.refresh_from_db()
    assert approval.state == "requested"  # a rejection needs a comment
    manager.post(reverse("catalog-approval-decide", args=[approval.pk]), {"decision": "approve"})
    approval.refresh_from_db()
    assert approval.state == "approved"
    agent = client_for(cast.agent)
    queue = text(agent.get(reverse("catalog-tasks")))
    assert "Image the laptop" in queue
    task = FulfilmentTask.objects.get()
    agent.post(reverse("catalog-task-action", args=[task.pk]), {"action": "take"})
    agent.post(reverse("catalog-task-action", args=[task.pk]), {"action": "complete"})
    req.refresh_from_db()
    assert req.state == "fulfilled"
    resp = agent.post(reverse("catalog-task-action", args=[task.pk]), {"action": "start"})
    assert resp.status_code == 302  # refused with a message, not a crash
    assert client_for(cast.requester).get(reverse("catalog-tasks")).status_code == 403


def test_other_organisation_is_404(cast):
    item_b = catalog_item(
        cast.org_b, "B laptop", approval_steps=[{"kind": "users", "user_ids": [cast.admin_b.pk]}]
    )
    req_b = order(cast.admin_b, item_b)
    admin = client_for(cast.admin)
    assert admin.get(reverse("catalog-request", args=[req_b.pk])).status_code == 404
    assert admin.get(reverse("catalog-item-edit", args=[item_b.pk])).status_code == 404
    approval = Approval.objects.get()
    resp = admin.post(
        reverse("catalog-approval-decide", args=[approval.pk]), {"decision": "approve"}
    )
    assert resp.status_code == 404


def test_catalogue_editor_checks_live_and_saves(cast):
    admin = client_for(cast.admin)
    assert admin.get(reverse("catalog-item-new")).status_code == 200
    form = [{"name": "system", "label": "System", "type": "choice", "choices": ["CRM"]}]
    data = {
        "name": "CRM access",
        "category": "Access",
        "delivery_days": "2",
        "active": "on",
        "form": json.dumps(form),
        "approval_steps": '[{"kind": "manager"}]',
        "tasks": '[{"title": "Grant", "team_id": 999999}]',
    }
    resp = admin.post(reverse("catalog-item-new"), data, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    assert "tasks.0.team_id" in text(resp) and "<h2>Checks</h2>" in text(resp)
    assert "<select" in text(resp) and "CRM" in text(resp)  # the preview
    resp = admin.post(reverse("catalog-item-new"), {**data, "form": "[{"}, HTTP_HX_REQUEST="true")
    assert "Not valid JSON" in text(resp)
    resp = admin.post(reverse("catalog-item-new"), data)
    assert resp.status_code == 422 and not CatalogItem.objects.exists()
    data["tasks"] = json.dumps([{"title": "Grant", "team_id": cast.team_a.pk}])
    resp = admin.post(reverse("catalog-item-new"), data)
    assert resp.status_code == 302
    item = CatalogItem.objects.get()
    assert item.form == form and item.delivery_days == 2
    assert (
        client_for(cast.agent).get(reverse("catalog-item-edit", args=[item.pk])).status_code == 403
    )
    resp = admin.post(
        reverse("catalog-item-edit", args=[item.pk]), {**data, "name": "CRM and ERP access"}
    )
    item.refresh_from_db()
    assert item.name == "CRM and ERP access"
