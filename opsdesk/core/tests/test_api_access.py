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
GLOBAL = "global"  # platform-wide configuration (CI classes), not tenant data: checked by (e)
REPORT = "report"  # a per-organisation report chosen by query parameters: checked by (d)

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
    # cmdb: configuration items, relationships, impact, classes
    ("GET", "/api/v1/cis"): LIST,
    ("POST", "/api/v1/cis"): CREATE,
    ("GET", "/api/v1/cis/{ci_id}"): OBJECT,
    ("PATCH", "/api/v1/cis/{ci_id}"): OBJECT,
    ("DELETE", "/api/v1/cis/{ci_id}"): OBJECT,
    ("GET", "/api/v1/cis/{ci_id}/relationships"): OBJECT,
    ("GET", "/api/v1/cis/{ci_id}/impact"): OBJECT,
    ("GET", "/api/v1/cis/{ci_id}/history"): OBJECT,
    ("POST", "/api/v1/relationships"): CREATE,
    ("DELETE", "/api/v1/relationships/{relationship_id}"): OBJECT,
    ("GET", "/api/v1/relationship-types"): GLOBAL,
    ("GET", "/api/v1/ci-classes"): GLOBAL,
    ("GET", "/api/v1/ci-classes/{class_key}"): GLOBAL,
    ("PATCH", "/api/v1/ci-classes/{class_key}"): GLOBAL,
    # cmdb: assets, licences, installations, expiring items, health
    ("GET", "/api/v1/assets"): LIST,
    ("POST", "/api/v1/assets"): CREATE,
    ("GET", "/api/v1/assets/{asset_id}"): OBJECT,
    ("PATCH", "/api/v1/assets/{asset_id}"): OBJECT,
    ("DELETE", "/api/v1/assets/{asset_id}"): OBJECT,
    ("POST", "/api/v1/assets/{asset_id}/lifecycle"): OBJECT,
    ("GET", "/api/v1/licences"): LIST,
    ("POST", "/api/v1/licences"): CREATE,
    ("GET", "/api/v1/licences/{licence_id}"): OBJECT,
    ("PATCH", "/api/v1/licences/{licence_id}"): OBJECT,
    ("DELETE", "/api/v1/licences/{licence_id}"): OBJECT,
    ("GET", "/api/v1/licence-positions"): LIST,
    ("GET", "/api/v1/unlicensed-software"): LIST,
    ("GET", "/api/v1/installations"): LIST,
    ("POST", "/api/v1/installations"): CREATE,
    ("DELETE", "/api/v1/installations/{installation_id}"): OBJECT,
    ("GET", "/api/v1/expiring"): LIST,
    ("GET", "/api/v1/cmdb-health"): REPORT,
    # cmdb: discovery imports and stale CIs
    ("POST", "/api/v1/imports"): CREATE,
    ("GET", "/api/v1/imports"): LIST,
    ("GET", "/api/v1/imports/{import_id}"): OBJECT,
    ("GET", "/api/v1/stale-cis"): LIST,
}


def _b_token(cast: Cast) -> int:
    token_for(cast.admin_b, name="b's token")
    return ApiToken.objects.filter(user=cast.admin_b).latest("pk").pk


def _b_audit_record(cast: Cast) -> int:
    return AuditRecord.objects.filter(organization_id=cast.org_b.pk).latest("pk").pk


def _b_ci(cast: Cast) -> Any:
    """B's server (made once, so that building a body does not write anything)."""
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.cmdb.tests.factories import ci

    found = ConfigurationItem.objects.filter(organization=cast.org_b, name="b-server").first()
    return found or ci(cast.org_b, "b-server", "server")


def _b_asset(cast: Cast) -> int:
    from opsdesk.cmdb.models import HardwareAsset

    return HardwareAsset.objects.create(organization=cast.org_b, name="B's laptop").pk


def _b_licence(cast: Cast) -> int:
    from opsdesk.cmdb.models import SoftwareLicence

    return SoftwareLicence.objects.create(
        organization=cast.org_b,
        publisher="Adobe",
        product="Acrobat",
        metric="per_user",
        entitlements=5,
    ).pk


def _b_installation(cast: Cast) -> int:
    from opsdesk.cmdb.models import SoftwareInstallation

    target = _b_ci(cast)
    return SoftwareInstallation.objects.create(
        organization=cast.org_b, ci=target, publisher="Adobe", product="Acrobat"
    ).pk


def _asset_rows(cast: Cast) -> None:
    """Assets, licences and installations in A and B, expiring soon, for the list checks."""
    from datetime import timedelta

    from opsdesk.cmdb.models import HardwareAsset, SoftwareInstallation, SoftwareLicence
    from opsdesk.cmdb.tests.factories import ci

    soon = timezone.localdate() + timedelta(days=10)
    for org in (cast.org_a, cast.org_b):
        HardwareAsset.objects.create(organization=org, name="Laptop", warranty_end=soon)
        SoftwareLicence.objects.create(
            organization=org,
            publisher="Adobe",
            product="Acrobat",
            metric="per_device",
            entitlements=1,
            renewal_date=soon,
        )
        host = ci(org, f"pc-{org.slug}", "end_user_device")
        SoftwareInstallation.objects.create(
            organization=org, ci=host, publisher="Adobe", product="Acrobat"
        )
        SoftwareInstallation.objects.create(  # installed, never licensed
            organization=org, ci=host, publisher="win.rar GmbH", product="WinRAR"
        )


#: Rows the list checks need beyond the cast, created before (c) and the not-empty check.
def _b_import(cast: Cast) -> int:
    from opsdesk.cmdb.models import ImportJob

    return ImportJob.objects.create(
        organization=cast.org_b, format="csv", source="b-scan", payload=b"class,name\n"
    ).pk


def _import_rows(cast: Cast) -> None:
    """An import job and a stale CI (last seen 90 days ago) in A and B, for the list checks."""
    from datetime import timedelta

    from opsdesk.cmdb.models import CISourceRecord, ImportJob
    from opsdesk.cmdb.tests.factories import ci

    long_ago = timezone.now() - timedelta(days=90)
    for org in (cast.org_a, cast.org_b):
        ImportJob.objects.create(organization=org, format="csv", source="scan", payload=b"x")
        gone = ci(org, f"gone-{org.slug}", "server")
        CISourceRecord.objects.create(
            organization=org, ci=gone, source="scan", first_seen=long_ago, last_seen=long_ago
        )


LIST_DATA: list[Callable[[Cast], None]] = [_asset_rows, _import_rows]


def _b_ci_pair(cast: Cast) -> tuple[int, int]:
    """Two related CIs of B: (application, server it runs on), made once."""
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.cmdb.tests.factories import ci, relate

    made = dict(
        ConfigurationItem.objects.filter(
            organization=cast.org_b, name__in=["b-app", "b-srv"]
        ).values_list("name", "pk")
    )
    if len(made) == 2:
        return made["b-app"], made["b-srv"]
    app = ci(cast.org_b, "b-app", "application")
    srv = ci(cast.org_b, "b-srv", "server")
    relate(app, "runs_on", srv)
    return app.pk, srv.pk


def _b_relationship(cast: Cast) -> int:
    from opsdesk.cmdb.models import Relationship

    _b_ci_pair(cast)
    return Relationship.objects.filter(organization=cast.org_b).latest("pk").pk


#: path parameter name -> an object of organisation B (never visible to A).
PATH_PARAMETERS: dict[str, Callable[[Cast], int]] = {
    "organization_id": lambda c: c.org_b.pk,
    "team_id": lambda c: c.team_b.pk,
    "user_id": lambda c: c.agent_b.pk,  # a user who exists only in B
    "membership_id": lambda c: Membership.objects.get(user=c.admin_b, organization=c.org_b).pk,
    "token_id": _b_token,  # B's admin's token
    "record_id": _b_audit_record,  # an audit record of B
    "ci_id": lambda c: _b_ci_pair(c)[0],
    "relationship_id": _b_relationship,
    "class_key": lambda c: "server",  # global, the same for everyone: see (e)
    "asset_id": _b_asset,
    "licence_id": _b_licence,
    "installation_id": _b_installation,
    "import_id": _b_import,
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
    ("POST", "/api/v1/cis"): lambda c: {
        "organization_id": c.org_b.pk,
        "ci_class": "server",
        "name": "intruder",
    },
    ("PATCH", "/api/v1/cis/{ci_id}"): lambda c: {"description": "hijacked"},
    ("POST", "/api/v1/relationships"): lambda c: dict(
        zip(("source_id", "target_id"), _b_ci_pair(c), strict=True), type="depends_on"
    ),
    ("PATCH", "/api/v1/ci-classes/{class_key}"): lambda c: {"label": "Hijacked"},
    ("POST", "/api/v1/assets"): lambda c: {"organization_id": c.org_b.pk, "name": "Intruder"},
    ("PATCH", "/api/v1/assets/{asset_id}"): lambda c: {"notes": "hijacked"},
    ("POST", "/api/v1/assets/{asset_id}/lifecycle"): lambda c: {"lifecycle": "in_repair"},
    ("POST", "/api/v1/licences"): lambda c: {
        "organization_id": c.org_b.pk,
        "publisher": "Intruder",
        "product": "Pirate",
        "metric": "per_user",
        "entitlements": 1,
    },
    ("PATCH", "/api/v1/licences/{licence_id}"): lambda c: {"entitlements": 0},
    ("POST", "/api/v1/installations"): lambda c: {
        "ci_id": _b_ci(c).pk,
        "publisher": "Intruder",
        "product": "Pirate",
    },
}

BODIES[("POST", "/api/v1/imports")] = lambda c: {"organization_id": c.org_b.pk, "format": "csv"}

#: CREATE operations whose body points into organisation B: A gets this status.
CREATE_IN_B: dict[tuple[str, str], int] = {
    ("POST", "/api/v1/organizations"): 403,  # platform admins only
    ("POST", "/api/v1/users"): 404,
    ("POST", "/api/v1/teams"): 404,
    ("POST", "/api/v1/cis"): 404,
    ("POST", "/api/v1/relationships"): 404,
    ("POST", "/api/v1/assets"): 404,
    ("POST", "/api/v1/licences"): 404,
    ("POST", "/api/v1/installations"): 404,
    # A multipart upload: the JSON body of the generic call is refused before any lookup;
    # an upload into B's organisation gets 404 (cmdb/tests/test_imports_api.py).
    ("POST", "/api/v1/imports"): 422,
}

#: REPORT operations -> query parameters pointing at organisation B: A gets 404.
REPORTS: dict[tuple[str, str], Callable[[Cast], dict]] = {
    ("GET", "/api/v1/cmdb-health"): lambda c: {"organization": c.org_b.pk},
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
    "/api/v1/cis": (
        lambda c, caller, item: item["organization_id"] == c.org_b.pk,
        lambda c: {"organization": c.org_b.pk},
    ),
    **{
        path: (
            lambda c, caller, item: item["organization_id"] == c.org_b.pk,
            lambda c: {"organization": c.org_b.pk},
        )
        for path in (
            "/api/v1/assets",
            "/api/v1/licences",
            "/api/v1/licence-positions",
            "/api/v1/unlicensed-software",
            "/api/v1/installations",
            "/api/v1/expiring",
            "/api/v1/imports",
            "/api/v1/stale-cis",
        )
    },
}


def _ci_rows(cast: Cast) -> None:
    """A CI in A and two in B, for the list checks."""
    from opsdesk.cmdb.tests.factories import ci

    ci(cast.org_a, "a-srv", "server")
    _b_ci_pair(cast)


# --- Contributions of other apps ------------------------------------------------------------------
# An app adds its operations in ``opsdesk/<app>/tests/api_access.py`` with any of the same
# tables (OPERATIONS, PATH_PARAMETERS, BODIES, CREATE_IN_B, REPORTS, LISTS, LIST_DATA), so
# that apps built side by side never edit this file at the same time.


#: GET operations on a sub-resource an object of B may lack (a change's review): the
#: superuser's 404 must then say so (the text given here), which proves the route reached
#: B's object rather than failing to resolve it.
SUB_RESOURCE_ABSENT: dict[tuple[str, str], str] = {}


def _merge_contributions() -> None:
    from opsdesk.core.testing.api import access_modules

    for module in access_modules():
        for table in (
            OPERATIONS,
            PATH_PARAMETERS,
            BODIES,
            CREATE_IN_B,
            REPORTS,
            LISTS,
            SUB_RESOURCE_ABSENT,
        ):
            name = next(k for k, v in globals().items() if v is table and k.isupper())
            extra = getattr(module, name, {})
            clash = set(extra) & set(table)
            assert not clash, f"{module.__name__}.{name} redefines {sorted(clash)}"
            table.update(extra)
        LIST_DATA.extend(getattr(module, "LIST_DATA", []))


_merge_contributions()


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
            # (SELF: an integration's door whose path names its source, e.g. /events/{source})
            assert kind in (OBJECT, GLOBAL, SELF), f"{method} {path} has a path parameter: OBJECT"
        if op.get("requestBody"):
            assert (method, path) in BODIES, f"{method} {path}: add a valid body to BODIES"
        response = op["responses"].get("200", {}).get("content", {}).get("application/json", {})
        ref = response.get("schema", {}).get("$ref", "")
        if ref.rsplit("/", 1)[-1].startswith("Paged") and "{" not in path:
            # (a list under an object, e.g. /cis/{ci_id}/history, is checked as the OBJECT)
            assert kind == LIST, f"{method} {path} is paginated: kind must be LIST"
        if kind == LIST:
            assert path in LISTS, f"{method} {path}: say in LISTS how to spot B's items"
        if kind == CREATE:
            assert (method, path) in CREATE_IN_B, f"{method} {path}: add it to CREATE_IN_B"
        if kind == REPORT:
            assert (method, path) in REPORTS, f"{method} {path}: add it to REPORTS"


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
            absent = SUB_RESOURCE_ABSENT.get((method, path))
            if absent and resp.status_code == 404:
                assert absent in resp.json()["detail"], (method, path, resp.content)
                continue
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
    _ci_rows(cast)
    for seed in LIST_DATA:
        seed(cast)
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
    _ci_rows(cast)
    for seed in LIST_DATA:
        seed(cast)
    for path, (is_b, _) in LISTS.items():
        items_a = ApiClient(client, cast.admin).all_items(path)
        assert items_a, path
        items_b = ApiClient(client, cast.admin_b).all_items(path)
        assert any(is_b(cast, cast.admin, item) for item in items_b), path


# --- (d) reports about B are 404 for A ---------------------------------------------------------


@pytest.mark.parametrize("role", ["requester", "agent", "manager", "auditor", "admin"])
def test_reports_about_b_are_not_found_for_every_role_of_a(cast, client, role):
    api = ApiClient(client, roles_of_a(cast)[role])
    for method, path, _ in operations():
        if OPERATIONS[(method, path)] == REPORT:
            assert_error(api.request(method, path, params=REPORTS[(method, path)](cast)), 404)
    root = User.objects.create_superuser("root@platform.test", "pw-123456789", full_name="Root")
    for (method, path), params in REPORTS.items():
        assert ApiClient(client, root).request(method, path, params=params(cast)).status_code == 200


# --- (e) global configuration: the same for everyone, changed only by platform admins ----------


@pytest.mark.parametrize("role", ["requester", "agent", "manager", "auditor", "admin"])
def test_global_configuration_is_shared_and_only_superusers_change_it(cast, client, role):
    api = ApiClient(client, roles_of_a(cast)[role])
    api_b = ApiClient(client, cast.admin_b)
    for method, path, _ in operations():
        if OPERATIONS[(method, path)] != GLOBAL:
            continue
        url = fill_path(path, cast)
        if method == "GET":
            resp = api.get(url)
            assert resp.status_code == 200, (method, path)
            assert resp.json() == api_b.get(url).json(), (method, path, "differs per tenant")
        else:
            before = (
                api.get(url).json()
                if any(m == "GET" and p == path for m, p, _ in operations())
                else None
            )
            assert_error(api.request(method, url, BODIES[(method, path)](cast)), 403)
            if before is not None:
                assert api.get(url).json() == before
