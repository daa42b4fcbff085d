"""Bad input gets a 4xx in the error shape that names the field; never a 5xx.

Generated input: schemathesis reads /api/v1/openapi.json from the WSGI app and, for every
operation, sends a bounded number of valid and invalid requests as an admin of A.
Hand-written cases pin down the field named for each kind of mistake.
"""

from __future__ import annotations

import json
import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from opsdesk.accounts.models import Membership, User
from opsdesk.core.testing.api import (
    ApiClient,
    assert_error,
    assert_error_shape,
    operations,
    test_wsgi_app,
)
from opsdesk.core.testing.factories import token_for

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 25

APP = test_wsgi_app()
SCHEMA = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)

#: Path parameters pinned to real objects of A, so that bodies reach the action
#: (random ids mostly get a 404 before the body matters).
REAL_IDS = {
    "organization_id": lambda c: c.org_a.pk,
    "team_id": lambda c: c.team_a.pk,
    "user_id": lambda c: c.agent.pk,
    "membership_id": lambda c: Membership.objects.get(user=c.agent, organization=c.org_a).pk,
    "token_id": lambda c: _spare_token(c),
    "record_id": lambda c: c.org_a.pk,
    "asset_id": lambda c: _a_asset(c),
    "licence_id": lambda c: _a_licence(c),
    "installation_id": lambda c: _a_installation(c),
    "ci_id": lambda c: _a_ci(c),
    "relationship_id": lambda c: _a_relationship(c),
    "class_key": lambda c: "server",
    "import_id": lambda c: _an_import(c),
}


def _a_ci(cast) -> int:
    from opsdesk.cmdb.tests.factories import ci

    return ci(cast.org_a, "fuzzed-server", attributes={"os": "linux"}).pk


def _a_relationship(cast) -> int:
    from opsdesk.cmdb.tests.factories import ci, relate

    app = ci(cast.org_a, "fuzzed-app", "application")
    return relate(app, "runs_on", ci(cast.org_a, "fuzzed-host-2")).pk


def _an_import(cast) -> int:
    from opsdesk.cmdb.models import ImportJob

    return ImportJob.objects.create(
        organization=cast.org_a, format="csv", source="fuzz", payload=b"class,name\n"
    ).pk


def _a_asset(cast) -> int:
    from opsdesk.cmdb.models import HardwareAsset

    return HardwareAsset.objects.create(organization=cast.org_a, name="Fuzzed laptop").pk


def _a_licence(cast) -> int:
    from opsdesk.cmdb.models import SoftwareLicence

    return SoftwareLicence.objects.create(
        organization=cast.org_a, publisher="P", product="Fuzzed", metric="per_user", entitlements=1
    ).pk


def _a_installation(cast) -> int:
    from opsdesk.cmdb.models import SoftwareInstallation
    from opsdesk.cmdb.tests.factories import ci

    host = ci(cast.org_a, "fuzzed-host")
    return SoftwareInstallation.objects.create(
        organization=cast.org_a, ci=host, publisher="P", product="Fuzzed"
    ).pk


#: Operations only a platform admin (superuser) gets past the permission check of.
PLATFORM_ADMIN_OPERATIONS = {("POST", "/api/v1/organizations")}


def _spare_token(cast) -> int:
    """A token of the caller that may be revoked without locking the test out."""
    from opsdesk.accounts.models import ApiToken

    token_for(cast.admin, name="spare")
    return ApiToken.objects.filter(user=cast.admin, name="spare").latest("pk").pk


def _merge_real_ids() -> None:
    """Apps add ids for their path parameters in ``opsdesk/<app>/tests/api_access.py``
    (``REAL_IDS``), so apps built side by side never edit this file at the same time."""
    from opsdesk.core.testing.api import access_modules

    for module in access_modules():
        extra = getattr(module, "REAL_IDS", {})
        assert not set(extra) & set(REAL_IDS), f"{module.__name__} redefines REAL_IDS"
        REAL_IDS.update(extra)


_merge_real_ids()


def _operation_ids() -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in operations()]


def _strategy(operation, path: str, cast):
    has_input = bool(re.search(r"{\w+}", path) or operation.query or operation.body)
    modes = [GenerationMode.POSITIVE]
    if has_input:
        modes.append(GenerationMode.NEGATIVE)
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    if operation.body:
        # Bodies that name an organisation: point them at A, so that creation is reached.
        def into_a(case):
            if isinstance(case.body, dict) and "organization_id" in case.body:
                case.body = {
                    **{k: v for k, v in case.body.items() if k not in {"manager_id", "member_ids"}},
                    "organization_id": cast.org_a.pk,
                }
            return case

        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE).map(into_a)
        )
    names = re.findall(r"{(\w+)}", path)
    if names:
        pinned = {name: REAL_IDS[name](cast) for name in names}
        strategies += [
            operation.as_strategy(generation_mode=mode, path_parameters=pinned) for mode in modes
        ]
    return st.one_of(strategies)


@pytest.mark.parametrize(("method", "path"), _operation_ids(), ids=lambda v: str(v))
def test_generated_input_never_gets_a_5xx(cast, method, path):
    assert all(name in REAL_IDS for name in re.findall(r"{(\w+)}", path)), path
    operation = SCHEMA[path][method]
    caller = cast.admin
    if (method, path) in PLATFORM_ADMIN_OPERATIONS:
        caller = User.objects.create_superuser("root@platform.test", "x" * 12, full_name="Root")
    headers = {"Authorization": f"Bearer {token_for(caller)}"}
    seen: dict[int, int] = {}

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=_strategy(operation, path, cast))
    def run(case) -> None:
        response = case.call(headers=headers)
        status = response.status_code
        seen[status] = seen.get(status, 0) + 1
        assert status < 500, (case.method, case.formatted_path, case.body, response.text[:500])
        if status >= 400:
            assert response.headers.get("content-type", [""])[0].startswith("application/json")
            assert_error_shape(json.loads(response.text))

    run()
    assert sum(seen.values()) > 0


# --- Hand-written: each kind of mistake names its field -----------------------------------------


@pytest.fixture
def admin_api(cast, client):
    return ApiClient(client, cast.admin)


def _team(cast, **fields):
    return {"organization_id": cast.org_a.pk, "name": "Network", **fields}


def _org_path(cast):
    return f"/organizations/{cast.org_a.pk}"


class TestPostTeams:
    def test_valid_team_is_created(self, cast, admin_api):
        resp = admin_api.post("/teams", _team(cast))
        assert resp.status_code == 201, resp.content
        assert resp.json()["name"] == "Network"

    def test_malformed_json_is_400_naming_body(self, admin_api):
        body = assert_error(admin_api.post("/teams", raw='{"name": '), 400, "body")
        assert body["errors"] == [{"field": "body", "message": body["detail"]}]

    def test_not_an_object_is_422_naming_body(self, admin_api):
        assert_error(admin_api.post("/teams", raw="[1, 2]"), 422, "body")

    def test_empty_body_is_422_naming_body(self, admin_api):
        assert_error(admin_api.post("/teams", raw=""), 422, "body")

    def test_wrong_type_is_422_naming_the_field(self, cast, admin_api):
        assert_error(admin_api.post("/teams", _team(cast, name=["x"])), 422, "name")
        assert_error(
            admin_api.post("/teams", {"organization_id": "acme", "name": "x"}),
            422,
            "organization_id",
        )
        assert_error(admin_api.post("/teams", _team(cast, member_ids="1,2")), 422, "member_ids")

    def test_unknown_field_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.post("/teams", _team(cast, colour="red")), 422, "colour")

    def test_over_long_string_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.post("/teams", _team(cast, name="n" * 101)), 422, "name")
        assert_error(
            admin_api.post("/teams", _team(cast, description="d" * 10_001)), 422, "description"
        )

    def test_missing_required_field_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.post("/teams", {"organization_id": cast.org_a.pk}), 422, "name")
        assert_error(admin_api.post("/teams", {"name": "x"}), 422, "organization_id")

    def test_bad_email_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.post("/teams", _team(cast, email="not-an-email")), 422, "email")

    def test_nul_character_is_422_naming_the_field(self, cast, admin_api):
        assert_error(admin_api.post("/teams", _team(cast, name="a\x00b")), 422, "name")

    def test_huge_ids_are_422_naming_the_field(self, cast, admin_api):
        assert_error(
            admin_api.post("/teams", _team(cast, member_ids=[10**30])), 422, "member_ids.0"
        )
        assert_error(admin_api.post("/teams", _team(cast, manager_id=2**63)), 422, "manager_id")

    def test_duplicate_name_is_a_4xx_naming_name(self, cast, admin_api):
        assert_error(admin_api.post("/teams", _team(cast, name=cast.team_a.name)), 422, "name")

    def test_nothing_was_created_by_bad_input(self, cast, admin_api):
        from opsdesk.accounts.models import Team

        before = Team.objects.count()
        admin_api.post("/teams", _team(cast, name="n" * 101))
        admin_api.post("/teams", _team(cast, colour="red"))
        assert Team.objects.count() == before


class TestPatchOrganization:
    def test_valid_change_is_saved(self, cast, admin_api):
        resp = admin_api.patch(_org_path(cast), {"description": "Pan-African IT"})
        assert resp.status_code == 200, resp.content
        assert resp.json()["description"] == "Pan-African IT"

    def test_malformed_json_is_400_naming_body(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), raw="{description: x}"), 400, "body")

    def test_wrong_type_is_422_naming_the_field(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), {"countries": "ZA"}), 422, "countries")
        assert_error(admin_api.patch(_org_path(cast), {"name": 12}), 422, "name")

    def test_unknown_field_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), {"slug": "new"}), 422, "slug")
        assert_error(admin_api.patch(_org_path(cast), {"is_active": False}), 422, "is_active")

    def test_over_long_string_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), {"name": "n" * 201}), 422, "name")
        assert_error(admin_api.patch(_org_path(cast), {"time_zone": "t" * 65}), 422, "time_zone")

    def test_missing_body_is_422_naming_body(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), raw=""), 422, "body")

    def test_null_for_a_required_column_is_422_naming_it(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), {"name": None}), 422, "name")

    def test_model_validation_names_the_field(self, cast, admin_api):
        assert_error(admin_api.patch(_org_path(cast), {"countries": ["XX"]}), 422, "countries")
        assert_error(admin_api.patch(_org_path(cast), {"time_zone": "Mars/Base"}), 422, "time_zone")
        assert_error(admin_api.patch(_org_path(cast), {"name": cast.org_b.name}), 422, "name")

    def test_path_parameter_of_wrong_type_names_it(self, admin_api):
        assert_error(admin_api.patch("/organizations/acme", {}), 422, "organization_id")

    def test_nothing_changed_after_bad_input(self, cast, admin_api):
        admin_api.patch(_org_path(cast), {"name": "n" * 201, "description": "x"})
        admin_api.patch(_org_path(cast), {"countries": ["XX"], "description": "y"})
        cast.org_a.refresh_from_db()
        assert cast.org_a.description == ""
        assert cast.org_a.countries == ["ZA", "KE", "NG"]


class TestOtherBadInput:
    def test_naive_token_expiry_is_422_naming_it(self, admin_api):
        resp = admin_api.post("/tokens", {"name": "x", "expires_at": "2999-01-01T00:00:00"})
        assert_error(resp, 422, "expires_at")

    def test_past_token_expiry_is_422_naming_it(self, admin_api):
        resp = admin_api.post("/tokens", {"name": "x", "expires_at": "2001-01-01T00:00:00Z"})
        assert_error(resp, 422, "expires_at")

    def test_unknown_time_zone_on_profile_is_422(self, admin_api):
        assert_error(admin_api.patch("/me", {"time_zone": "Mars/Base"}), 422, "time_zone")

    def test_nul_in_query_is_422_naming_the_parameter(self, admin_api):
        assert_error(admin_api.get("/users", {"q": "a\x00"}), 422, "q")
        assert_error(admin_api.get("/audit", {"actor": "\x00"}), 422, "actor")

    def test_huge_filter_id_is_422_naming_it(self, admin_api):
        assert_error(admin_api.get("/teams", {"organization": 10**25}), 422, "organization")

    def test_bad_date_filter_names_it(self, admin_api):
        assert_error(admin_api.get("/audit", {"since": "yesterday"}), 422, "since")

    def test_impossible_utc_offset_is_422_naming_it(self, admin_api):
        # PostgreSQL refuses offsets beyond ±15:59; found by schemathesis.
        assert_error(admin_api.get("/audit", {"until": "2030-01-01T00:00:00-23:39"}), 422, "until")
        resp = admin_api.post("/tokens", {"name": "x", "expires_at": "2030-01-01T00:00:00+16:00"})
        assert_error(resp, 422, "expires_at")

    def test_dates_at_the_edge_of_the_calendar_are_422(self, admin_api):
        # Year 9999 at -14:00 would overflow when converted to UTC.
        assert_error(admin_api.get("/audit", {"since": "9999-12-31T23:00:00-14:00"}), 422, "since")
        assert_error(admin_api.get("/audit", {"since": "0001-01-01T00:00:00+05:00"}), 422, "since")

    def test_ordinary_date_filters_work(self, admin_api):
        resp = admin_api.get(
            "/audit", {"since": "2020-01-01T00:00:00+02:00", "until": "2999-01-01"}
        )
        assert resp.status_code == 200
        assert resp.json()["total"] > 0

    def test_bad_choice_names_it(self, cast, admin_api):
        assert_error(admin_api.get("/audit", {"action": "explode"}), 422, "action")
        resp = admin_api.post(
            "/users",
            {
                "organization_id": cast.org_a.pk,
                "email": "x@acme.com",
                "full_name": "X",
                "role": "boss",
            },
        )
        assert_error(resp, 422, "role")

    def test_unsupported_method_is_405_in_the_error_shape(self, cast, admin_api):
        resp = admin_api.request("put", f"/teams/{cast.team_a.pk}", {"name": "x"})
        assert_error(resp, 405)
        assert set(resp["Allow"].replace(" ", "").split(",")) == {"GET", "PATCH", "DELETE"}

    def test_unknown_api_path_is_404_in_the_error_shape(self, admin_api):
        assert_error(admin_api.get("/no-such-thing"), 404)


def test_a_host_this_server_does_not_answer_for_is_a_json_400_naming_the_header(client):  # type: ignore[no-untyped-def]
    body = assert_error(client.get("/api/v1/health", HTTP_HOST='"}Ui!~sKF1"Y_zzW'), 400, "Host")
    assert body["errors"] == [{"field": "Host", "message": "Not a host this server answers for."}]
    # Pages keep Django's plain 400.
    page = client.get("/login/", HTTP_HOST="evil.example")
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
