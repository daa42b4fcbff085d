"""The breach-prediction estimator on constructed histories (no database)."""

from __future__ import annotations

import math

import pytest

from opsdesk.sla.prediction import BreachModel, adjust_for_queue, queue_ratio

WEB = {"service": "web", "priority": 2, "team": "desk"}
H = 3600.0


def _history(quick: int = 40, slow: int = 40) -> list[tuple[dict, float, bool]]:
    """Similar tickets: `quick` made it in 2 h, `slow` breached after running 10 h."""
    return [(WEB, 2 * H, False)] * quick + [(WEB, 10 * H, True)] * slow


def test_a_clock_past_where_similar_tickets_breached_is_likely_to_breach():
    model = BreachModel.fit(_history())
    late = model.estimate(WEB, 6 * H, target=8 * H)
    early = model.estimate(WEB, 0.0, target=8 * H)
    # At 6 h only the slow tickets are still comparable, and all of them breached.
    assert late.probability > 0.9
    assert late.level == "service+priority+team"
    assert late.support == 40
    # At opening half of the similar tickets breached.
    assert 0.4 < early.probability < 0.6
    assert early.support == 80


def test_a_clock_past_its_target_has_breached():
    model = BreachModel.fit(_history(slow=0))  # history says nothing ever breaches
    estimate = model.estimate(WEB, 9 * H, target=8 * H)
    assert estimate.probability == 1.0
    assert estimate.level == "past_target"


def test_backs_off_to_the_team_when_the_service_has_few_tickets():
    other = {"service": "mail", "priority": 2, "team": "desk"}
    # Five tickets of the web service, all breached; a hundred of the same team and
    # priority on another service, none breached.
    history = [(WEB, 10 * H, True)] * 5 + [(other, 10 * H, False)] * 100
    estimate = BreachModel.fit(history).estimate(WEB, 1 * H)
    assert estimate.level == "priority+team"
    assert estimate.support == 105
    assert estimate.probability < 0.1
    # With enough tickets of its own the web service speaks for itself.
    history = [(WEB, 10 * H, True)] * 40 + [(other, 10 * H, False)] * 100
    estimate = BreachModel.fit(history).estimate(WEB, 1 * H)
    assert estimate.level == "service+priority+team"
    assert estimate.probability > 0.7


def test_a_level_is_shrunk_toward_the_level_above():
    other = {"service": "mail", "priority": 2, "team": "desk"}
    history = [(WEB, 10 * H, True)] * 30 + [(other, 10 * H, False)] * 1000
    estimate = BreachModel.fit(history, strength=10).estimate(WEB, 0.0)
    # 30 of 30 breached, but the parent says about 3 %: (30 + 10 * p) / 40, not 1.0.
    assert estimate.base_rate == 1.0
    assert 0.7 < estimate.probability < 0.8


def test_support_counts_only_tickets_that_ran_longer():
    model = BreachModel.fit(_history(quick=40, slow=10), min_support=30)
    # At 3 h only the ten slow tickets remain: too few for any level but "all".
    estimate = model.estimate(WEB, 3 * H)
    assert estimate.level == "all"
    assert estimate.support == 10


def test_no_history_says_even_odds():
    estimate = BreachModel.fit([]).estimate(WEB, 0.0)
    assert estimate.probability == 0.5
    assert estimate.level == "none"


def test_queue_adjustment_multiplies_the_odds():
    assert adjust_for_queue(0.5, 2.0, 0.0) == 0.5  # off
    adjusted = adjust_for_queue(0.5, 2.0, 1.0)
    assert adjusted / (1 - adjusted) == pytest.approx(2.0)
    assert queue_ratio(9, 4) == pytest.approx(2.0)
    model = BreachModel.fit(_history(), queue_beta=1.0)
    busy = model.estimate(WEB, 0.0, queue=3.0)
    calm = model.estimate(WEB, 0.0, queue=1.0)
    odds = busy.probability / (1 - busy.probability)
    assert math.log(odds) == pytest.approx(
        math.log(calm.probability / (1 - calm.probability)) + math.log(3.0)
    )
    assert "queue" in busy.reason


def test_summary_lists_every_level():
    summary = BreachModel.fit(_history()).summary()
    assert [s["level"] for s in summary] == [
        "service+priority+team",
        "priority+team",
        "service+priority",
        "priority",
        "all",
    ]
    assert summary[-1]["tickets"] == 80
    assert summary[-1]["breach_rate"] == 0.5
