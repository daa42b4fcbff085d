"""The alert-groups, alerts and event-metrics API."""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes.tests.factories import topology
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.events import pipeline
from opsdesk.events.choices import GroupState, Method
from opsdesk.events.models import AlertGroup, CorrelationDecision, GroupFeedback
from opsdesk.events.tests.group_helpers import alert, batch_for, group
from opsdesk.servicedesk.choices import IncidentState

pytestmark = pytest.mark.django_db


@pytest.fixture
def scene(cast):
    cis = topology(cast.org_a)
    db = group(
        cast.org_a,
        {"title": "Replication lag on bank-db", "severity": "critical", "ci": cis["db"]},
        {"title": "5xx on bank-app", "severity": "major", "ci": cis["app"]},
        service=cis["banking"],
        title="Banking degraded",
    )
    db.root_causes = [
        {"ci_id": cis["db"].pk, "ci": "bank-db", "score": 0.9, "evidence": ["alerted first"]},
        {"ci_id": cis["app"].pk, "ci": "bank-app", "score": 0.4, "evidence": []},
    ]
    db.save()
    pipeline.run(batch_for(cast.org_a, opened=(db,)), only=("incident",))
    mail = group(cast.org_a, {"title": "Mail queue stuck", "severity": "minor"}, title="Mail")
    unbound = alert(cast.org_a, "Mystery host down", severity="warning")
    b_group = group(cast.org_b, {"title": "B's disk full"}, title="B's disk")
    return {"cis": cis, "db": db, "mail": mail, "unbound": unbound, "b": b_group}


def _ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.content
    return [row["id"] for row in resp.json()["items"]]


def test_list_filters(client, cast, scene):
    api = ApiClient(client, cast.agent)
    assert set(_ids(api.get("/alert-groups"))) == {scene["db"].pk, scene["mail"].pk}
    assert _ids(api.get("/alert-groups", {"severity": "critical"})) == [scene["db"].pk]
    assert _ids(api.get("/alert-groups", {"q": "mail"})) == [scene["mail"].pk]
    assert _ids(api.get("/alert-groups", {"q": scene["db"].number})) == [scene["db"].pk]
    svc = scene["cis"]["banking"].pk
    assert _ids(api.get("/alert-groups", {"service_id": svc})) == [scene["db"].pk]
    assert _ids(api.get("/alert-groups", {"state": "resolved"})) == []
    assert_error(api.get("/alert-groups", {"state": "sleeping"}), 422, "state")
    row = api.get("/alert-groups", {"severity": "critical"}).json()["items"][0]
    assert row["incident"]["number"].startswith("INC")
    assert row["service"] == {"id": svc, "name": "Online Banking"}


def test_alert_list_filters(client, cast, scene):
    api = ApiClient(client, cast.agent)
    assert len(_ids(api.get("/alerts"))) == 4
    assert _ids(api.get("/alerts", {"unbound": "true"})) != []
    unbound = _ids(api.get("/alerts", {"unbound": "true"}))
    assert scene["unbound"].pk in unbound and len(unbound) == 2  # and the mail alert
    assert len(_ids(api.get("/alerts", {"unbound": "false"}))) == 2
    assert len(_ids(api.get("/alerts", {"group_id": scene["db"].pk}))) == 2
    assert len(_ids(api.get("/alerts", {"ci_id": scene["cis"]["db"].pk}))) == 1
    assert _ids(api.get("/alerts", {"q": "mystery"})) == [scene["unbound"].pk]
    assert _ids(api.get("/alerts", {"status": "resolved"})) == []
    assert_error(api.get("/alerts", {"status": "asleep"}), 422, "status")


def test_requester_sees_no_groups(client, cast, scene):
    assert _ids(ApiClient(client, cast.requester).get("/alert-groups")) == []
    assert_error(ApiClient(client, cast.requester).get(f"/alert-groups/{scene['db'].pk}"), 404)


def test_detail(client, cast, scene):
    CorrelationDecision.objects.create(
        organization=cast.org_a,
        group=scene["db"],
        alert=scene["db"].alerts.first(),
        method=Method.TOPOLOGY,
        score=0.75,
        reason="bank-app depends on bank-db (1 hop)",
    )
    body = ApiClient(client, cast.auditor).get(f"/alert-groups/{scene['db'].pk}").json()
    assert body["number"] == scene["db"].number and body["alert_count"] == 2
    assert [a["title"] for a in body["alerts"]] == [
        "Replication lag on bank-db",
        "5xx on bank-app",
    ]
    assert body["alerts"][0]["ci"]["name"] == "bank-db"
    assert body["decisions"][0]["reason"].startswith("bank-app depends")
    assert body["root_causes"][0]["evidence"] == ["alerted first"]
    assert {e["kind"] for e in body["events"]} == {"fired"}
    assert_error(ApiClient(client, cast.agent).get(f"/alert-groups/{scene['b'].pk}"), 404)


def test_merge_split_resolve(client, cast, scene):
    api = ApiClient(client, cast.agent)
    db, mail = scene["db"], scene["mail"]
    resp = api.post(f"/alert-groups/{db.pk}/merge", {"group_ids": [mail.pk], "note": "one"})
    assert resp.status_code == 200, resp.content
    assert resp.json()["alert_count"] == 3
    assert AlertGroup.objects.get(pk=mail.pk).state == GroupState.MERGED
    moved = AlertGroup.objects.get(pk=db.pk).alerts.get(title="Mail queue stuck")
    resp = api.post(f"/alert-groups/{db.pk}/split", {"alert_ids": [moved.pk]})
    assert resp.status_code == 201, resp.content
    new = resp.json()
    assert new["id"] not in (db.pk, mail.pk) and new["alert_count"] == 1
    assert new["method"] == "operator"
    assert GroupFeedback.objects.filter(organization=cast.org_a).count() == 2
    resp = api.post(f"/alert-groups/{db.pk}/resolve", {"note": "fixed the replica"})
    assert resp.status_code == 200, resp.content
    assert resp.json()["state"] == "resolved"
    assert resp.json()["incident"]["state"] == IncidentState.RESOLVED
    assert_error(api.post(f"/alert-groups/{db.pk}/resolve", {}), 409, "state")


def test_bad_merge_and_split_name_the_field(client, cast, scene):
    api = ApiClient(client, cast.agent)
    db = scene["db"]
    assert_error(api.post(f"/alert-groups/{db.pk}/merge", {"group_ids": []}), 422, "group_ids")
    assert_error(
        api.post(f"/alert-groups/{db.pk}/merge", {"group_ids": [scene["b"].pk]}), 422, "group_ids"
    )
    assert_error(api.post(f"/alert-groups/{db.pk}/merge", {"group_ids": [db.pk]}), 422, "group_ids")
    other = scene["mail"].alerts.get().pk
    assert_error(api.post(f"/alert-groups/{db.pk}/split", {"alert_ids": [other]}), 422, "alert_ids")
    everything = list(db.alerts.values_list("pk", flat=True))
    assert_error(
        api.post(f"/alert-groups/{db.pk}/split", {"alert_ids": everything}), 422, "alert_ids"
    )
    assert GroupFeedback.objects.count() == 0


def test_auditor_reads_but_may_not_act(client, cast, scene):
    api = ApiClient(client, cast.auditor)
    db = scene["db"]
    assert api.get(f"/alert-groups/{db.pk}").status_code == 200
    assert_error(api.post(f"/alert-groups/{db.pk}/merge", {"group_ids": [scene["mail"].pk]}), 403)
    assert_error(api.post(f"/alert-groups/{db.pk}/resolve", {}), 403)
    assert AlertGroup.objects.get(pk=db.pk).state == GroupState.OPEN


def test_event_metrics_endpoint(client, cast, scene):
    api = ApiClient(client, cast.manager)
    resp = api.get("/event-metrics", {"organization_id": cast.org_a.pk})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["total"]["groups"] == 2 and body["total"]["incidents"] == 1
    assert body["total"]["mttd"]["count"] == 1
    assert body["by_service"][0]["service"] == "Online Banking"
    # Days are the organisation's (late in the UTC evening it is tomorrow in Johannesburg).
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(cast.org_a.time_zone or "UTC")).date()
    only = api.get(
        "/event-metrics",
        {
            "organization_id": cast.org_a.pk,
            "start": str(today - timedelta(days=1)),
            "end": str(today),
            "service_id": scene["cis"]["banking"].pk,
        },
    ).json()
    assert only["total"]["groups"] == 1
    assert_error(
        api.get(
            "/event-metrics",
            {"organization_id": cast.org_a.pk, "start": str(today), "end": "2020-01-01"},
        ),
        422,
        "end",
    )
    assert_error(
        api.get(
            "/event-metrics", {"organization_id": cast.org_a.pk, "service_id": scene["b"].pk + 999}
        ),
        422,
        "service_id",
    )
    assert_error(
        api.get("/event-metrics", {"organization_id": cast.org_a.pk, "start": "0001-01-01"}),
        422,
        "start",
    )
    assert_error(
        ApiClient(client, cast.requester).get("/event-metrics", {"organization_id": cast.org_a.pk}),
        403,
    )
    assert_error(api.get("/event-metrics", {"organization_id": cast.org_b.pk}), 404)
