"""Breach prediction in the database: scoring live clocks from the organisation's own closed
clocks, the five-minute job, the command and the API (agents and above of the org only)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from opsdesk.core import periodic
from opsdesk.core.testing.api import ApiClient, assert_error
from opsdesk.sla import evaluation
from opsdesk.sla.models import Clock, Definition
from opsdesk.sla.prediction import score_clocks, score_open_clocks
from opsdesk.sla.prediction_tasks import score_clocks_task

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
H = 3600
TARGET = 8 * H


def _definition(org) -> Definition:
    return Definition.objects.create(
        organization=org, name="Standard", resolution_minutes={"2": 480}
    )


def _history(definition, team, *, slow_breach: bool, first_id: int = 1000) -> None:
    """40 closed P2 clocks that took 2 h and made it, 40 that ran 10 h (breached or, when
    `slow_breach` is false, on a target long enough to make it)."""
    rows = []
    for n in range(80):
        slow = n >= 40
        elapsed = 10 * H if slow else 2 * H
        target = TARGET if slow_breach or not slow else 12 * H
        rows.append(
            Clock(
                organization_id=definition.organization_id,
                definition=definition,
                kind="sla",
                metric="resolution",
                subject_id=first_id + n,
                number=f"INC{first_id + n}",
                team=team,
                priority=2,
                status="stopped",
                target_seconds=target,
                elapsed_seconds=elapsed,
                started_at=NOW - timedelta(days=3),
                stopped_at=NOW - timedelta(days=2),
                breached=elapsed > target,
                computed_at=NOW - timedelta(days=2),
            )
        )
    Clock.objects.bulk_create(rows)


def _live(definition, team, *, elapsed: int, subject_id: int = 1, computed_ago: int = 0) -> Clock:
    return Clock.objects.create(
        organization_id=definition.organization_id,
        definition=definition,
        kind="sla",
        metric="resolution",
        subject_id=subject_id,
        number=f"INC{subject_id}",
        team=team,
        priority=2,
        status="running",
        target_seconds=TARGET,
        elapsed_seconds=elapsed,
        started_at=NOW - timedelta(hours=12),
        due_at=NOW + timedelta(seconds=TARGET - elapsed - computed_ago),
        computed_at=NOW - timedelta(seconds=computed_ago),
    )


def test_scoring_writes_probability_reason_and_time(cast):
    definition = _definition(cast.org_a)
    _history(definition, cast.team_a, slow_breach=True)
    late = _live(definition, cast.team_a, elapsed=6 * H, subject_id=1)
    early = _live(definition, cast.team_a, elapsed=0, subject_id=2)
    score_clocks([late, early], NOW)
    late.refresh_from_db()
    early.refresh_from_db()
    assert late.predicted_at == NOW
    assert late.breach_probability > 0.9  # every similar ticket still open at 6 h breached
    assert late.prediction["level"] == "service+priority+team"
    assert late.prediction["support"] == 40
    assert "breached" in late.prediction["reason"]
    assert 0.4 < early.breach_probability < 0.6


def test_time_since_the_last_recompute_counts(cast):
    """A running clock computed 3 h ago at 4 h elapsed has used 7 h of its 8 now."""
    definition = _definition(cast.org_a)
    _history(definition, cast.team_a, slow_breach=True)
    clock = _live(definition, cast.team_a, elapsed=1 * H, subject_id=1, computed_ago=6 * H)
    score_clocks([clock], NOW)
    clock.refresh_from_db()
    assert clock.breach_probability > 0.9  # at 1 h alone it would be about even
    overdue = _live(definition, cast.team_a, elapsed=7 * H, subject_id=2, computed_ago=2 * H)
    score_clocks([overdue], NOW)
    overdue.refresh_from_db()
    assert overdue.breach_probability == 1.0
    assert overdue.prediction["level"] == "past_target"


def test_each_organisation_learns_from_its_own_history(cast):
    a, b = _definition(cast.org_a), _definition(cast.org_b)
    _history(a, cast.team_a, slow_breach=True)
    _history(b, cast.team_b, slow_breach=False, first_id=5000)
    in_a = _live(a, cast.team_a, elapsed=6 * H, subject_id=1)
    in_b = _live(b, cast.team_b, elapsed=6 * H, subject_id=2)
    result = score_open_clocks(NOW)
    assert result == {"scored": 2, "organizations": 2}
    in_a.refresh_from_db()
    in_b.refresh_from_db()
    assert in_a.breach_probability > 0.9
    assert in_b.breach_probability < 0.1
    # Closed clocks are not rescored by the job.
    assert not Clock.objects.filter(status="stopped", predicted_at__isnull=False).exists()


def test_the_job_runs_every_five_minutes(cast):
    job = periodic.REGISTRY[score_clocks_task.name]
    assert job.every == timedelta(minutes=5)
    definition = _definition(cast.org_a)
    clock = _live(definition, cast.team_a, elapsed=H)
    Clock.objects.filter(pk=clock.pk).update(status="paused")  # the job runs at the real now
    result = score_clocks_task.call()
    assert result["scored"] == 1
    clock.refresh_from_db()
    assert clock.breach_probability == 0.5  # no history yet: even odds, said so
    assert clock.prediction["level"] == "none"


def test_the_score_command(cast):
    definition = _definition(cast.org_a)
    clock = _live(definition, cast.team_a, elapsed=H)
    out = StringIO()
    call_command("sla_prediction", "score", "--organization", cast.org_b.slug, stdout=out)
    assert "Scored 0 live clocks" in out.getvalue()
    call_command("sla_prediction", "score", "--organization", cast.org_a.slug, stdout=out)
    assert "Scored 1 live clocks" in out.getvalue()
    clock.refresh_from_db()
    assert clock.predicted_at is not None


# --- the API -------------------------------------------------------------------------------


def test_the_model_is_shown_to_agents_of_the_organisation(cast, client):
    definition = _definition(cast.org_a)
    _history(definition, cast.team_a, slow_breach=True)
    body = ApiClient(client, cast.agent).get(
        "/sla/prediction/model", {"organization": cast.org_a.pk}
    )
    assert body.status_code == 200
    data = body.json()
    assert data["min_support"] == 30
    assert data["queue_beta"] == 0.0
    (part,) = data["parts"]
    assert (part["kind"], part["metric"], part["tickets"]) == ("sla", "resolution", 80)
    top = part["levels"][0]
    assert top["level"] == "service+priority+team"
    assert top["breach_rate"] == 0.5


def test_requesters_and_other_organisations_see_nothing(cast, client):
    path = "/sla/prediction/model"
    assert_error(ApiClient(client, cast.requester).get(path, {"organization": cast.org_a.pk}), 403)
    assert_error(ApiClient(client, cast.agent).get(path, {"organization": cast.org_b.pk}), 404)
    path = "/sla/prediction/evaluation"
    assert_error(ApiClient(client, cast.requester).get(path, {"organization": cast.org_a.pk}), 403)
    assert_error(ApiClient(client, cast.agent_b).get(path, {"organization": cast.org_a.pk}), 404)
    assert_error(ApiClient(client, cast.agent).get(path, {"organization": "x"}), 422)


def test_the_last_evaluation_is_served(cast, client, tmp_path, monkeypatch):
    saved = tmp_path / "evaluation.json"
    monkeypatch.setattr(evaluation, "evaluation_path", lambda: saved)
    monkeypatch.setattr(evaluation, "COMMITTED", tmp_path / "none.json")
    api = ApiClient(client, cast.manager)
    body = api.get("/sla/prediction/evaluation", {"organization": cast.org_a.pk}).json()
    assert body == {"available": False, "source": "", "report": None}
    log = tmp_path / "log.csv"
    from opsdesk.sla.tests.test_prediction_evaluation import _synthetic_log

    _synthetic_log(log, incidents=60)
    out = StringIO()
    call_command("sla_prediction", "evaluate", str(log), stdout=out, stderr=StringIO())
    assert "at_opening" in out.getvalue()
    assert json.loads(saved.read_text())["incidents"] == 60
    body = api.get("/sla/prediction/evaluation", {"organization": cast.org_a.pk}).json()
    assert body["available"] is True
    assert body["source"] == "server"
    assert body["report"]["checkpoints"]["at_opening"]["model"]["n"] > 0
