"""The risk API: a change's risk explained live and assessed, the settings and the
questionnaire; bad input names the field."""

from __future__ import annotations

import pytest

from opsdesk.changes import risk
from opsdesk.changes.models import RiskSettings
from opsdesk.changes.tests.factories import change, topology
from opsdesk.core.testing.api import ApiClient, assert_error

pytestmark = pytest.mark.django_db


def test_get_explains_live_without_saving_and_post_saves(cast, client):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"]])
    api = ApiClient(client, cast.agent)
    resp = api.get(f"/changes/{c.pk}/risk")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert [f["key"] for f in body["factors"]] == list(risk.FACTORS)
    blast = next(f for f in body["factors"] if f["key"] == "blast_radius")
    assert "Online Banking (tier 1)" in blast["evidence"] and blast["weight"] == 20
    assert body["saved"] == {"score": None, "risk_class": "", "assessed_at": None}
    c.refresh_from_db()
    assert c.risk_assessed_at is None

    answers = {"done_before": "no", "backout": "no", "outage": "full", "tested": "no"}
    resp = api.post(f"/changes/{c.pk}/risk", {"answers": answers})
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["saved"]["risk_class"] == body["risk_class"]
    assert body["saved"]["score"] == body["score"]
    assert [q["answer"] for q in body["questionnaire"]] == list(answers.values())
    c.refresh_from_db()
    assert c.risk_answers == answers and c.risk_class == body["risk_class"]


def test_post_bad_answers_and_roles(cast, client):
    c = change(cast)
    api = ApiClient(client, cast.agent)
    assert_error(
        api.post(f"/changes/{c.pk}/risk", {"answers": {"outage": "maybe"}}), 422, "answers.outage"
    )
    assert_error(
        api.post(f"/changes/{c.pk}/risk", {"answers": {"colour": "red"}}), 422, "answers.colour"
    )
    assert_error(api.post(f"/changes/{c.pk}/risk", {"answers": ["no"]}), 422, "answers")
    assert_error(ApiClient(client, cast.auditor).post(f"/changes/{c.pk}/risk", {}), 403)
    other = change(cast, org=cast.org_b)
    assert_error(api.get(f"/changes/{other.pk}/risk"), 404)


def test_settings_round_trip_and_validation(cast, client):
    api = ApiClient(client, cast.manager)
    resp = api.get("/change-risk-settings", {"organization_id": cast.org_a.pk})
    assert resp.status_code == 200
    assert resp.json()["weights"] == risk.DEFAULT_WEIGHTS and resp.json()["customised"] == []
    resp = api.request(
        "PUT",
        "/change-risk-settings",
        {"organization_id": cast.org_a.pk, "weights": {"timing": 40}, "thresholds": {"high": 45}},
    )
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["weights"]["timing"] == 40 and body["thresholds"]["high"] == 45
    assert body["customised"] == ["thresholds", "weights"]
    bad = [
        ({"weights": {"timing": -1}}, "weights.timing"),
        ({"weights": {"luck": 3}}, "weights.luck"),
        ({"thresholds": {"moderate": 50, "high": 40}}, "thresholds.high"),
        (
            {
                "questionnaire": [
                    {
                        "key": "q",
                        "question": "Q?",
                        "answers": [{"key": "a", "label": "A", "points": 1}],
                    }
                ]
            },
            "questionnaire.0.answers",
        ),
        (
            {
                "questionnaire": [
                    {
                        "key": "Q Q",
                        "question": "Q?",
                        "answers": [
                            {"key": "a", "label": "A", "points": 1},
                            {"key": "b", "label": "B", "points": 0},
                        ],
                    }
                ]
            },
            "questionnaire.0.key",
        ),
        ({"induced_window_hours": 0}, "induced_window_hours"),
    ]
    for body, field in bad:
        resp = api.request(
            "PUT", "/change-risk-settings", {"organization_id": cast.org_a.pk, **body}
        )
        assert_error(resp, 422, field)
    agent = ApiClient(client, cast.agent)
    assert agent.get("/change-risk-settings", {"organization_id": cast.org_a.pk}).status_code == 200
    assert_error(
        agent.request(
            "PUT",
            "/change-risk-settings",
            {"organization_id": cast.org_a.pk, "weights": {"timing": 1}},
        ),
        403,
    )
    assert_error(api.get("/change-risk-settings", {"organization_id": cast.org_b.pk}), 404)
    assert RiskSettings.objects.get(organization=cast.org_a).weights == {"timing": 40}


def test_questionnaire_lists_the_organisations_questions(cast, client):
    api = ApiClient(client, cast.agent)
    resp = api.get("/change-risk-questionnaire", {"organization_id": cast.org_a.pk})
    assert resp.status_code == 200
    assert [q["key"] for q in resp.json()] == [q["key"] for q in risk.DEFAULT_QUESTIONNAIRE]
    assert_error(api.get("/change-risk-questionnaire"), 422, "organization_id")
    assert_error(
        ApiClient(client, cast.requester).get(
            "/change-risk-questionnaire", {"organization_id": cast.org_a.pk}
        ),
        403,
    )


def test_a_platform_superuser_reads_any_organisations_risk(cast, client):
    from opsdesk.accounts.models import User

    root = User.objects.create_superuser("root@platform.test", "pw-123456789", full_name="Root")
    c = change(cast, org=cast.org_b)
    api = ApiClient(client, root)
    assert api.get(f"/changes/{c.pk}/risk").status_code == 200
    for path in ("/change-risk-settings", "/change-risk-questionnaire"):
        assert api.get(path, {"organization_id": cast.org_b.pk}).status_code == 200
