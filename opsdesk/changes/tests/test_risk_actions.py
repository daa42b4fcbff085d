"""Risk scored from data: each factor from real rows, the weighted sum, the settings and the
hooks that keep the class current."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from opsdesk.changes import actions, risk
from opsdesk.changes.choices import ChangeState, ChangeType, RiskClass, WindowKind
from opsdesk.changes.models import Change, ChangeWindow, RiskSettings
from opsdesk.changes.tests.factories import change, template, topology, when
from opsdesk.core.errors import Conflict, FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord, BusinessCalendar
from opsdesk.problems.tests.factories import incident, problem
from opsdesk.servicedesk.models import Activity

pytestmark = pytest.mark.django_db

ALL_SAFE = {"done_before": "yes", "backout": "yes", "outage": "none", "tested": "yes"}
ALL_RISKY = {"done_before": "no", "backout": "no", "outage": "full", "tested": "no"}


def factor(result: dict, key: str) -> dict:
    return next(f for f in result["factors"] if f["key"] == key)


def completed(cast, cis, close_code, title="Patch"):
    """A standard change on `cis` taken through its real workflow to Review with `close_code`."""
    tpl = template(cast, name=f"{title} {close_code} {Change.objects.count()}")
    c = actions.create_change(
        acting_user=cast.agent,
        organization=cast.org_a,
        template=tpl,
        cis=cis,
        planned_start=when(-5, hour=2),
    )
    for name, values in (
        ("schedule", {}),
        ("implement", {}),
        ("complete", {"close_code": close_code}),
    ):
        actions.transition_change(acting_user=cast.agent, change=c, name=name, **values)
    return c


# --- the factors ----------------------------------------------------------------------------


def test_blast_radius_names_the_business_services_reached_and_weighs_tier_1(cast):
    cis = topology(cast.org_a)
    on_db = change(cast, cis=[cis["db_srv"]])
    f = factor(risk.assess(on_db), "blast_radius")
    assert f["raw"]["count"] == 1 and f["raw"]["tier_1"] == 1
    assert "Online Banking (tier 1)" in f["evidence"]
    assert f["score"] == pytest.approx(0.5)

    on_mail = change(cast, cis=[cis["mail_srv"]])
    f_mail = factor(risk.assess(on_mail), "blast_radius")
    assert "Email (tier 3)" in f_mail["evidence"]
    assert f_mail["score"] == pytest.approx(0.15)

    both = change(cast, cis=[cis["db_srv"], cis["mail_srv"]])
    assert factor(risk.assess(both), "blast_radius")["score"] == pytest.approx(0.65)

    nothing = change(cast)
    f_none = factor(risk.assess(nothing), "blast_radius")
    assert f_none["score"] == risk.UNKNOWN_BLAST_SCORE and "unknown" in f_none["evidence"]


def test_failure_history_counts_failed_and_backed_out_changes_on_the_same_cis(cast):
    cis = topology(cast.org_a)
    failed = completed(cast, [cis["db_srv"]], "failed")
    backed_out = completed(cast, [cis["db"]], "backed_out")
    completed(cast, [cis["db_srv"]], "successful")
    completed(cast, [cis["mail_srv"]], "failed")  # another CI: not counted
    c = change(cast, cis=[cis["db_srv"], cis["db"]])
    f = factor(risk.assess(c), "failure_history")
    assert f["raw"]["changes"] == 3 and f["raw"]["failed"] == 2
    assert set(f["raw"]["numbers"]) == {failed.number, backed_out.number}
    assert failed.number in f["evidence"] and "backed out" in f["evidence"]
    assert f["score"] == pytest.approx(2 / 3, abs=1e-3)


def test_open_incidents_and_problems_on_the_cis_are_named(cast):
    cis = topology(cast.org_a)
    p1 = incident(cast, ci=cis["db"], impact=1, urgency=1)
    incident(cast, ci=cis["mail_srv"])  # another CI
    prb = problem(cast, ci=cis["db"])
    c = change(cast, cis=[cis["db"]])
    f = factor(risk.assess(c), "open_issues")
    assert f["raw"]["incidents"] == [p1.number] and f["raw"]["problems"] == [prb.number]
    assert f"{p1.number} (P{p1.priority})" in f["evidence"] and prb.number in f["evidence"]
    expected = (risk.PRIORITY_POINTS[p1.priority] + risk.PROBLEM_POINTS) / 2
    assert f["score"] == pytest.approx(min(expected, 1.0), abs=1e-3)


def test_a_freeze_window_over_the_planned_window_is_named(cast):
    cis = topology(cast.org_a)
    start = when(4)
    freeze = ChangeWindow.objects.create(
        organization=cast.org_a,
        kind=WindowKind.FREEZE,
        name="Month-end freeze",
        starts_at=start - timedelta(days=1),
        ends_at=start + timedelta(days=1),
    )
    freeze.services.set([cis["banking"]])
    c = change(
        cast, cis=[cis["db_srv"]], planned_start=start, planned_end=start + timedelta(hours=2)
    )
    f = factor(risk.assess(c), "freeze")
    assert f["score"] == 1.0 and "Month-end freeze" in f["evidence"]
    # The freeze covers Online Banking only: a change on mail reaches no frozen service.
    mail = change(
        cast, cis=[cis["mail_srv"]], planned_start=start, planned_end=start + timedelta(hours=2)
    )
    assert factor(risk.assess(mail), "freeze")["score"] == 0.0


def test_another_change_on_the_same_ci_at_the_same_time_is_a_conflict(cast):
    cis = topology(cast.org_a)
    start = when(6)
    other = change(cast, title="Other", cis=[cis["db_srv"]], planned_start=start)
    c = change(cast, cis=[cis["db_srv"]], planned_start=start + timedelta(hours=1))
    f = factor(risk.assess(c), "conflicts")
    assert f["score"] == 1.0
    assert f["raw"]["conflicts"][0]["kind"] == "same_ci"
    assert other.number in f["evidence"]
    later = change(cast, cis=[cis["db_srv"]], planned_start=start + timedelta(days=3))
    assert factor(risk.assess(later), "conflicts")["score"] == 0.0


def test_timing_inside_business_hours_of_the_default_calendar_is_riskier(cast):
    cis = topology(cast.org_a)
    BusinessCalendar.objects.create(
        organization=cast.org_a,
        name="Johannesburg office",
        time_zone="Africa/Johannesburg",
        working_hours={d: [["08:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
        is_default=True,
    )
    now = timezone.now()
    monday = (now + timedelta(days=7 - now.weekday())).replace(
        hour=8, minute=0, second=0, microsecond=0
    )  # 10:00 in Johannesburg (UTC+2)
    day = change(
        cast,
        cis=[cis["db_srv"]],
        planned_start=monday,
        planned_end=monday + timedelta(hours=2),
    )
    f = factor(risk.assess(day), "timing")
    assert f["score"] == 1.0 and "Johannesburg office" in f["evidence"]
    assert "Online Banking" in f["evidence"]
    saturday = monday + timedelta(days=5)
    night = change(
        cast,
        cis=[cis["db_srv"]],
        planned_start=saturday,
        planned_end=saturday + timedelta(hours=2),
    )
    f_night = factor(risk.assess(night), "timing")
    assert f_night["score"] == 0.0 and "outside the business hours" in f_night["evidence"]
    half = change(
        cast,
        cis=[cis["db_srv"]],
        planned_start=monday + timedelta(hours=6),  # 16:00-18:00 local: one hour in
        planned_end=monday + timedelta(hours=8),
    )
    assert factor(risk.assess(half), "timing")["score"] == pytest.approx(0.5)


def test_emergency_and_short_notice_add_risk(cast):
    soon = timezone.now().replace(microsecond=0) + timedelta(hours=18)
    c = change(cast, change_type=ChangeType.EMERGENCY, planned_start=soon)
    result = risk.assess(c)
    assert factor(result, "change_type")["score"] == 1.0
    lead = factor(result, "lead_time")
    assert lead["score"] == pytest.approx(1 - 18 / risk.LEAD_TIME_HOURS, abs=0.01)
    assert "72 h" in lead["evidence"]
    calm = change(cast, planned_start=when(10))
    assert factor(risk.assess(calm), "change_type")["score"] == 0.0
    assert factor(risk.assess(calm), "lead_time")["score"] == 0.0


def test_questionnaire_points_and_unanswered_questions_count_as_riskiest(cast):
    c = change(cast)
    q = factor(risk.assess(c, answers={}), "questionnaire")
    assert q["score"] == 1.0 and "0 of 4 questions answered" in q["evidence"]
    safe = factor(risk.assess(c, answers=ALL_SAFE), "questionnaire")
    assert safe["score"] == 0.0
    half = risk.assess(c, answers={**ALL_SAFE, "outage": "full", "tested": "partly"})
    assert factor(half, "questionnaire")["score"] == pytest.approx(4 / 12, abs=1e-3)
    assert "Full outage" in factor(half, "questionnaire")["evidence"]


def test_contributions_add_up_to_the_score_and_the_class_follows_the_thresholds(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"]])
    result = risk.assess(c, answers=ALL_RISKY)
    assert sum(f["contribution"] for f in result["factors"]) == pytest.approx(
        result["score"], abs=0.5
    )
    assert result["class"] == risk.classify(result["score"], risk.DEFAULT_THRESHOLDS)
    assert {f["key"] for f in result["factors"]} == set(risk.FACTORS)


# --- weights and settings -------------------------------------------------------------------


def test_weights_change_the_class(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"], cis["mail_srv"]])
    before = risk.assess(c, answers=ALL_SAFE)
    assert before["class"] == RiskClass.LOW
    risk.update_risk_settings(
        acting_user=cast.manager,
        organization=cast.org_a,
        weights={k: 0 for k in risk.FACTORS} | {"blast_radius": 10},
    )
    after = risk.assess(c, answers=ALL_SAFE)
    assert after["score"] == pytest.approx(65.0)
    assert after["class"] == RiskClass.HIGH
    assert factor(after, "blast_radius")["contribution"] == pytest.approx(65.0)
    risk.update_risk_settings(
        acting_user=cast.manager, organization=cast.org_a, thresholds={"very_high": 60}
    )
    assert risk.assess(c, answers=ALL_SAFE)["class"] == RiskClass.VERY_HIGH
    # Empty means the defaults again.
    risk.update_risk_settings(
        acting_user=cast.manager, organization=cast.org_a, weights={}, thresholds={}
    )
    assert risk.assess(c, answers=ALL_SAFE)["class"] == RiskClass.LOW


def test_settings_are_validated_with_errors_naming_the_field(cast):
    bad = [
        ({"weights": {"blast_radius": -1}}, "weights.blast_radius"),
        ({"weights": {"moon_phase": 3}}, "weights.moon_phase"),
        ({"weights": {"timing": True}}, "weights.timing"),
        ({"weights": {k: 0 for k in risk.FACTORS}}, "weights"),
        ({"thresholds": {"moderate": 60, "high": 50}}, "thresholds.high"),
        ({"thresholds": {"very_high": 40}}, "thresholds.very_high"),
        ({"thresholds": {"extreme": 99}}, "thresholds.extreme"),
        ({"questionnaire": "ask me"}, "questionnaire"),
        ({"questionnaire": [{"key": "Bad Key", "question": "?", "answers": []}]}, None),
        (
            {
                "questionnaire": [
                    {
                        "key": "q",
                        "question": "Q?",
                        "answers": [
                            {"key": "a", "label": "A", "points": 1},
                            {"key": "b", "label": "B", "points": -2},
                        ],
                    }
                ]
            },
            "questionnaire.0.answers.1.points",
        ),
        ({"induced_window_hours": 0}, "induced_window_hours"),
    ]
    for kwargs, field in bad:
        with pytest.raises(FieldError) as err:
            risk.update_risk_settings(acting_user=cast.manager, organization=cast.org_a, **kwargs)
        if field:
            assert field in err.value.errors, (kwargs, err.value.errors)
        else:
            assert {"questionnaire.0.key", "questionnaire.0.answers"} <= set(err.value.errors)
    assert not RiskSettings.objects.filter(organization=cast.org_a).exists()


def test_only_managers_change_settings_and_it_is_audited(cast):
    for user in (cast.agent, cast.auditor, cast.admin_b):
        with pytest.raises(PermissionDenied):
            risk.update_risk_settings(
                acting_user=user, organization=cast.org_a, weights={"timing": 50}
            )
    row = risk.update_risk_settings(
        acting_user=cast.manager, organization=cast.org_a, weights={"timing": 50}
    )
    assert risk.settings_for(cast.org_a.pk).weights["timing"] == 50
    assert risk.settings_for(cast.org_b.pk).weights["timing"] == risk.DEFAULT_WEIGHTS["timing"]
    assert AuditRecord.objects.filter(
        object_type="changes.risksettings", object_id=str(row.pk), actor=cast.manager
    ).exists()


def test_a_custom_questionnaire_replaces_the_default(cast):
    risk.update_risk_settings(
        acting_user=cast.manager,
        organization=cast.org_a,
        questionnaire=[
            {
                "key": "customer_data",
                "question": "Does it touch customer data?",
                "answers": [
                    {"key": "no", "label": "No", "points": 0},
                    {"key": "yes", "label": "Yes", "points": 5},
                ],
            }
        ],
    )
    c = change(cast)
    risk.assess_risk(acting_user=cast.agent, change=c, answers={"customer_data": "yes"})
    assert c.risk_assessment["questionnaire"][0]["answer_label"] == "Yes"
    assert factor(c.risk_assessment, "questionnaire")["score"] == 1.0
    with pytest.raises(FieldError) as err:
        risk.assess_risk(acting_user=cast.agent, change=c, answers={"done_before": "yes"})
    assert "answers.done_before" in err.value.errors


# --- the action and hooks -------------------------------------------------------------------


def test_assess_risk_stores_the_explanation_and_records_a_class_change(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"]])
    risk.assess_risk(acting_user=cast.agent, change=c, answers=ALL_RISKY)
    c.refresh_from_db()
    assert c.risk_answers == ALL_RISKY
    assert c.risk_class and c.risk_score == c.risk_assessment["score"]
    assert c.risk_assessed_at is not None

    def entries():
        return list(Activity.objects.filter(subject_type="change", subject_id=c.pk, kind="field"))

    assert [e.data["what"] for e in entries()] == ["risk"]
    assert entries()[0].data["changes"]["risk_class"] == [None, c.risk_class]
    assert AuditRecord.objects.filter(
        object_type="changes.change", object_id=str(c.pk), actor=cast.agent, action="update"
    ).exists()
    # Same answers, same class: no new timeline entry.
    risk.assess_risk(acting_user=cast.agent, change=c)
    assert len(entries()) == 1
    # Safer answers lower the class: a second entry.
    risk.assess_risk(acting_user=cast.agent, change=c, answers=ALL_SAFE)
    assert len(entries()) == 2


def test_assess_risk_refuses_bad_answers_other_roles_and_closed_changes(cast):
    c = change(cast)
    with pytest.raises(FieldError) as err:
        risk.assess_risk(acting_user=cast.agent, change=c, answers={"outage": "sometimes"})
    assert "answers.outage" in err.value.errors
    with pytest.raises(PermissionDenied):
        risk.assess_risk(acting_user=cast.requester, change=c, answers=ALL_SAFE)
    actions.transition_change(acting_user=cast.agent, change=c, name="cancel", reason="No")
    with pytest.raises(Conflict):
        risk.assess_risk(acting_user=cast.agent, change=c, answers=ALL_SAFE)


def test_requesting_authorisation_assesses_the_risk_first(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["db_srv"]], change_manager=cast.manager)
    assert c.risk_class == ""
    actions.transition_change(acting_user=cast.agent, change=c, name="assess")
    risk_class_seen = []

    from opsdesk.changes import hooks

    def spy(change, name, values, user):
        risk_class_seen.append(change.risk_class)

    hooks.after("request_authorisation")(spy)
    try:
        actions.transition_change(acting_user=cast.agent, change=c, name="request_authorisation")
    finally:
        hooks._AFTER[:] = [e for e in hooks._AFTER if e.fn is not spy]
    c.refresh_from_db()
    assert c.state == ChangeState.AUTHORISE
    assert c.risk_class and risk_class_seen == [c.risk_class]
    assert c.risk_assessment["factors"]


def test_moving_an_assessed_change_reassesses_it(cast):
    cis = topology(cast.org_a)
    c = change(cast, cis=[cis["mail_srv"]])
    risk.assess_risk(acting_user=cast.agent, change=c, answers=ALL_SAFE)
    before = c.risk_assessment
    actions.set_cis(acting_user=cast.agent, change=c, cis=[cis["db_srv"], cis["mail_srv"]])
    c.refresh_from_db()
    assert factor(c.risk_assessment, "blast_radius")["raw"]["count"] == 2
    assert c.risk_score > before["score"]
    # A change never assessed is not assessed by an update.
    fresh = change(cast)
    actions.update_change(
        acting_user=cast.agent, change=fresh, planned_start=when(20), planned_end=when(21)
    )
    fresh.refresh_from_db()
    assert fresh.risk_assessed_at is None


def test_a_standard_change_keeps_its_template_class(cast):
    cis = topology(cast.org_a)
    tpl = template(cast, risk_class=RiskClass.LOW, cis=[cis["db_srv"]])
    c = actions.create_change(
        acting_user=cast.agent, organization=cast.org_a, template=tpl, planned_start=when(2)
    )
    result = risk.assess(c, answers=ALL_RISKY)
    assert result["class"] == RiskClass.LOW and result["standard"]
    assert result["computed_class"] != RiskClass.LOW
    risk.assess_risk(acting_user=cast.agent, change=c, answers=ALL_RISKY)
    c.refresh_from_db()
    assert c.risk_class == RiskClass.LOW
    actions.update_change(
        acting_user=cast.agent, change=c, planned_start=when(3), planned_end=when(4)
    )
    c.refresh_from_db()
    assert c.risk_class == RiskClass.LOW
