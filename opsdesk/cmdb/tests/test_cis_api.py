"""The CI API: list filters, create/change/delete, relationships, impact, history, classes."""

import pytest
from django.contrib.auth import get_user_model

from opsdesk.cmdb.models import CISourceRecord, ConfigurationItem, Relationship
from opsdesk.cmdb.tests.factories import ci, relate
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(cast, client):  # type: ignore[no-untyped-def]
    return ApiClient(client, cast.agent)


def names(resp) -> list[str]:  # type: ignore[no-untyped-def]
    assert resp.status_code == 200, resp.content
    return [item["name"] for item in resp.json()["items"]]


def test_list_filters(cast, agent):
    ci(
        cast.org_a,
        "web-01",
        "server",
        tags=["pci", "linux"],
        attributes={"os": "Linux", "cpu_cores": 8},
        criticality=1,
        country="ZA",
        owner_team=cast.team_a,
    )
    ci(
        cast.org_a,
        "web-02",
        "server",
        tags=["linux"],
        attributes={"os": "Windows"},
        status="retired",
    )
    ci(cast.org_a, "orders-db", "database", environment="staging", description="pci data")
    ci(cast.org_b, "b-web", "server", tags=["pci"])
    assert names(agent.get("/cis")) == ["orders-db", "web-01", "web-02"]
    assert names(agent.get("/cis", {"class": "server"})) == ["web-01", "web-02"]
    assert names(agent.get("/cis", {"tag": "pci"})) == ["web-01"]
    assert names(agent.get("/cis", {"tag": "pc"})) == []  # whole tags only
    assert names(agent.get("/cis", {"attribute": "os=Linux"})) == ["web-01"]
    assert names(agent.get("/cis", {"attribute": "cpu_cores=8"})) == ["web-01"]
    assert names(agent.get("/cis", {"status": "retired"})) == ["web-02"]
    assert names(agent.get("/cis", {"environment": "staging"})) == ["orders-db"]
    assert names(agent.get("/cis", {"criticality": 1, "country": "za"})) == ["web-01"]
    assert names(agent.get("/cis", {"owner_team": cast.team_a.pk})) == ["web-01"]
    assert names(agent.get("/cis", {"q": "PCI"})) == ["orders-db"]
    assert names(agent.get("/cis", {"organization": cast.org_b.pk})) == []
    assert agent.get("/cis", {"class": "server"}).json()["total"] == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"attribute": "os"}, "attribute"),
        ({"attribute": "os__contains=x"}, "attribute"),
        ({"status": "broken"}, "status"),
        ({"criticality": 9}, "criticality"),
    ],
)
def test_bad_filters_name_the_parameter(agent, params, field):
    assert_error(agent.get("/cis", params), 422, field)


def test_create_get_patch_delete(cast, client, agent):
    resp = agent.post(
        "/cis",
        {
            "organization_id": cast.org_a.pk,
            "ci_class": "server",
            "name": "srv-01",
            "attributes": {"serial_number": "SN-9", "cpu_cores": 4, "os": "Linux"},
            "owner_team_id": cast.team_a.pk,
            "tags": ["linux"],
            "criticality": 2,
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["ci_class"] == "server" and body["owner_team_id"] == cast.team_a.pk
    assert {"kind": "serial_number", "value": "sn-9"} in body["identifiers"]
    assert body["attribute_sources"]["attributes.cpu_cores"] == "manual"
    ci_id = body["id"]
    CISourceRecord.objects.create(
        organization=cast.org_a, ci_id=ci_id, source="azure-prod"
    )  # as a discovery import leaves it
    detail = agent.get(f"/cis/{ci_id}").json()
    assert [s["source"] for s in detail["sources"]] == ["azure-prod"]
    assert detail["sources"][0]["last_seen"]

    resp = agent.patch(f"/cis/{ci_id}", {"attributes": {"cpu_cores": 16, "os": None}})
    assert resp.status_code == 200, resp.content
    assert resp.json()["attributes"] == {"serial_number": "SN-9", "cpu_cores": 16}

    assert_error(agent.delete(f"/cis/{ci_id}"), 403)  # agents do not delete
    manager = ApiClient(client, cast.manager)
    assert manager.delete(f"/cis/{ci_id}").status_code == 204
    assert_error(agent.get(f"/cis/{ci_id}"), 404)


def test_errors_name_the_field(cast, agent):
    base = {"organization_id": cast.org_a.pk, "ci_class": "server", "name": "x"}
    assert_error(
        agent.post("/cis", {**base, "attributes": {"cpu_cores": "many"}}),
        422,
        "attributes.cpu_cores",
    )
    assert_error(agent.post("/cis", {**base, "ci_class": "spaceship"}), 422, "ci_class")
    assert_error(agent.post("/cis", {**base, "country": "QQ"}), 422, "country")
    assert_error(
        agent.post("/cis", {**base, "owner_team_id": cast.team_b.pk}), 422, "owner_team_id"
    )
    assert_error(agent.post("/cis", {**base, "name": "x" * 256}), 422, "name")
    assert_error(agent.post("/cis", {**base, "colour": "red"}), 422, "colour")
    assert_error(agent.post("/cis", {**base, "organization_id": cast.org_b.pk}), 404)
    taken = {**base, "name": "taken", "attributes": {"serial_number": "SN-1"}}
    assert agent.post("/cis", taken).status_code == 201
    assert_error(
        agent.post("/cis", {**base, "attributes": {"serial_number": "sn-1"}}),
        409,
        "attributes.serial_number",
    )
    srv = ci(cast.org_a, "srv", "server")
    assert_error(agent.patch(f"/cis/{srv.pk}", {"status": None}), 422, "status")
    assert_error(agent.patch(f"/cis/{srv.pk}", {"tags": ["ok", ""]}), 422, "tags.1")
    assert ConfigurationItem.objects.filter(organization=cast.org_a).count() == 2


def test_roles(cast, client):
    srv = ci(cast.org_a, "srv", "server")
    requester = ApiClient(client, cast.requester)
    assert requester.get("/cis").json()["total"] == 0
    assert_error(requester.get(f"/cis/{srv.pk}"), 404)
    auditor = ApiClient(client, cast.auditor)
    assert auditor.get(f"/cis/{srv.pk}").status_code == 200
    assert_error(auditor.patch(f"/cis/{srv.pk}", {"description": "x"}), 403)
    assert_error(
        auditor.post(
            "/cis", {"organization_id": cast.org_a.pk, "ci_class": "server", "name": "new"}
        ),
        403,
    )
    srv.refresh_from_db()
    assert srv.description == ""


def test_relationships_through_the_api(cast, client, agent):
    app = ci(cast.org_a, "app", "application")
    srv = ci(cast.org_a, "srv", "server")
    resp = agent.post(
        "/relationships", {"source_id": app.pk, "type": "runs_on", "target_id": srv.pk}
    )
    assert resp.status_code == 201, resp.content
    rel_id = resp.json()["id"]
    assert resp.json()["label"] == "runs on"
    assert_error(
        agent.post("/relationships", {"source_id": app.pk, "type": "runs_on", "target_id": srv.pk}),
        409,
    )
    assert_error(
        agent.post("/relationships", {"source_id": app.pk, "type": "runs_on", "target_id": app.pk}),
        422,
        "target_id",
    )
    assert_error(
        agent.post("/relationships", {"source_id": app.pk, "type": "likes", "target_id": srv.pk}),
        422,
        "type",
    )
    b_srv = ci(cast.org_b, "b-srv", "server")
    assert_error(
        agent.post(
            "/relationships", {"source_id": app.pk, "type": "runs_on", "target_id": b_srv.pk}
        ),
        404,
    )
    seen_from_server = agent.get(f"/cis/{srv.pk}/relationships").json()["items"]
    assert [(r["direction"], r["label"], r["other"]["name"]) for r in seen_from_server] == [
        ("incoming", "runs", "app")
    ]
    seen_from_app = agent.get(f"/cis/{app.pk}/relationships").json()["items"]
    assert [(r["direction"], r["label"], r["other"]["name"]) for r in seen_from_app] == [
        ("outgoing", "runs on", "srv")
    ]
    assert ApiClient(client, cast.manager).delete(f"/relationships/{rel_id}").status_code == 204
    assert not Relationship.objects.exists()


def test_history_of_a_ci_and_its_relationships(cast, client, agent):
    resp = agent.post(
        "/cis", {"organization_id": cast.org_a.pk, "ci_class": "server", "name": "srv"}
    )
    srv_id = resp.json()["id"]
    agent.patch(f"/cis/{srv_id}", {"description": "edge router host"})
    app = ci(cast.org_a, "app", "application")
    agent.post("/relationships", {"source_id": app.pk, "type": "runs_on", "target_id": srv_id})
    other = ci(cast.org_a, "other", "server")  # noise: not in the history
    agent.patch(f"/cis/{other.pk}", {"description": "noise"})
    history = agent.get(f"/cis/{srv_id}/history").json()
    assert history["total"] == 3
    assert [(r["object_type"], r["action"]) for r in history["items"]] == [
        ("cmdb.relationship", "create"),
        ("cmdb.configurationitem", "update"),
        ("cmdb.configurationitem", "create"),
    ]
    assert history["items"][1]["changes"]["description"] == ["", "edge router host"]
    # A relationship deleted since keeps its place in the history (created, then removed).
    rel_id = ApiClient(client, cast.manager).get(f"/cis/{srv_id}/relationships").json()
    rel_id = rel_id["items"][0]["id"]
    assert ApiClient(client, cast.manager).delete(f"/relationships/{rel_id}").status_code == 204
    history = agent.get(f"/cis/{srv_id}/history").json()
    assert [(r["object_type"], r["action"]) for r in history["items"]][:2] == [
        ("cmdb.relationship", "delete"),
        ("cmdb.relationship", "create"),
    ]
    # Anyone who may view the CI sees its history, though agents may not read the audit log.
    assert agent.get("/audit").json()["total"] == 0
    assert_error(ApiClient(client, cast.requester).get(f"/cis/{srv_id}/history"), 404)


def test_impact_through_the_api(cast, agent):
    banking = ci(cast.org_a, "Online banking", "business_service", criticality=1)
    email = ci(cast.org_a, "Email", "business_service", criticality=3)
    web = ci(cast.org_a, "banking-web", "application")
    mail = ci(cast.org_a, "exchange", "application")
    srv = ci(cast.org_a, "srv-01", "server")
    relate(banking, "depends_on", web)
    relate(email, "depends_on", mail)
    relate(web, "runs_on", srv)
    relate(mail, "runs_on", srv)
    resp = agent.get(f"/cis/{srv.pk}/impact", {"depth": 6})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["ci"]["name"] == "srv-01"
    assert [s["name"] for s in body["services"]] == ["Online banking", "Email"]
    assert body["services"][0]["path_names"] == ["srv-01", "banking-web", "Online banking"]
    assert body["services"][0]["path"] == [srv.pk, web.pk, banking.pk]
    assert body["blast_radius"]["highest_criticality"] == 1
    assert body["blast_radius"]["by_criticality"] == {"tier_1": 1, "tier_3": 1}
    assert {"source": web.pk, "target": srv.pk, "type": "runs_on"} in body["edges"]
    assert [
        s["name"] for s in agent.get(f"/cis/{srv.pk}/impact", {"depth": 1}).json()["services"]
    ] == []
    assert_error(agent.get(f"/cis/{srv.pk}/impact", {"depth": 11}), 422, "depth")
    assert_error(agent.get(f"/cis/{srv.pk}/impact", {"depth": 0}), 422, "depth")


def test_ci_classes_and_relationship_types(cast, client, agent):
    classes = agent.get("/ci-classes").json()
    assert {"business_service", "server", "k8s_pod"} <= {c["key"] for c in classes}
    server = agent.get("/ci-classes/server").json()
    assert server["attribute_schema"]["properties"]["cpu_cores"]["type"] == "integer"
    assert_error(agent.get("/ci-classes/spaceship"), 404)
    types = {t["key"]: t for t in agent.get("/relationship-types").json()}
    assert types["backs_up"]["propagation"] == "none"
    assert types["runs_on"]["reverse_label"] == "runs"

    assert_error(ApiClient(client, cast.admin).patch("/ci-classes/server", {"label": "Box"}), 403)
    root = get_user_model().objects.create_superuser("root@platform.test", "pw-123456789")
    admin = ApiClient(client, root)
    schema = {**server["attribute_schema"]}
    schema["properties"] = {**schema["properties"], "rack": {"type": "string", "maxLength": 3}}
    resp = admin.patch("/ci-classes/server", {"attribute_schema": schema})
    assert resp.status_code == 200, resp.content
    assert_error(
        admin.patch("/ci-classes/server", {"attribute_schema": {"type": "nonsense"}}),
        422,
        "attribute_schema",
    )
    # The new attribute is validated at once, without a migration.
    assert_error(
        agent.post(
            "/cis",
            {
                "organization_id": cast.org_a.pk,
                "ci_class": "server",
                "name": "srv",
                "attributes": {"rack": "R1234"},
            },
        ),
        422,
        "attributes.rack",
    )
