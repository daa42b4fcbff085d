"""The deployment webhooks, their refusals, the deployment list and the deploy gate over
HTTP. Webhooks authenticate with an integration's token, never a user's."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.urls import resolve
from django.utils import timezone

from opsdesk.changes.integration_actions import create_integration
from opsdesk.changes.models import Change, ChangeWindow, Deployment, WebhookDelivery
from opsdesk.changes.tests.factories import ci, template, topology
from opsdesk.core.testing.api import ApiClient, assert_error, assert_error_shape
from opsdesk.servicedesk.actions import create_incident

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def post(client: Any, path: str, body: bytes, token: str | None = None, **headers: Any) -> Any:
    url = f"/api/v1/deployments{path}"
    if token:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
    return client.post(url, data=body, content_type="application/json", **headers)


@pytest.fixture
def world(cast):  # type: ignore[no-untyped-def]
    cis = topology(cast.org_a)
    template(cast, name="Deploy banking", match_cis=[cis["banking"], cis["app"]])

    def make(source: str, secret: bool = False, **kw: Any) -> tuple[Any, str, str]:
        return create_integration(
            acting_user=cast.admin,
            organization=kw.pop("org", cast.org_a),
            name=kw.pop("name", source),
            source=source,
            with_secret=secret,
            **kw,
        )

    return cast, cis, make


def generic(**values: Any) -> bytes:
    body = {"external_id": "jenkins-7", "service": "Online Banking", "outcome": "success"}
    body.update(values)
    return json.dumps(body).encode()


def test_generic_deployment_is_recorded_and_redelivery_updates_it(world, client):
    _cast, _cis, make = world
    _, token, _ = make("generic")
    resp = post(client, "", generic(outcome="in_progress", version="3.1"), token)
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["status"] == "created"
    dep = body["deployment"]
    assert dep["service"]["name"] == "Online Banking" and dep["change_number"].startswith("CHG")
    resp = post(client, "", generic(version="3.1"), token)
    assert resp.status_code == 200 and resp.json()["status"] == "updated"
    assert resp.json()["deployment"]["id"] == dep["id"]
    assert Change.objects.get(pk=dep["change_id"]).state == "closed"
    assert Deployment.objects.count() == 1


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({}, ""),
        ({"HTTP_AUTHORIZATION": "Bearer opsdi_garbage"}, ""),
        ({}, "?token=opsdi_garbage"),
    ],
)
def test_a_missing_or_unknown_token_gets_401_and_is_kept(world, client, headers, query):
    resp = client.post(
        f"/api/v1/deployments{query}", data=generic(), content_type="application/json", **headers
    )
    assert_error(resp, 401)
    refused = WebhookDelivery.objects.get()
    assert refused.status_code == 401 and refused.source == "generic"
    assert "jenkins-7" in refused.excerpt and refused.organization_id is None
    assert Deployment.objects.count() == 0


def test_a_users_token_or_session_is_not_an_integration_token(world, client):
    cast, _cis, _make = world
    assert_error(ApiClient(client, cast.admin).post("/deployments", json.loads(generic())), 401)
    client.force_login(cast.admin)
    assert_error(post(client, "", generic()), 401)
    assert Deployment.objects.count() == 0


def test_a_disabled_integration_gets_401(world, client):
    _cast, _cis, make = world
    pipe, token, _ = make("generic")
    pipe.is_active = False
    pipe.save()
    assert_error(post(client, "", generic(), token), 401)
    assert WebhookDelivery.objects.get().reason == "The integration generic is disabled."


def test_github_fixture_with_a_good_signature_and_the_token_in_the_query(world, client):
    _cast, cis, make = world
    _pipe, token, secret = make("github", secret=True, default_service=cis["banking"])
    body = fixture("github-deployment_status-success.json")
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    resp = client.post(
        f"/api/v1/deployments/github?token={token}",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="deployment_status",
        HTTP_X_HUB_SIGNATURE_256=sig,
    )
    assert resp.status_code == 201, resp.content
    dep = Deployment.objects.get()
    assert (dep.external_id, dep.service, dep.environment) == (
        "deployment:145988746",
        cis["banking"],
        "production",
    )
    assert dep.payload["deployment"]["id"] == 145988746


@pytest.mark.parametrize("signature", [None, "sha256=" + "0" * 64, "sha1=abc"])
def test_github_bad_or_missing_signature_is_refused_and_changes_nothing(world, client, signature):
    cast, cis, make = world
    pipe, token, _secret = make("github", secret=True, default_service=cis["banking"])
    headers = {"HTTP_X_GITHUB_EVENT": "deployment_status"}
    if signature:
        headers["HTTP_X_HUB_SIGNATURE_256"] = signature
    resp = post(
        client, "/github", fixture("github-deployment_status-success.json"), token, **headers
    )
    body = assert_error(resp, 403)
    assert "X-Hub-Signature-256".lower() in body["detail"].lower()
    refused = WebhookDelivery.objects.get()
    assert refused.integration == pipe and refused.organization_id == cast.org_a.pk
    assert Deployment.objects.count() == 0 and Change.objects.count() == 0


def test_github_ping_answers_200_with_a_note(world, client):
    _cast, _cis, make = world
    _, token, _ = make("github")
    resp = post(client, "/github", fixture("github-ping.json"), token, HTTP_X_GITHUB_EVENT="ping")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ignored" and "ping" in resp.json()["note"]
    assert Deployment.objects.count() == 0 and WebhookDelivery.objects.count() == 0


def test_gitlab_fixture_with_its_secret_token(world, client):
    _cast, cis, make = world
    _, token, secret = make("gitlab", secret=True)
    body = fixture("gitlab-deployment-success.json")
    bad = post(client, "/gitlab?ci=bank-app", body, token, HTTP_X_GITLAB_TOKEN="wrong")
    assert_error(bad, 403)
    good = post(client, "/gitlab?ci=bank-app", body, token, HTTP_X_GITLAB_TOKEN=secret)
    assert good.status_code == 201, good.content
    dep = Deployment.objects.get()
    assert dep.ci == cis["app"] and dep.environment == "staging" and dep.external_id == "15"


def test_azure_devops_fixture_with_basic_auth(world, client):
    _cast, cis, make = world
    _, token, _ = make("azure-devops", default_service=cis["email"])
    auth = base64.b64encode(f"azure:{token}".encode()).decode()
    resp = client.post(
        "/api/v1/deployments/azure-devops",
        data=fixture("azure-devops-release-deployment-completed.json"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {auth}",
    )
    assert resp.status_code == 201, resp.content
    dep = Deployment.objects.get()
    assert dep.external_id == "release:1:environment:5" and dep.service == cis["email"]
    assert dep.change is None  # no template covers Email


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("", b'{"external_id": "1", "outcome": "exploded"}', "outcome"),
        ("", b'{"service": "Online Banking"}', "external_id"),
        ("/gitlab", b'{"object_kind": "deployment", "status": "success"}', "deployment_id"),
        ("/azure-devops", b'{"eventType": "build.complete", "resource": {}}', "resource.id"),
    ],
)
def test_a_bad_shape_is_refused_naming_the_field_and_kept(world, client, path, body, field):
    _cast, _cis, make = world
    source = path.strip("/") or "generic"
    _, token, _ = make(source)
    assert_error(post(client, path, body, token), 422, field)
    refused = WebhookDelivery.objects.get()
    assert refused.status_code == 422 and field in refused.reason
    assert Deployment.objects.count() == 0


def test_not_json_is_a_400_or_422_naming_the_body(world, client):
    _cast, _cis, make = world
    _, token, _ = make("gitlab")
    resp = post(client, "/gitlab", b"{not json", token)
    assert resp.status_code in (400, 422)
    assert_error_shape(resp.json())
    assert WebhookDelivery.objects.count() == 1


def test_a_payload_of_another_source_is_refused(world, client):
    _cast, _cis, make = world
    _, token, _ = make("gitlab")
    assert_error(post(client, "/github", b"{}", token, HTTP_X_GITHUB_EVENT="ping"), 422, "source")


def test_an_unknown_source_is_404_and_kept(world, client):
    _cast, _cis, make = world
    _, token, _ = make("generic")
    body = assert_error(post(client, "/jenkins", b"{}", token), 404)
    assert "jenkins" in body["detail"]
    assert WebhookDelivery.objects.get().status_code == 404


def test_an_integration_of_a_cannot_post_to_a_ci_of_b(world, client):
    cast, _cis, make = world
    _, token, _ = make("generic")
    b_service = ci(cast.org_b, "Borealis banking", "business_service")
    b_change_count = Change.objects.filter(organization=cast.org_b).count()
    for ref in (b_service.pk, "Borealis banking"):
        resp = post(client, "", generic(service=ref), token)
        assert_error(resp, 422, "service")
    assert Deployment.objects.count() == 0
    assert Change.objects.filter(organization=cast.org_b).count() == b_change_count


def test_a_failure_half_way_leaves_nothing_behind(world, client, monkeypatch):
    """One transaction: when opening the change fails after the deployment row was written,
    the whole delivery is refused and nothing stays."""
    _cast, _cis, make = world
    _, token, _ = make("generic")
    from opsdesk.changes import deployments

    def boom(*args: Any, **kwargs: Any) -> None:
        from opsdesk.core.errors import FieldError

        raise FieldError({"change": "simulated failure"})

    monkeypatch.setattr(deployments, "_advance", boom)
    assert_error(post(client, "", generic(), token), 422, "change")
    assert Deployment.objects.count() == 0 and Change.objects.count() == 0


# --- reads -----------------------------------------------------------------------------------


def test_the_list_and_a_deployment_for_users(world, client):
    cast, _cis, make = world
    _, token, _ = make("generic")
    post(client, "", generic(), token)
    post(client, "", generic(external_id="jenkins-8", outcome="failure", environment="prod"), token)
    api = ApiClient(client, cast.agent)
    items = api.get("/deployments", {"outcome": "failure"}).json()["items"]
    assert [i["external_id"] for i in items] == ["jenkins-8"]
    one = api.get(f"/deployments/{items[0]['id']}")
    assert one.status_code == 200 and one.json()["outcome"] == "failure"
    assert_error(ApiClient(client, cast.admin_b).get(f"/deployments/{items[0]['id']}"), 404)
    assert_error(api.get("/deployments", {"flag": "bogus"}), 422, "flag")


# --- the gate --------------------------------------------------------------------------------


def test_the_gate_route_is_not_shadowed_by_the_change_routes():
    """`/changes/{change_id}` must not catch `/changes/gate` (see the report: the changes
    routes need `{int:change_id}`, or this router mounted before theirs)."""
    assert resolve("/api/v1/changes/gate").url_name == "deploy_gate"


@pytest.mark.urls("opsdesk.changes.tests.urls_deployments_gate_first")
def test_the_gate_over_http_with_an_integration_token_and_a_user_token(world, client):
    cast, cis, make = world
    _, token, _ = make("generic")
    pipeline = ApiClient(client, token=token)
    resp = pipeline.get("/changes/gate", {"ci": "bank-app", "environment": "production"})
    assert resp.status_code == 200, resp.content
    assert resp.json()["allowed"] is True and resp.json()["reasons"] == []
    now = timezone.now()
    ChangeWindow.objects.create(
        organization=cast.org_a,
        kind="freeze",
        name="Quarter close",
        starts_at=now - timedelta(hours=1),
        ends_at=now + timedelta(hours=1),
    )
    answer = pipeline.get("/changes/gate", {"ci": str(cis["app"].pk)}).json()
    assert answer["allowed"] is False and "Quarter close" in answer["reasons"][0]
    incident = create_incident(
        acting_user=cast.agent,
        organization=cast.org_a,
        title="Banking down",
        ci=cis["app"],
        impact=1,
        urgency=1,
    )
    user = ApiClient(client, cast.agent).get("/changes/gate", {"ci": "bank-app"}).json()
    assert user["allowed"] is False and len(user["reasons"]) == 2
    assert user["incidents"][0]["number"] == incident.number
    # Another organisation's CI is unknown to this pipeline, and a requester may not ask.
    b_ci = ci(cast.org_b, "b-app", "application")
    assert_error(pipeline.get("/changes/gate", {"ci": str(b_ci.pk)}), 404)
    assert_error(ApiClient(client, cast.requester).get("/changes/gate", {"ci": "bank-app"}), 404)
    assert_error(ApiClient(client).get("/changes/gate", {"ci": "bank-app"}), 401)
