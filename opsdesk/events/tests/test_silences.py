"""Silences: matcher semantics, the actions (validation, permissions, audit) and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.events.models import Silence
from opsdesk.events.silences import create_silence, expire_silence, matches, state_of

# --- matchers (no database) ------------------------------------------------------------------

LABELS = {"alertname": "DiskFull", "instance": "db-07:9100", "host.name": "db-07"}


@pytest.mark.parametrize(
    ("matcher", "expected"),
    [
        ({"name": "alertname", "op": "=", "value": "DiskFull"}, True),
        ({"name": "alertname", "op": "=", "value": "diskfull"}, False),
        ({"name": "alertname", "op": "!=", "value": "DiskFull"}, False),
        ({"name": "alertname", "op": "!=", "value": "CPU"}, True),
        ({"name": "host.name", "op": "=~", "value": "db-.*"}, True),
        # Fully anchored: a prefix or a suffix is not enough.
        ({"name": "host.name", "op": "=~", "value": "db"}, False),
        ({"name": "host.name", "op": "=~", "value": "b-07"}, False),
        ({"name": "instance", "op": "=~", "value": "db-0[0-9]:9100|web-.*"}, True),
        ({"name": "host.name", "op": "!~", "value": "web-.*"}, True),
        ({"name": "host.name", "op": "!~", "value": "db-.*"}, False),
        # A missing name has the empty value.
        ({"name": "team", "op": "=", "value": ""}, True),
        ({"name": "team", "op": "!=", "value": ""}, False),
        ({"name": "team", "op": "=~", "value": ".*"}, True),
        ({"name": "team", "op": "=~", "value": ".+"}, False),
    ],
)
def test_alertmanager_matcher_semantics(matcher, expected):
    assert matches([matcher], LABELS) is expected


def test_every_matcher_must_match():
    both = [
        {"name": "alertname", "op": "=", "value": "DiskFull"},
        {"name": "host.name", "op": "=~", "value": "web-.*"},
    ]
    assert not matches(both, LABELS)
    assert not matches([], LABELS)


# --- actions --------------------------------------------------------------------------------

pytestmark_db = pytest.mark.django_db
M = [{"name": "alertname", "op": "=", "value": "DiskFull"}]


def _create(cast, user=None, **kw):
    kw.setdefault("matchers", M)
    kw.setdefault("ends_at", timezone.now() + timedelta(hours=2))
    kw.setdefault("comment", "Disk replacement on db-07")
    return create_silence(acting_user=user or cast.agent, organization=cast.org_a, **kw)


@pytestmark_db
def test_an_agent_creates_a_silence_and_it_is_audited(cast):
    silence = _create(cast)
    assert silence.created_by == cast.agent
    assert silence.matchers == M
    assert state_of(silence) == "active"
    record = AuditRecord.objects.filter(object_type__icontains="silence").latest("pk")
    assert record.actor_email == cast.agent.email


@pytestmark_db
@pytest.mark.parametrize("role", ["requester", "auditor"])
def test_requesters_and_auditors_may_not_create(cast, role):
    with pytest.raises(PermissionDenied):
        _create(cast, user=getattr(cast, role))
    assert not Silence.objects.exists()


@pytestmark_db
@pytest.mark.parametrize(
    ("matchers", "field"),
    [
        ([], "matchers"),
        ("alertname=x", "matchers"),
        ([M[0], {"name": "x", "op": "==", "value": "y"}], "matchers[1].op"),
        ([{"name": "", "op": "=", "value": "y"}], "matchers[0].name"),
        ([{"name": "x", "op": "=~", "value": "db-(["}], "matchers[0].value"),
        ([{"name": "x", "op": "=", "value": 7}], "matchers[0].value"),
        ([{"name": "x", "op": "=", "value": "y", "extra": 1}], "matchers[0].extra"),
        ([M[0], "x"], "matchers[1]"),
        # Would mute everything: every matcher matches the empty value.
        ([{"name": "x", "op": "=~", "value": ".*"}], "matchers"),
    ],
)
def test_bad_matchers_name_the_field(cast, matchers, field):
    with pytest.raises(FieldError) as exc:
        _create(cast, matchers=matchers)
    assert field in exc.value.errors, exc.value.errors


@pytestmark_db
def test_times_and_comment_are_checked(cast):
    now = timezone.now()
    with pytest.raises(FieldError) as exc:
        _create(cast, starts_at=now + timedelta(hours=3), ends_at=now + timedelta(hours=2))
    assert "ends_at" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        _create(cast, starts_at=now - timedelta(hours=3), ends_at=now - timedelta(hours=2))
    assert "ends_at" in exc.value.errors
    with pytest.raises(FieldError) as exc:
        _create(cast, comment="  ")
    assert "comment" in exc.value.errors


@pytestmark_db
def test_expire_early_and_only_once(cast):
    silence = _create(cast)
    expired = expire_silence(acting_user=cast.agent, silence=silence)
    assert expired.expired_early_at is not None
    assert state_of(expired) == "expired"
    assert not expired.is_active_at(timezone.now())
    with pytest.raises(Conflict):
        expire_silence(acting_user=cast.agent, silence=expired)
    with pytest.raises(PermissionDenied):
        expire_silence(acting_user=cast.auditor, silence=_create(cast, comment="other"))


@pytestmark_db
def test_a_pending_silence_expired_early_never_starts(cast):
    now = timezone.now()
    silence = _create(cast, starts_at=now + timedelta(hours=1), ends_at=now + timedelta(hours=2))
    assert state_of(silence) == "pending"
    silence = expire_silence(acting_user=cast.agent, silence=silence)
    assert state_of(silence) == "expired"
    assert not silence.is_active_at(now + timedelta(minutes=90))


# --- API ---------------------------------------------------------------------------------


def _body(cast, **kw):
    return {
        "organization_id": cast.org_a.pk,
        "matchers": [{"name": "instance", "op": "=~", "value": "db-.*"}],
        "ends_at": (timezone.now() + timedelta(hours=2)).isoformat(),
        "comment": "Patching the database hosts",
        **kw,
    }


@pytestmark_db
def test_api_create_get_list_and_expire(cast, client):
    api = ApiClient(client, cast.agent)
    resp = api.post("/silences", _body(cast))
    assert resp.status_code == 201, resp.content
    made = resp.json()
    assert made["state"] == "active"
    assert made["created_by"]
    assert made["matchers"] == [{"name": "instance", "op": "=~", "value": "db-.*"}]
    assert api.get(f"/silences/{made['id']}").json()["id"] == made["id"]
    assert [s["id"] for s in api.get("/silences", {"state": "active"}).json()["items"]] == [
        made["id"]
    ]
    assert api.get("/silences", {"active": "true"}).json()["total"] == 1
    assert api.get("/silences", {"active": "false"}).json()["total"] == 0
    resp = api.post(f"/silences/{made['id']}/expire")
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "expired"
    assert api.get("/silences", {"state": "active"}).json()["total"] == 0
    assert api.get("/silences", {"state": "expired"}).json()["total"] == 1
    assert api.get("/silences", {"active": "false"}).json()["total"] == 1
    assert_error(api.post(f"/silences/{made['id']}/expire"), 409)


@pytestmark_db
def test_api_bad_input_names_the_field(cast, client):
    api = ApiClient(client, cast.agent)
    bad_regex = [{"name": "instance", "op": "=~", "value": "db-(["}]
    assert_error(api.post("/silences", _body(cast, matchers=bad_regex)), 422, "matchers[0].value")
    bad_op = [{"name": "instance", "op": "~", "value": "x"}]
    assert_error(api.post("/silences", _body(cast, matchers=bad_op)), 422, "matchers[0].op")
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    assert_error(api.post("/silences", _body(cast, ends_at=past)), 422, "ends_at")
    assert_error(api.get("/silences", {"state": "sleeping"}), 422, "state")
    assert not Silence.objects.exists()


@pytestmark_db
def test_api_other_organisations_and_roles(cast, client):
    resp = ApiClient(client, cast.agent).post(
        "/silences", _body(cast, organization_id=cast.org_b.pk)
    )
    assert_error(resp, 404)
    assert_error(ApiClient(client, cast.auditor).post("/silences", _body(cast)), 403)
    silence = _create(cast)
    assert_error(ApiClient(client, cast.auditor).post(f"/silences/{silence.pk}/expire"), 403)
    assert_error(ApiClient(client, cast.agent_b).get(f"/silences/{silence.pk}"), 404)
    assert ApiClient(client, cast.auditor).get(f"/silences/{silence.pk}").status_code == 200
