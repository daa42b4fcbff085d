"""The audit trail: one append-only record per create, update and delete of a business
object, with actor, request id and before/after; readable by auditors and admins only."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from opsdesk.accounts import actions as accounts_actions
from opsdesk.accounts.models import ApiToken, Membership, Team, User
from opsdesk.core import actions as core_actions
from opsdesk.core.audit import REDACTED
from opsdesk.core.context import acting_as
from opsdesk.core.models import AuditRecord, Organization
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db

RID = "req-audit-test-0001"


_MARK: dict[str, int] = {"pk": 0}


@pytest.fixture(autouse=True)
def _mark_after_setup(cast):
    """Records written while the cast was built are not the ones under test."""
    _MARK["pk"] = AuditRecord.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def records(**lookup) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(pk__gt=_MARK["pk"], **lookup).order_by("pk"))


def only_record(**lookup) -> AuditRecord:
    found = records(**lookup)
    assert len(found) == 1, [(r.action, r.object_type, r.changes) for r in found]
    return found[0]


@pytest.fixture
def root(db):
    return User.objects.create_superuser("root@platform.test", "pw-0123456789", full_name="Root")


# --- One record per create / update / delete ----------------------------------------------------


class TestTeamAudit:
    def test_create(self, cast):
        with acting_as(cast.manager, request_id=RID):
            team = accounts_actions.create_team(
                acting_user=cast.manager, organization=cast.org_a, name="Network"
            )
        rec = only_record(object_type="accounts.team", object_id=str(team.pk))
        assert rec.action == "create"
        assert rec.actor_id == cast.manager.pk
        assert rec.actor_email == "manager@a.test"
        assert rec.request_id == RID
        assert rec.organization_id == cast.org_a.pk
        assert rec.object_repr == "Network"
        assert rec.before is None
        assert rec.after["name"] == "Network"
        assert rec.changes["name"] == [None, "Network"]

    def test_update(self, cast):
        team = Team.objects.get(pk=cast.team_a.pk)
        with acting_as(cast.admin, request_id=RID):
            accounts_actions.update_team(acting_user=cast.admin, team=team, description="24x7")
        rec = only_record(object_type="accounts.team", object_id=str(team.pk), action="update")
        assert rec.actor_id == cast.admin.pk
        assert rec.request_id == RID
        assert rec.changes == {"description": ["", "24x7"]}
        assert rec.before["description"] == ""
        assert rec.after["description"] == "24x7"
        assert rec.before["name"] == rec.after["name"] == "Service Desk A"

    def test_update_without_change_writes_nothing(self, cast):
        team = Team.objects.get(pk=cast.team_a.pk)
        before = AuditRecord.objects.count()
        accounts_actions.update_team(acting_user=cast.admin, team=team, description="")
        assert AuditRecord.objects.count() == before

    def test_delete(self, cast):
        team = Team.objects.get(pk=cast.team_a.pk)
        pk = team.pk
        with acting_as(cast.manager, request_id=RID):
            accounts_actions.delete_team(acting_user=cast.manager, team=team)
        rec = only_record(object_type="accounts.team", object_id=str(pk), action="delete")
        assert rec.actor_id == cast.manager.pk
        assert rec.request_id == RID
        assert rec.after is None
        assert rec.before["name"] == "Service Desk A"
        assert rec.changes["name"] == ["Service Desk A", None]

    def test_member_changes_are_audited(self, cast):
        team = Team.objects.get(pk=cast.team_a.pk)
        old = sorted([cast.agent.pk, cast.manager.pk])
        with acting_as(cast.admin, request_id=RID):
            accounts_actions.update_team(
                acting_user=cast.admin, team=team, members=[cast.agent, cast.auditor]
            )
        new = sorted([cast.agent.pk, cast.auditor.pk])
        # set() removes then adds: each step is recorded, together they lead from old to new.
        found = records(object_type="accounts.team", object_id=str(team.pk), action="update")
        assert found
        assert found[0].before == {"members": old}
        assert found[-1].after == {"members": new}
        for rec, following in pairwise(found):
            assert rec.after == following.before
        for rec in found:
            assert set(rec.changes) == {"members"}
            assert rec.actor_id == cast.admin.pk
            assert rec.request_id == RID

    def test_members_added_and_removed_one_by_one(self, cast):
        team = Team.objects.get(pk=cast.team_a.pk)
        with acting_as(cast.admin):
            team.members.add(cast.auditor)
            team.members.remove(cast.agent)
        found = records(object_type="accounts.team", object_id=str(team.pk), action="update")
        assert [r.changes["members"][1] for r in found] == [
            sorted([cast.agent.pk, cast.manager.pk, cast.auditor.pk]),
            sorted([cast.manager.pk, cast.auditor.pk]),
        ]

    def test_queryset_delete_is_audited_row_by_row(self, cast):
        with acting_as(cast.admin):
            Team.objects.filter(pk__in=[cast.team_a.pk, cast.team_b.pk]).delete()
        assert len(records(object_type="accounts.team", action="delete")) == 2


class TestOrganizationAudit:
    def test_create(self, root):
        with acting_as(root, request_id=RID):
            org = core_actions.create_organization(
                acting_user=root, name="Cape Ops", slug="cape-ops", countries=["ZA"]
            )
        rec = only_record(object_type="core.organization", object_id=str(org.pk))
        assert rec.action == "create"
        assert rec.actor_id == root.pk
        assert rec.request_id == RID
        assert rec.organization_id == org.pk
        assert rec.after["countries"] == ["ZA"]
        assert rec.before is None

    def test_update(self, cast):
        org = Organization.objects.get(pk=cast.org_a.pk)
        with acting_as(cast.admin, request_id=RID):
            core_actions.update_organization(
                acting_user=cast.admin, organization=org, countries=["ZA", "KE"]
            )
        rec = only_record(object_type="core.organization", object_id=str(org.pk), action="update")
        assert rec.changes == {"countries": [["ZA", "KE", "NG"], ["ZA", "KE"]]}
        assert rec.actor_id == cast.admin.pk
        assert rec.request_id == RID

    def test_delete(self, root):
        org = Organization.objects.create(name="Short-lived", slug="short-lived")
        pk = org.pk
        with acting_as(root, request_id=RID):
            Organization.objects.get(pk=pk).delete()
        rec = only_record(object_type="core.organization", object_id=str(pk), action="delete")
        assert rec.actor_id == root.pk
        assert rec.request_id == RID
        assert rec.before["name"] == "Short-lived"
        assert rec.after is None


class TestMembershipAudit:
    def test_create_update_delete(self, cast):
        with acting_as(cast.admin, request_id=RID):
            m = accounts_actions.add_user(
                acting_user=cast.admin,
                organization=cast.org_a,
                email="new@a.test",
                full_name="New Person",
                role="agent",
            )
        created = only_record(object_type="accounts.membership", object_id=str(m.pk))
        assert created.action == "create"
        assert created.after["role"] == "agent"
        assert created.after["organization"] == cast.org_a.pk
        assert created.organization_id == cast.org_a.pk
        assert created.request_id == RID
        assert created.actor_id == cast.admin.pk

        m = Membership.objects.get(pk=m.pk)
        with acting_as(cast.admin, request_id="req-audit-test-0002"):
            accounts_actions.change_role(acting_user=cast.admin, membership=m, role="manager")
        updated = only_record(object_type="accounts.membership", action="update")
        assert updated.changes == {"role": ["agent", "manager"]}
        assert updated.request_id == "req-audit-test-0002"

        m = Membership.objects.get(pk=m.pk)
        accounts_actions.remove_membership(acting_user=cast.admin, membership=m)
        deleted = only_record(object_type="accounts.membership", action="delete")
        assert deleted.before["role"] == "manager"
        assert deleted.actor_id == cast.admin.pk
        assert deleted.request_id  # a fresh id when none was given


def test_unattributed_changes_are_recorded_as_system(db):
    org = Organization.objects.create(name="Nightly", slug="nightly")
    rec = only_record(object_type="core.organization", object_id=str(org.pk))
    assert rec.actor_id is None
    assert rec.actor_email == "system"


# --- Secrets never reach the trail ----------------------------------------------------------


def test_passwords_are_redacted_and_their_change_is_still_recorded(cast):
    with acting_as(cast.admin):
        m = accounts_actions.add_user(
            acting_user=cast.admin,
            organization=cast.org_a,
            email="pw@a.test",
            full_name="Pass Word",
            role="agent",
            password="s3cret-Passw0rd!",
        )
    user = User.objects.get(pk=m.user_id)
    created = only_record(object_type="accounts.user", object_id=str(user.pk))
    assert created.after["password"] == REDACTED
    user.set_password("an0ther-Passw0rd!")
    user.save()
    changed = only_record(object_type="accounts.user", object_id=str(user.pk), action="update")
    assert changed.changes == {"password": [REDACTED, REDACTED]}
    dumped = json.dumps([r.after for r in records(object_type="accounts.user")])
    assert "argon2" not in dumped
    assert "s3cret" not in dumped
    assert user.password.startswith("argon2")


def test_token_secrets_and_hashes_never_appear(cast, client):
    resp = ApiClient(client, cast.admin).post("/tokens", {"name": "ci"})
    assert resp.status_code == 201
    raw = resp.json()["token"]
    token = ApiToken.objects.get(pk=resp.json()["id"])
    ApiClient(client, cast.admin).delete(f"/tokens/{token.pk}")
    trail = records(object_type="accounts.apitoken")
    assert {r.action for r in trail} >= {"create", "update"}
    dumped = json.dumps([[r.before, r.after, r.changes, r.object_repr] for r in trail])
    assert token.key_hash not in dumped
    assert "key_hash" not in dumped
    assert raw not in dumped
    assert raw[8:20] not in dumped  # no part of the secret beyond the shown prefix


# --- Append-only ----------------------------------------------------------------------------


@pytest.fixture
def record(cast):
    return AuditRecord.objects.filter(organization_id=cast.org_a.pk).latest("pk")


class TestAppendOnly:
    def test_model_save_of_an_existing_record_raises(self, record):
        record.action = "delete"
        with pytest.raises(TypeError):
            record.save()

    def test_model_delete_raises(self, record):
        with pytest.raises(TypeError):
            record.delete()

    def test_queryset_update_and_delete_raise(self, record):
        with pytest.raises(TypeError):
            AuditRecord.objects.filter(pk=record.pk).update(action="delete")
        with pytest.raises(TypeError):
            AuditRecord.objects.filter(pk=record.pk).delete()
        with pytest.raises(TypeError):
            AuditRecord.objects.bulk_update([record], ["action"])

    def test_records_are_unchanged_after_the_attempts(self, record):
        snapshot = AuditRecord.objects.filter(pk=record.pk).values().get()
        for attempt in (
            lambda: record.save(),
            lambda: record.delete(),
            lambda: AuditRecord.objects.all().update(object_repr="x"),
            lambda: AuditRecord.objects.all().delete(),
        ):
            with pytest.raises(TypeError):
                attempt()
        assert AuditRecord.objects.filter(pk=record.pk).values().get() == snapshot

    def test_database_refuses_raw_update(self, record):
        table = AuditRecord._meta.db_table
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET action = %s WHERE id = %s", ["delete", record.pk])
        assert AuditRecord.objects.get(pk=record.pk).action == record.action

    @pytest.mark.skipif(
        connection.vendor != "postgresql", reason="DELETE is refused by trigger on PostgreSQL"
    )
    def test_database_refuses_raw_delete_on_postgresql(self, record):
        table = AuditRecord._meta.db_table
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table} WHERE id = %s", [record.pk])
        assert AuditRecord.objects.filter(pk=record.pk).exists()

    def test_change_logged_querysets_refuse_bulk_writes(self, cast):
        with pytest.raises(TypeError):
            Team.objects.filter(pk=cast.team_a.pk).update(name="Sneaky")
        with pytest.raises(TypeError):
            Organization.objects.all().update(is_active=False)
        with pytest.raises(TypeError):
            User.objects.all().update(full_name="x")
        with pytest.raises(TypeError):
            Team.objects.bulk_update([cast.team_a], ["name"])
        with pytest.raises(TypeError):
            Team.objects.bulk_create([Team(organization=cast.org_a, name="Bulk", slug="bulk")])
        assert Team.objects.get(pk=cast.team_a.pk).name == "Service Desk A"
        assert not Team.objects.filter(slug="bulk").exists()


# --- Reading the trail through the API ----------------------------------------------------------


def _make_history(cast, client) -> dict:
    """A change in A (through the API) and one in B; returns the A response's request id."""
    resp = ApiClient(client, cast.admin).patch(
        f"/teams/{cast.team_a.pk}", {"description": "A's change"}, HTTP_X_REQUEST_ID=RID
    )
    assert resp.status_code == 200
    assert resp["X-Request-ID"] == RID
    resp_b = ApiClient(client, cast.admin_b).patch(
        f"/teams/{cast.team_b.pk}", {"description": "B's change"}
    )
    assert resp_b.status_code == 200
    return {"rid_a": RID, "rid_b": resp_b["X-Request-ID"]}


class TestAuditApi:
    def test_auditor_reads_a_and_never_b(self, cast, client):
        ids = _make_history(cast, client)
        items = ApiClient(client, cast.auditor).all_items("/audit")
        assert items
        assert {i["organization_id"] for i in items} == {cast.org_a.pk}
        change = next(i for i in items if i["request_id"] == ids["rid_a"])
        assert change["changes"] == {"description": ["", "A's change"]}
        assert change["actor_email"] == "admin@a.test"
        assert change["actor_id"] == cast.admin.pk
        assert change["before"]["description"] == ""
        assert change["after"]["description"] == "A's change"
        assert all(i["request_id"] != ids["rid_b"] for i in items)

    def test_admin_reads_a_only(self, cast, client):
        _make_history(cast, client)
        items = ApiClient(client, cast.admin).all_items("/audit")
        assert items
        assert {i["organization_id"] for i in items} == {cast.org_a.pk}

    @pytest.mark.parametrize("role", ["agent", "requester", "manager"])
    def test_other_roles_get_an_empty_list(self, cast, client, role):
        _make_history(cast, client)
        resp = ApiClient(client, getattr(cast, role)).get("/audit")
        assert resp.status_code == 200
        assert resp.json() == {"items": [], "total": 0, "limit": 50, "offset": 0}

    def test_single_record_of_b_is_404_for_the_auditor_of_a(self, cast, client):
        _make_history(cast, client)
        rec_b = AuditRecord.objects.filter(organization_id=cast.org_b.pk).latest("pk")
        rec_a = AuditRecord.objects.filter(organization_id=cast.org_a.pk).latest("pk")
        auditor = ApiClient(client, cast.auditor)
        assert_error(auditor.get(f"/audit/{rec_b.pk}"), 404)
        resp = auditor.get(f"/audit/{rec_a.pk}")
        assert resp.status_code == 200
        assert resp.json()["id"] == rec_a.pk
        assert_error(ApiClient(client, cast.agent).get(f"/audit/{rec_a.pk}"), 404)

    def test_filters(self, cast, client):
        ids = _make_history(cast, client)
        api = ApiClient(client, cast.auditor)

        def got(**params) -> list[dict]:
            resp = api.get("/audit", params)
            assert resp.status_code == 200, resp.content
            return resp.json()["items"]

        by_type = got(object_type="accounts.team")
        assert by_type and all(i["object_type"] == "accounts.team" for i in by_type)
        by_action = got(action="update")
        assert by_action and all(i["action"] == "update" for i in by_action)
        assert all(i["action"] == "create" for i in got(action="create"))
        by_actor = got(actor="admin@a")
        assert by_actor and all(i["actor_email"] == "admin@a.test" for i in by_actor)
        by_request = got(request_id=ids["rid_a"])
        assert [i["object_type"] for i in by_request] == ["accounts.team"]
        assert got(request_id=ids["rid_b"]) == []
        everything = got(limit=500)
        now = timezone.now()
        assert got(since=(now + timedelta(minutes=5)).isoformat()) == []
        assert len(got(since=(now - timedelta(hours=1)).isoformat(), limit=500)) == len(everything)
        assert got(until=(now - timedelta(hours=1)).isoformat()) == []
        assert got(object_id=str(cast.team_a.pk), object_type="accounts.team")
        assert got(organization=cast.org_b.pk) == []

    def test_since_until_bound_the_window(self, cast, client):
        _make_history(cast, client)
        api = ApiClient(client, cast.auditor)
        rec = AuditRecord.objects.filter(organization_id=cast.org_a.pk).latest("pk")
        window = {
            "since": rec.timestamp.isoformat(),
            "until": (rec.timestamp + timedelta(microseconds=1)).isoformat(),
            "limit": 500,
        }
        items = api.get("/audit", window).json()["items"]
        assert rec.pk in {i["id"] for i in items}
        assert all(i["timestamp"] >= rec.timestamp.isoformat()[:19] for i in items)
