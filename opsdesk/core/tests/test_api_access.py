"""Isolation meta-test: walks EVERY operation of the generated OpenAPI schema.

(a) anonymous calls get 401 in the error shape (except the health check);
(b) a user of organisation A gets 404 for every object of organisation B (path parameters,
    and organisation references in bodies), and B's objects are left untouched;
(c) list operations called by every role of A never return anything of B.

WHEN YOU ADD AN OPERATION, THIS FILE FAILS until you extend the tables below:
- ``OPERATIONS``: every (METHOD, path) with its kind;
- ``PATH_PARAMETERS``: how to get an object of organisation B for each path parameter name;
- ``BODIES``: a valid body for operations that take one, so the call reaches the
  permission check instead of being refused by validation;
- ``LISTS``: for each list operation, how to tell that an item belongs to organisation B.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from opsdesk.accounts.models import ApiToken, Membership, Team, User
from opsdesk.core.models import AuditRecord, Organization
from opsdesk.core.testing.api import ApiClient, assert_error, operations
from opsdesk.core.testing.cast import Cast
from opsdesk.core.testing.factories import token_for

pytestmark = pytest.mark.django_db

# --- The tables --------------------------------------------------------------------------------

PUBLIC = "public"  # no authentication at all
SELF = "self"  # about the caller only; nothing of another organisation is reachable
LIST = "list"  # a paginated list: checked by (c)
OBJECT = "object"  # addresses an object by path parameter: checked by (b)
CREATE = "create"  # creates something; organisation references in the body are checked

OPERATIONS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/health"): PUBLIC,
    ("GET", "/api/v1/me"): SELF,
    ("PATCH", "/api/v1/me"): SELF,
    ("GET", "/api/v1/organizations"): LIST,
    ("POST", "/api/v1/organizations"): CREATE,
    ("GET", "/api/v1/organizations/{organization_id}"): OBJECT,
    ("PATCH", "/api/v1/organizations/{organization_id}"): OBJECT,
    ("GET", "/api/v1/users"): LIST,
    ("POST", "/api/v1/users"): CREATE,
    ("GET", "/api/v1/users/{user_id}"): OBJECT,
    ("GET", "/api/v1/memberships"): LIST,
    ("GET", "/api/v1/memberships/{membership_id}"): OBJECT,
    ("PATCH", "/api/v1/memberships/{membership_id}"): OBJECT,
    ("DELETE", "/api/v1/memberships/{membership_id}"): OBJECT,
    ("GET", "/api/v1/teams"): LIST,
    ("POST", "/api/v1/teams"): CREATE,
    ("GET", "/api/v1/teams/{team_id}"): OBJECT,
    ("PATCH", "/api/v1/teams/{team_id}"): OBJECT,
    ("DELETE", "/api/v1/teams/{team_id}"): OBJECT,
    ("GET", "/api/v1/tokens"): LIST,
    ("POST", "/api/v1/tokens"): SELF,
    ("DELETE", "/api/v1/tokens/{token_id}"): OBJECT,
    ("GET", "/api/v1/audit"): LIST,
    ("GET", "/api/v1/audit/{record_id}"): OBJECT,
}


def _b_token(cast: Cast) -> int:
    token_for(cast.admin_b, name="b's token")
    return ApiToken.objects.filter(user=cast.admin_b).latest("pk").pk


def _b_audit_record(cast: Cast) -> int:
    return AuditRecord.objects.filter(organization_id=cast.org_b.pk).latest("pk").pk


#: path parameter name -> an object of organisation B (never visible to A).
PATH_PARAMETERS: dict[str, Callable[[Cast], int]] = {
    "organization_id": lambda c: c.org_b.pk,
    "team_id": lambda c: c.team_b.pk,
    "user_id": lambda c: c.agent_b.pk,  # a user who exists only in B
    "membership_id": lambda c: Membership.objects.get(user=c.admin_b, organization=c.org_b).pk,
    "token_id": _b_token,  # B's admin's token
    "record_id": _b_audit_record,  # an audit record of B
}

#: (METHOD, path) -> a valid body (the cast is given, for ids).
BODIES: dict[tuple[str, str], Callable[[Cast], dict]] = {
    ("PATCH", "/api/v1/me"): lambda c: {"full_name": "Renamed"},
    ("POST", "/api/v1/organizations"): lambda c: {"name": "New Org", "slug": "new-org"},
    ("PATCH", "/api/v1/organizations/{organization_id}"): lambda c: {"description": "hijacked"},
    ("POST", "/api/v1/users"): lambda c: {
        "organization_id": c.org_b.pk,
        "email": "intruder@example.com",
        "full_name": "Intruder",
        "role": "admin",
    },
    ("PATCH", "/api/v1/memberships/{membership_id}"): lambda c: {"role": "requester"},
    ("POST", "/api/v1/teams"): lambda c: {"organization_id": c.org_b.pk, "name": "Intruders"},
    ("PATCH", "/api/v1/teams/{team_id}"): lambda c: {"description": "hijacked"},
    ("POST", "/api/v1/tokens"): lambda c: {"name": "mine"},
}

#: CREATE operations whose body points into organisation B: A gets this status.
CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/organizations"): 403,  # platform admins only
    ("POST", "/api/v1/users"): 404,
    ("POST", "/api/v1/teams"): 404,
}


def _b_user_ids(cast: Cast) -> set[int]:
    """Users who are in B and not in A."""
    in_a = set(Membership.objects.filter(organization=cast.org_a).values_list("user_id", flat=True))
    in_b = set(Membership.objects.filter(organization=cast.org_b).values_list("user_id", flat=True))
    return in_b - in_a


#: list path -> (is this item foreign to `caller`, i.e. of B?, query parameters filtering on B).
#: Tokens are personal, so for /tokens "foreign" means "not the caller's own".
LISTS: dict[str, tuple[Callable[[Cast, User, dict], bool], Callable[[Cast], dict]]] = {
    "/api/v1/organizations": (
        lambda c, caller, item: item["id"] == c.org_b.pk,
        lambda c: {},
    ),
    "/api/v1/users": (
        lambda c, caller, item: item["id"] in _b_user_ids(c),
        lambda c: {"organization": c.org_b.pk},
    ),
    "/api/v1/memberships": (
        lambda c, caller, item: item["organization_id"] == c.org_b.pk,
        lambda c: {"organization": c.org_b.pk},
    ),
    "/api/v1/teams": (
        lambda c, caller, item: item["organization_id"] == c.org_b.pk,
        lambda c: {"organization": c.org_b.pk},
    ),
    "/api/v1/tokens": (
        lambda c, caller, item: ApiToken.objects.get(pk=item["id"]).user_id != caller.pk,
        lambda c: {},
    ),
    "/api/v1/audit": (
        lambda c, caller, item: item["organization_id"] == c.org_b.pk,
        lambda c: {"organization": c.org_b.pk},
    ),
}


def roles_of_a(cast: Cast) -> dict[str, User]:
    return {
        "requester": cast.requester,
        "agent": cast.agent,
        "manager": cast.manager,
        "auditor": cast.auditor,
        "admin": cast.admin,
    }


def fill_path(path: str, cast: Cast) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        assert name in PATH_PARAMETERS, f"path parameter {name!r} has no org-B object"
        return str(PATH_PARAMETERS[name](cast))

    return re.sub(r"{(\w+)}", value, path)


# --- The table covers the schema, exactly --------------------------------------------------------


def test_every_operation_is_in_the_table():
    in_schema = {(method, path) for method, path, _ in operations()}
    missing = in_schema - set(OPERATIONS)
    stale = set(OPERATIONS) - in_schema
    assert not missing, f"operations not covered by the isolation test: {sorted(missing)}"
    assert not stale, f"operations in the table but not in the schema: {sorted(stale)}"


def test_every_path_parameter_and_body_and_list_is_mapped():
    for method, path, op in operations():
        kind = OPERATIONS[(method, path)]
        for name in re.findall(r"{(\w+)}", path):
            assert name in PATH_PARAMETERS, f"{method} {path}: map {name!r} to an org-B object"
        if "{" in path:
            assert kind == OBJECT, f"{method} {path} has a path parameter: kind must be OBJECT"
        if op.get("requestBody"):
            assert (method, path) in BODIES, f"{method} {path}: add a valid body to BODIES"
        response = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
        ref = response.get("schema", {}).get("$ref", "")
        if ref.rsplit("/", 1)[-1].startswith("Paged"):
            assert kind == LIST, f"{method} {path} is paginated: kind must be LIST"
        if kind == LIST:
            assert path in LISTS, f"{method} {path}: say in LISTS how to spot B's items"
        if kind == CREATE:
            assert (method, path) in CREATE_IN_B, f"{method} {path}: add it to CREATE_IN_B"


# --- (a) anonymous ----------------------------------------------------------------------------


@pytest.fixture
def b_paths(cast) -> dict[str, str]:
    """Every path of the schema with its parameters filled with objects of B (built once)."""
    return {path: fill_path(path, cast) for _, path, _ in operations()}


def _call(api: ApiClient, method: str, path: str, cast: Cast, b_paths: dict[str, str]) -> Any:
    body_for = BODIES.get((method, path))
    return api.request(method, b_paths[path], body_for(cast) if body_for is not None else None)


@pytest.mark.parametrize("credentials", ["none", "garbage", "revoked", "inactive-user"])
def test_anonymous_and_bad_credentials_get_401_everywhere_but_health(
    cast, client, b_paths, credentials
):
    api = ApiClient(client)
    if credentials == "garbage":
        api = ApiClient(client, token="opsd_not-a-real-token")
    elif credentials == "revoked":
        api = ApiClient(client, cast.admin)
        ApiToken._base_manager.filter(user=cast.admin).update(revoked_at=timezone.now())
    elif credentials == "inactive-user":
        api = ApiClient(client, cast.admin)
        User._base_manager.filter(pk=cast.admin.pk).update(is_active=False)
    before = AuditRecord.objects.count()
    for method, path, _ in operations():
        resp = _call(api, method, path, cast, b_paths)
        if OPERATIONS[(method, path)] == PUBLIC:
            assert resp.status_code == 200, (method, path, resp.status_code)
            continue
        body = assert_error(resp, 401)
        assert resp["WWW-Authenticate"].startswith("Bearer"), (method, path)
        assert "Authentication" in body["detail"]
    # Nothing was changed by anyone.
    assert AuditRecord.objects.count() == before


def test_health_reports_the_database(client):
    resp = client.get("/api/v1/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.json()["database"] == "ok"


# --- (b) objects of B are 404 for A -------------------------------------------------------------


def _snapshot_b(cast: Cast) -> dict:
    return {
        "org": Organization.objects.filter(pk=cast.org_b.pk).values().get(),
        "teams": list(Team.objects.filter(organization=cast.org_b).values()),
        "members": sorted(cast.team_b.members.values_list("pk", flat=True)),
        "memberships": list(Membership.objects.filter(organization=cast.org_b).values()),
        "tokens": list(
            ApiToken.objects.filter(user__memberships__organization=cast.org_b).values()
        ),
        "users": User.objects.filter(email__endswith="@b.test").count(),
    }


@pytest.mark.parametrize("role", ["requester", "agent", "manager", "auditor", "admin"])
def test_objects_of_b_are_not_found_for_every_role_of_a(cast, client, b_paths, role):
    user = roles_of_a(cast)[role]
    api = ApiClient(client, user)
    b_before = _snapshot_b(cast)
    assert b_before["tokens"], "B has a token that A could try to revoke"
    checked = 0
    for method, path, _ in operations():
        kind = OPERATIONS[(method, path)]
        if kind == OBJECT:
            resp = _call(api, method, path, cast, b_paths)
            assert_error(resp, 404)
            checked += 1
        elif kind == CREATE:
            resp = _call(api, method, path, cast, b_paths)
            assert_error(resp, CREATE_IN_B[(method, path)])
            checked += 1
    assert checked == sum(1 for k in OPERATIONS.values() if k in (OBJECT, CREATE))
    assert _snapshot_b(cast) == b_before
    assert not User.objects.filter(email="intruder@example.com").exists()


def test_superuser_reaches_objects_of_b(cast, client, b_paths):
    """The 404s above come from isolation, not from broken routes: a superuser gets 200."""
    root = User.objects.create_superuser("root@platform.test", "pw-123456789", full_name="Root")
    api = ApiClient(client, root)
    for method, path, _ in operations():
        if OPERATIONS[(method, path)] == OBJECT and method == "GET":
            resp = _call(api, method, path, cast, b_paths)
            assert resp.status_code == 200, (method, path, resp.content)


def test_references_to_b_inside_a_body_are_refused(cast, client):
    api = ApiClient(client, cast.admin)
    resp = api.post(
        "/teams",
        {"organization_id": cast.org_a.pk, "name": "Mixed", "member_ids": [cast.agent_b.pk]},
    )
    assert_error(resp, 422, "member_ids")
    resp = api.patch(f"/teams/{cast.team_a.pk}", {"manager_id": cast.admin_b.pk})
    assert_error(resp, 422, "manager_id")
    assert cast.agent_b.pk not in set(cast.team_a.members.values_list("pk", flat=True))


# --- (c) lists never show B --------------------------------------------------------------------


@pytest.mark.parametrize("role", ["requester", "agent", "manager", "auditor", "admin"])
def test_lists_never_show_b_to_any_role_of_a(cast, client, role):
    user = roles_of_a(cast)[role]
    # Give B some history and a token so that there is something to leak.
    ApiClient(client, cast.admin_b).patch(f"/teams/{cast.team_b.pk}", {"description": "B's"})
    api = ApiClient(client, user)
    for method, path, _ in operations():
        if OPERATIONS[(method, path)] != LIST:
            continue
        is_b, b_filter = LISTS[path]
        for item in api.all_items(path):
            assert not is_b(cast, user, item), (role, path, item)
        filtered = api.get(path, b_filter(cast))
        if filtered.status_code == 200:
            for item in filtered.json()["items"]:
                assert not is_b(cast, user, item), (role, path, "filtered on B", item)
        else:
            assert_error(filtered, 422)


def test_lists_are_not_trivially_empty(cast, client):
    """The checks above see real rows: A's admin sees A's rows in every list, and B's admin
    sees B's (so `is_b` does recognise B's items)."""
    ApiClient(client, cast.admin_b).patch(f"/teams/{cast.team_b.pk}", {"description": "B's"})
    for path, (is_b, _) in LISTS.items():
        items_a = ApiClient(client, cast.admin).all_items(path)
        assert items_a, path
        items_b = ApiClient(client, cast.admin_b).all_items(path)
        assert any(is_b(cast, cast.admin, item) for item in items_b), path
