"""Change success rate and change-induced incident rate on a known set of changes."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.utils import timezone

from opsdesk.changes import actions
from opsdesk.changes.choices import InducedState
from opsdesk.changes.metrics import change_metrics
from opsdesk.changes.models import Change, InducedLink
from opsdesk.changes.tests.factories import topology
from opsdesk.changes.tests.induced_helpers import implemented_change
from opsdesk.servicedesk import actions as desk

pytestmark = pytest.mark.django_db

UTC = timezone.get_fixed_timezone(0)


def _at(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 12, tzinfo=UTC)


def closed(cast, cis, code: str, month: int, **fields) -> Change:
    c = implemented_change(cast, cis, _at(month, 5), close_code=code, **fields)
    actions.transition_change(
        acting_user=cast.agent, change=c, name="close", close_notes="done", at=_at(month, 6)
    )
    return c


def cause(cast, change: Change, state: str = InducedState.CONFIRMED) -> InducedLink:
    incident = desk.create_incident(
        acting_user=cast.agent, organization=cast.org_a, title=f"After {change.number}"
    )
    return InducedLink.objects.create(
        organization=cast.org_a, incident=incident, change=change, state=state
    )


@pytest.fixture
def known_set(cast):
    """Banking: 3 closed in March (2 successful, 1 with issues... see below), Email: 2.

    Banking (team A):   successful (induced, confirmed), successful_with_issues,
                        successful (induced only suggested), all closed in March;
                        one more still implementing (started in April).
    Email (no team):    failed (a review is required: given), successful, closed in April;
                        one cancelled before implementation (never counted).
    """
    cmdb = topology(cast.org_a)
    team = cast.team_a
    f = {"service": cmdb["banking"], "assignment_group": team}
    b1 = closed(cast, [cmdb["app"]], "successful", 3, **f)
    closed(cast, [cmdb["app"]], "successful_with_issues", 3, **f)
    b3 = closed(cast, [cmdb["db"]], "successful", 3, **f)
    implemented_change(cast, [cmdb["db"]], None, started=_at(4, 20), **f)
    cause(cast, b1)
    cause(cast, b1)  # two incidents from one change count once
    cause(cast, b3, InducedState.SUGGESTED)

    e = {"service": cmdb["email"]}
    e1 = implemented_change(cast, [cmdb["mail_srv"]], _at(4, 5), close_code="failed", **e)
    from opsdesk.changes import reviews

    reviews.update_review(
        acting_user=cast.agent, review=e1.review, summary="s", what_went_wrong="w", lessons="l"
    )
    reviews.complete_review(acting_user=cast.agent, review=e1.review)
    actions.transition_change(
        acting_user=cast.agent, change=e1, name="close", close_notes="x", at=_at(4, 6)
    )
    e2 = closed(cast, [cmdb["mail_srv"]], "successful", 4, **e)
    cause(cast, e2)
    from opsdesk.changes.tests.factories import change

    cancelled = change(cast, service=cmdb["email"])
    actions.transition_change(acting_user=cast.agent, change=cancelled, name="cancel", reason="no")
    return cmdb


def _rows(result):
    return {r.label: r for r in result.rows}


def test_per_service(cast, known_set):
    result = change_metrics(cast.org_a.pk, date(2025, 1, 1), date(2025, 6, 30), "service")
    rows = _rows(result)
    banking, email = rows["Online Banking"], rows["Email"]
    assert (banking.closed, banking.successful, banking.success_rate) == (3, 3, 100.0)
    assert (banking.implemented, banking.induced, banking.induced_rate) == (4, 1, 25.0)
    assert (email.closed, email.successful, email.success_rate) == (2, 1, 50.0)
    assert (email.implemented, email.induced, email.induced_rate) == (2, 1, 50.0)
    assert (result.total.closed, result.total.successful) == (5, 4)
    assert (result.total.implemented, result.total.induced) == (6, 2)
    assert result.total.success_rate == 80.0 and result.total.induced_rate == 33.3


def test_per_team_month_and_type(cast, known_set):
    teams = _rows(change_metrics(cast.org_a.pk, date(2025, 1, 1), date(2025, 6, 30), "team"))
    assert teams[cast.team_a.name].closed == 3 and teams["No team"].closed == 2
    months = change_metrics(cast.org_a.pk, date(2025, 2, 1), date(2025, 5, 31), "month")
    assert [r.key for r in months.rows] == ["2025-02", "2025-03", "2025-04", "2025-05"]
    by_month = {r.key: r for r in months.rows}
    assert by_month["2025-02"].success_rate is None and by_month["2025-02"].implemented == 0
    assert (by_month["2025-03"].closed, by_month["2025-03"].implemented) == (3, 3)
    assert (by_month["2025-04"].closed, by_month["2025-04"].successful) == (2, 1)
    assert by_month["2025-04"].implemented == 3  # two Email changes and the one implementing
    types = _rows(change_metrics(cast.org_a.pk, date(2025, 1, 1), date(2025, 6, 30), "type"))
    assert set(types) == {"Standard"} and types["Standard"].closed == 5


def test_the_period_bounds_are_inclusive_days(cast, known_set):
    april = change_metrics(cast.org_a.pk, date(2025, 4, 6), date(2025, 4, 6), "service")
    assert april.total.closed == 2  # both Email changes closed on 6 April
    before = change_metrics(cast.org_a.pk, date(2025, 4, 7), date(2025, 4, 30), "service")
    assert before.total.closed == 0 and before.total.implemented == 1


def test_other_organisations_are_not_counted(cast, known_set):
    result = change_metrics(cast.org_b.pk, date(2025, 1, 1), date(2025, 6, 30), "service")
    assert result.rows == [] and result.total.closed == 0
