"""The role matrix through the API, and `restrict()` for the edge cases."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.core.models import AuditRecord, Organization
from opsdesk.core.permissions import Action, has_permission
from opsdesk.core.testing.api import ApiTest, assert_error
from opsdesk.core.testing.factories import member

pytestmark = pytest.mark.django_db


def _membership(user, org) -> Membership:
    return Membership.objects.get(user=user, organization=org)


class TestTeams(ApiTest):
    def _new(self, **fields):
        return {"organization_id": self.cast.org_a.pk, "name": "Database", **fields}

    @pytest.mark.parametrize("role", ["requester", "agent", "auditor"])
    def test_cannot_create(self, role):
        resp = self.as_user(getattr(self.cast, role)).post("/teams", self._new())
        body = assert_error(resp, 403)
        assert "team" in body["detail"]
        assert not Team.objects.filter(name="Database").exists()

    @pytest.mark.parametrize("role", ["manager", "admin"])
    def test_can_create_change_and_delete(self, role):
        api = self.as_user(getattr(self.cast, role))
        resp = api.post("/teams", self._new(manager_id=self.cast.manager.pk))
        assert resp.status_code == 201, resp.content
        team_id = resp.json()["id"]
        assert resp.json()["manager_id"] == self.cast.manager.pk
        resp = api.patch(f"/teams/{team_id}", {"member_ids": [self.cast.agent.pk]})
        assert resp.status_code == 200
        assert resp.json()["member_ids"] == [self.cast.agent.pk]
        assert api.delete(f"/teams/{team_id}").status_code == 204
        assert not Team.objects.filter(pk=team_id).exists()

    def test_agent_cannot_change_or_delete(self):
        api = self.as_user(self.cast.agent)
        assert_error(api.patch(f"/teams/{self.cast.team_a.pk}", {"name": "Mine"}), 403)
        assert_error(api.delete(f"/teams/{self.cast.team_a.pk}"), 403)
        assert Team.objects.get(pk=self.cast.team_a.pk).name == "Service Desk A"

    def test_requester_sees_no_teams(self):
        api = self.as_user(self.cast.requester)
        assert api.get("/teams").json()["total"] == 0
        assert_error(api.get(f"/teams/{self.cast.team_a.pk}"), 404)

    @pytest.mark.parametrize("role", ["agent", "manager", "auditor", "admin"])
    def test_other_roles_see_their_organisations_teams(self, role):
        items = self.as_user(getattr(self.cast, role)).get("/teams").json()["items"]
        assert [t["id"] for t in items] == [self.cast.team_a.pk]


class TestOrganizations(ApiTest):
    def _path(self):
        return f"/organizations/{self.cast.org_a.pk}"

    @pytest.mark.parametrize("role", ["requester", "agent", "manager", "auditor"])
    def test_only_admin_can_patch(self, role):
        resp = self.as_user(getattr(self.cast, role)).patch(self._path(), {"description": "x"})
        assert_error(resp, 403)
        assert Organization.objects.get(pk=self.cast.org_a.pk).description == ""

    def test_admin_can_patch(self):
        resp = self.as_user(self.cast.admin).patch(self._path(), {"description": "x"})
        assert resp.status_code == 200
        assert Organization.objects.get(pk=self.cast.org_a.pk).description == "x"

    @pytest.mark.parametrize("role", ["requester", "agent", "manager", "auditor", "admin"])
    def test_every_member_sees_their_organisation(self, role):
        api = self.as_user(getattr(self.cast, role))
        assert [o["id"] for o in api.get("/organizations").json()["items"]] == [self.cast.org_a.pk]
        assert api.get(self._path()).status_code == 200

    def test_non_superuser_cannot_create(self):
        resp = self.as_user(self.cast.admin).post("/organizations", {"name": "X", "slug": "x"})
        assert_error(resp, 403)
        assert not Organization.objects.filter(slug="x").exists()

    def test_superuser_can_create(self):
        root = User.objects.create_superuser("root@p.test", "pw-0123456789", full_name="Root")
        resp = self.as_user(root).post(
            "/organizations", {"name": "Lagos Ops", "slug": "lagos", "countries": ["NG"]}
        )
        assert resp.status_code == 201, resp.content
        assert resp.json()["countries"] == ["NG"]


class TestMemberships(ApiTest):
    def test_admin_adds_a_user_and_changes_roles(self):
        api = self.as_user(self.cast.admin)
        resp = api.post(
            "/users",
            {
                "organization_id": self.cast.org_a.pk,
                "email": "Newbie@Acme.com",
                "full_name": "New Bie",
                "role": "agent",
            },
        )
        assert resp.status_code == 201, resp.content
        membership_id = resp.json()["id"]
        user = User.objects.get(pk=resp.json()["user_id"])
        assert user.email == "newbie@acme.com"
        assert not user.has_usable_password()
        resp = api.patch(f"/memberships/{membership_id}", {"role": "manager"})
        assert resp.status_code == 200
        assert resp.json()["role"] == "manager"
        assert api.get(f"/users/{user.pk}").status_code == 200

    def _add(self, email: str):
        return self.as_user(self.cast.admin).post(
            "/users",
            {
                "organization_id": self.cast.org_a.pk,
                "email": email,
                "full_name": "Someone",
                "role": "agent",
            },
        )

    def test_adding_an_existing_member_is_409_naming_email(self):
        member(self.cast.org_a, "agent", email="dup@acme.com")
        assert_error(self._add("DUP@acme.com"), 409, "email")
        assert Membership.objects.filter(user__email="dup@acme.com").count() == 1

    def test_an_existing_user_of_b_is_added_to_a_without_a_second_account(self):
        shared = member(self.cast.org_b, "agent", email="shared@borealis.com")
        resp = self._add("Shared@Borealis.com")
        assert resp.status_code == 201, resp.content
        assert resp.json()["user_id"] == shared.pk
        assert User.objects.filter(email__iexact="shared@borealis.com").count() == 1

    @pytest.mark.parametrize("role", ["agent", "manager", "auditor"])
    def test_non_admins_cannot_add_or_change(self, role):
        api = self.as_user(getattr(self.cast, role))
        resp = api.post(
            "/users",
            {
                "organization_id": self.cast.org_a.pk,
                "email": "x@acme.com",
                "full_name": "X",
                "role": "admin",
            },
        )
        assert_error(resp, 403)
        mid = _membership(self.cast.requester, self.cast.org_a).pk
        assert_error(api.patch(f"/memberships/{mid}", {"role": "admin"}), 403)
        assert_error(api.delete(f"/memberships/{mid}"), 403)
        assert _membership(self.cast.requester, self.cast.org_a).role == "requester"

    def test_requester_sees_no_people_or_memberships(self):
        api = self.as_user(self.cast.requester)
        assert api.get("/users").json()["total"] == 0
        assert api.get("/memberships").json()["total"] == 0

    def test_last_admin_cannot_be_demoted(self):
        mid = _membership(self.cast.admin, self.cast.org_a).pk
        body = assert_error(
            self.as_user(self.cast.admin).patch(f"/memberships/{mid}", {"role": "agent"}),
            409,
            "role",
        )
        assert "admin" in body["detail"]
        assert _membership(self.cast.admin, self.cast.org_a).role == "admin"

    def test_last_admin_cannot_be_removed(self):
        mid = _membership(self.cast.admin, self.cast.org_a).pk
        assert_error(self.as_user(self.cast.admin).delete(f"/memberships/{mid}"), 409, "role")

    def test_an_admin_can_step_down_when_another_admin_exists(self):
        api = self.as_user(self.cast.admin)
        agent_mid = _membership(self.cast.agent, self.cast.org_a).pk
        assert api.patch(f"/memberships/{agent_mid}", {"role": "admin"}).status_code == 200
        mid = _membership(self.cast.admin, self.cast.org_a).pk
        resp = api.patch(f"/memberships/{mid}", {"role": "agent"})
        assert resp.status_code == 200
        # Now an agent: no more admin rights.
        assert_error(api.patch(f"/memberships/{agent_mid}", {"role": "requester"}), 403)

    def test_removing_a_member_takes_them_off_teams(self):
        api = self.as_user(self.cast.admin)
        mid = _membership(self.cast.agent, self.cast.org_a).pk
        assert api.delete(f"/memberships/{mid}").status_code == 204
        assert self.cast.agent.pk not in set(self.cast.team_a.members.values_list("pk", flat=True))
        # The agent can no longer see A.
        assert self.as_user(self.cast.agent).get("/teams").json()["total"] == 0


class TestRestrict:
    def test_superuser_sees_everything(self, cast):
        root = User.objects.create_superuser("root@p.test", "pw-0123456789", full_name="Root")
        assert set(Team.objects.restrict(root)) == {cast.team_a, cast.team_b}
        assert AuditRecord.objects.restrict(root).count() == AuditRecord.objects.count()
        assert has_permission(root, Team, Action.DELETE, cast.org_b.pk)

    def test_inactive_user_sees_nothing(self, cast):
        cast.admin.is_active = False
        assert not Team.objects.restrict(cast.admin).exists()
        assert not Organization.objects.restrict(cast.admin).exists()
        assert not User.objects.restrict(cast.admin).exists()
        assert not has_permission(cast.admin, Team, Action.VIEW, cast.org_a.pk)

    def test_inactive_superuser_sees_nothing(self, cast):
        root = User.objects.create_superuser("root@p.test", "pw-0123456789", full_name="Root")
        root.is_active = False
        assert not Team.objects.restrict(root).exists()

    @pytest.mark.parametrize("nobody", [None, AnonymousUser()])
    def test_anonymous_sees_nothing(self, cast, nobody):
        assert not Team.objects.restrict(nobody).exists()
        assert not Organization.objects.restrict(nobody).exists()
        assert not AuditRecord.objects.restrict(nobody).exists()
        assert not User.objects.restrict(nobody).exists()
        assert not has_permission(nobody, Team, Action.VIEW, cast.org_a.pk)

    def test_role_in_one_organisation_does_not_carry_to_another(self, cast):
        # The agent of B becomes a requester of A: sees B's team, not A's.
        Membership.objects.create(user=cast.agent_b, organization=cast.org_a, role="requester")
        assert list(Team.objects.restrict(cast.agent_b)) == [cast.team_b]
        assert has_permission(cast.agent_b, Team, Action.VIEW, cast.org_b.pk)
        assert not has_permission(cast.agent_b, Team, Action.VIEW, cast.org_a.pk)

    def test_inactive_organisation_is_invisible_to_its_members(self, cast):
        org = Organization.objects.get(pk=cast.org_a.pk)
        org.is_active = False
        org.save()
        fresh = User.objects.get(pk=cast.admin.pk)
        assert not Team.objects.restrict(fresh).exists()
        assert not Organization.objects.restrict(fresh).exists()

    def test_action_narrows(self, cast):
        assert Team.objects.restrict(cast.agent, Action.VIEW).exists()
        assert not Team.objects.restrict(cast.agent, Action.ADD).exists()
        assert Team.objects.restrict(cast.manager, Action.DELETE).exists()
        assert not AuditRecord.objects.restrict(cast.manager).exists()
        assert AuditRecord.objects.restrict(cast.auditor).exists()
