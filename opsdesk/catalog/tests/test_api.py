"""The catalogue and requests API: the whole flow through explicit operations, errors that
name the field, requesters seeing only their own, and workflow refusals as 409."""

from __future__ import annotations

import pytest

from opsdesk.catalog.models import Approval, CatalogItem, FulfilmentTask
from opsdesk.core.testing.api import ApiTest, assert_error

pytestmark = pytest.mark.django_db

FORM = [
    {
        "name": "system",
        "label": "System",
        "type": "choice",
        "required": True,
        "choices": ["CRM", "ERP"],
    },
    {"name": "start_date", "label": "From", "type": "date", "required": True},
]


class TestCatalogueAndRequests(ApiTest):
    def _create_item(self, **extra):
        body = {
            "organization_id": self.cast.org_a.pk,
            "name": "Software access",
            "category": "Access",
            "form": FORM,
            "approval_steps": [{"kind": "users", "user_ids": [self.cast.manager.pk]}],
            "tasks": [{"title": "Grant access", "team_id": self.cast.team_a.pk}],
            **extra,
        }
        return self.as_user(self.cast.admin).post("/catalog/items", body)

    def test_full_flow_through_the_api(self):
        resp = self._create_item()
        assert resp.status_code == 201, resp.content
        item_id = resp.json()["id"]
        requester = self.as_user(self.cast.requester)
        resp = requester.post(
            "/requests",
            {
                "organization_id": self.cast.org_a.pk,
                "items": [
                    {
                        "catalog_item_id": item_id,
                        "answers": {"system": "CRM", "start_date": "2031-02-03"},
                    }
                ],
            },
        )
        assert resp.status_code == 201, resp.content
        req = resp.json()
        assert req["number"].startswith("REQ") and req["state"] == "open"
        assert req["items"][0]["state"] == "awaiting_approval"
        assert [e["kind"] for e in req["timeline"]][:1] == ["created"]

        approvals = self.as_user(self.cast.manager).get("/approvals").json()["items"]
        assert [a["request_id"] for a in approvals] == [req["id"]]
        assert self.as_user(self.cast.agent).get("/approvals").json()["items"] == []
        resp = self.as_user(self.cast.manager).post(
            f"/approvals/{approvals[0]['id']}/approve", {"comment": "Fine"}
        )
        assert resp.status_code == 200 and resp.json()["state"] == "approved"
        resp = self.as_user(self.cast.manager).post(f"/approvals/{approvals[0]['id']}/approve", {})
        assert_error(resp, 409, "state")

        tasks = self.as_user(self.cast.agent).get("/tasks", {"my_teams": True}).json()["items"]
        assert len(tasks) == 1 and tasks[0]["state"] == "open"
        assert self.as_user(self.cast.agent).get("/tasks", {"mine": True}).json()["total"] == 0
        task_id = tasks[0]["id"]
        resp = self.as_user(self.cast.agent).post(
            f"/tasks/{task_id}/assign", {"assignee_id": self.cast.auditor.pk}
        )
        assert_error(resp, 422, "assignee_id")
        resp = self.as_user(self.cast.agent).post(
            f"/tasks/{task_id}/assign", {"assignee_id": self.cast.agent.pk}
        )
        assert resp.json()["assignee_id"] == self.cast.agent.pk
        assert (
            self.as_user(self.cast.agent).post(f"/tasks/{task_id}/start").json()["state"]
            == "in_progress"
        )
        resp = self.as_user(self.cast.agent).post(
            f"/tasks/{task_id}/complete", {"notes": "Granted"}
        )
        assert resp.json()["state"] == "done"
        resp = self.as_user(self.cast.agent).post(f"/tasks/{task_id}/start")
        body = assert_error(resp, 409, "state")
        assert "none" in body["detail"]

        detail = requester.get(f"/requests/{req['id']}").json()
        assert detail["state"] == "fulfilled"
        assert detail["items"][0]["tasks"] == []  # tasks are internal work
        assert all(e["public"] for e in detail["timeline"])
        assert "fulfilled" in [e["data"].get("to") for e in detail["timeline"]]

    def test_answers_errors_name_the_item_and_field(self):
        item_id = self._create_item().json()["id"]
        resp = self.as_user(self.cast.requester).post(
            "/requests",
            {
                "organization_id": self.cast.org_a.pk,
                "items": [{"catalog_item_id": item_id, "answers": {"system": "SAP"}}],
            },
        )
        body = assert_error(resp, 422, "items.0.answers.system")
        assert "items.0.answers.start_date" in [e["field"] for e in body["errors"]]

    def test_bad_definition_is_refused_naming_the_place(self):
        resp = self._create_item(form=[{"name": "x", "label": "X", "type": "colour"}])
        assert_error(resp, 422, "form.0.type")
        resp = self._create_item(
            name="Other", tasks=[{"title": "t", "team_id": self.cast.team_b.pk}]
        )
        assert_error(resp, 422, "tasks.0.team_id")
        resp = self.as_user(self.cast.agent).post(
            "/catalog/items", {"organization_id": self.cast.org_a.pk, "name": "Mine"}
        )
        assert_error(resp, 403)

    def test_patch_keeps_requests_already_made(self):
        item_id = self._create_item().json()["id"]
        resp = self.as_user(self.cast.requester).post(
            "/requests",
            {
                "organization_id": self.cast.org_a.pk,
                "items": [
                    {
                        "catalog_item_id": item_id,
                        "answers": {"system": "ERP", "start_date": "2031-01-01"},
                    }
                ],
            },
        )
        assert resp.status_code == 201
        resp = self.as_user(self.cast.admin).patch(
            f"/catalog/items/{item_id}", {"approval_steps": [], "active": False}
        )
        assert resp.status_code == 200 and resp.json()["active"] is False
        assert Approval.objects.filter(state="requested").count() == 1
        resp = self.as_user(self.cast.requester).post(
            "/requests",
            {"organization_id": self.cast.org_a.pk, "items": [{"catalog_item_id": item_id}]},
        )
        assert_error(resp, 422, "items.0.catalog_item_id")
        assert CatalogItem.objects.get(pk=item_id).active is False

    def test_requesters_see_only_their_own_requests_and_cancel_them(self):
        item_id = self._create_item().json()["id"]
        answers = {"system": "ERP", "start_date": "2031-01-01"}
        other = (
            self.as_user(self.cast.agent)
            .post(
                "/requests",
                {
                    "organization_id": self.cast.org_a.pk,
                    "items": [{"catalog_item_id": item_id, "answers": answers}],
                },
            )
            .json()
        )
        mine = (
            self.as_user(self.cast.requester)
            .post(
                "/requests",
                {
                    "organization_id": self.cast.org_a.pk,
                    "items": [{"catalog_item_id": item_id, "answers": answers}],
                },
            )
            .json()
        )
        requester = self.as_user(self.cast.requester)
        assert [r["id"] for r in requester.get("/requests").json()["items"]] == [mine["id"]]
        assert_error(requester.get(f"/requests/{other['id']}"), 404)
        assert_error(requester.post(f"/requests/{mine['id']}/cancel", {}), 422, "reason")
        resp = requester.post(f"/requests/{mine['id']}/cancel", {"reason": "No longer needed"})
        assert resp.json()["state"] == "cancelled"
        assert_error(
            requester.post(f"/requests/{mine['id']}/cancel", {"reason": "x"}), 409, "state"
        )

    def test_comments_public_for_requesters_work_notes_for_agents(self):
        item_id = self._create_item().json()["id"]
        req = (
            self.as_user(self.cast.requester)
            .post(
                "/requests",
                {
                    "organization_id": self.cast.org_a.pk,
                    "items": [
                        {
                            "catalog_item_id": item_id,
                            "answers": {"system": "ERP", "start_date": "2031-01-01"},
                        }
                    ],
                },
            )
            .json()
        )
        requester = self.as_user(self.cast.requester)
        assert (
            requester.post(f"/requests/{req['id']}/comments", {"body": "Any news?"}).status_code
            == 201
        )
        assert_error(
            requester.post(f"/requests/{req['id']}/comments", {"body": "x", "public": False}), 403
        )
        agent = self.as_user(self.cast.agent)
        assert (
            agent.post(
                f"/requests/{req['id']}/comments", {"body": "Internal", "public": False}
            ).status_code
            == 201
        )
        bodies = [e["body"] for e in requester.get(f"/requests/{req['id']}").json()["timeline"]]
        assert "Any news?" in bodies and "Internal" not in bodies
        bodies = [e["body"] for e in agent.get(f"/requests/{req['id']}").json()["timeline"]]
        assert "Internal" in bodies

    def test_approver_with_requester_role_sees_and_decides(self):
        """A line manager is often only a requester in OpsDesk: they still approve."""
        from opsdesk.core.permissions import Role
        from opsdesk.core.testing.factories import member

        line_manager = member(self.cast.org_a, Role.REQUESTER, email="lm@a.test", full_name="Lina")
        item_id = self._create_item(
            approval_steps=[{"kind": "users", "user_ids": [line_manager.pk]}]
        ).json()["id"]
        req = (
            self.as_user(self.cast.agent)
            .post(
                "/requests",
                {
                    "organization_id": self.cast.org_a.pk,
                    "items": [
                        {
                            "catalog_item_id": item_id,
                            "answers": {"system": "ERP", "start_date": "2031-01-01"},
                        }
                    ],
                },
            )
            .json()
        )
        lm = self.as_user(line_manager)
        assert lm.get(f"/requests/{req['id']}").status_code == 200
        (approval,) = lm.get("/approvals").json()["items"]
        assert_error(lm.post(f"/approvals/{approval['id']}/reject", {}), 422, "comment")
        assert (
            lm.post(f"/approvals/{approval['id']}/reject", {"comment": "No"}).json()["state"]
            == "rejected"
        )
        assert (
            self.as_user(self.cast.agent).get(f"/requests/{req['id']}").json()["state"]
            == "closed_incomplete"
        )
        assert not FulfilmentTask.objects.exists()
