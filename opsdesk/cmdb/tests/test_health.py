"""CMDB health: the built-in rules evaluated over an organisation's CIs, offenders and scores."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb import health
from opsdesk.cmdb.models import CIClass, HealthRule
from opsdesk.cmdb.tests.factories import ci, relate

pytestmark = pytest.mark.django_db


def _rule(report, name):
    return next(r for r in report.rules if r.name == name)


def test_field_rule_counts_applicable_passing_and_names_offenders(cast):
    ci(cast.org_a, "web-01", environment="production", owner_team=cast.team_a)
    ci(cast.org_a, "web-02", environment="production")
    ci(cast.org_a, "dev-01", environment="development")  # rule is for production only
    ci(cast.org_a, "old-01", environment="production", status="retired")  # out of service
    ci(cast.org_b, "b-01", environment="production")  # another organisation
    report = health.evaluate(cast.org_a.pk)
    rule = _rule(report, "Every production server has an owner team")
    assert (rule.applicable, rule.passing, rule.failing) == (2, 1, 1)
    assert [o["name"] for o in rule.offenders] == ["web-02"]


def test_attribute_rule_treats_missing_null_and_empty_as_unset(cast):
    ci(cast.org_a, "s1", attributes={"os": "Ubuntu 24.04"})
    ci(cast.org_a, "s2", attributes={"os": ""})
    ci(cast.org_a, "s3", attributes={"os": None})
    ci(cast.org_a, "s4", attributes={})
    rule = _rule(health.evaluate(cast.org_a.pk), "Every server records its operating system")
    assert (rule.applicable, rule.passing) == (4, 1)
    assert sorted(o["name"] for o in rule.offenders) == ["s2", "s3", "s4"]


def test_relationship_rule_needs_an_outgoing_relationship(cast):
    app = ci(cast.org_a, "billing", "application")
    lonely = ci(cast.org_a, "orphan-app", "application")
    server = ci(cast.org_a, "app-srv")
    relate(app, "runs_on", server)
    relate(server, "depends_on", lonely)  # incoming does not count for the orphan
    rule = _rule(
        health.evaluate(cast.org_a.pk), "Every application runs on or depends on something"
    )
    assert (rule.applicable, rule.passing) == (2, 1)
    assert [o["name"] for o in rule.offenders] == ["orphan-app"]


def test_scores_per_class_and_overall(cast):
    # Business services: criticality and owner team rules, and the production country rule.
    ci(
        cast.org_a,
        "Online banking",
        "business_service",
        criticality=1,
        owner_team=cast.team_a,
        country="ZA",
    )
    ci(cast.org_a, "Email", "business_service")  # fails all three
    report = health.evaluate(cast.org_a.pk)
    by_class = {c.key: c for c in report.classes}
    service = by_class["business_service"]
    assert (service.checks, service.passing) == (6, 3)
    assert service.score == 50.0
    assert report.checks == 6 and report.passing == 3
    assert report.score == 50.0


def test_inactive_rules_and_broken_rules(cast):
    ci(cast.org_a, "s1", attributes={"os": "Linux"})
    rule = HealthRule.objects.get(name="Every server records its operating system")
    rule.is_active = False
    rule.save()
    HealthRule.objects.create(
        name="Servers have a colour",
        ci_class=CIClass.objects.get(key="server"),
        check_kind="field",
        target="colour",
    )
    report = health.evaluate(cast.org_a.pk)
    names = [r.name for r in report.rules]
    assert "Every server records its operating system" not in names
    broken = _rule(report, "Servers have a colour")
    assert "colour" in broken.error and broken.applicable == 0


def test_no_cis_means_no_score(cast):
    report = health.evaluate(cast.org_a.pk)
    assert report.checks == 0 and report.score is None


def test_queries_do_not_grow_with_cis(cast):
    for i in range(40):
        ci(cast.org_a, f"srv-{i}", attributes={"os": "Linux"} if i % 2 else {})
    rules = HealthRule.objects.filter(is_active=True).count()
    with CaptureQueriesContext(connection) as ctx:
        report = health.evaluate(cast.org_a.pk)
    assert _rule(report, "Every server records its operating system").failing == 20
    assert len(ctx.captured_queries) <= 1 + 2 * rules
