import json


def test_change_through_api_shows_in_audit_with_before_after(cast, client, bearer):
    headers = bearer(cast.admin)
    resp = client.patch(
        f"/api/v1/organizations/{cast.org_a.pk}",
        data=json.dumps({"time_zone": "Africa/Nairobi"}),
        content_type="application/json",
        **headers,
    )
    assert resp.status_code == 200, resp.content
    assert resp.json()["time_zone"] == "Africa/Nairobi"
    audit = client.get(
        "/api/v1/audit",
        {"object_type": "core.organization", "action": "update"},
        **bearer(cast.auditor),
    ).json()
    assert audit["total"] == 1
    record = audit["items"][0]
    assert record["changes"]["time_zone"] == ["Africa/Johannesburg", "Africa/Nairobi"]
    assert record["actor_email"] == "admin@a.test"
    assert record["before"]["time_zone"] == "Africa/Johannesburg"
    assert record["after"]["time_zone"] == "Africa/Nairobi"
    assert record["request_id"] == resp["X-Request-ID"]
