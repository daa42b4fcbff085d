"""CMDB health: the active data-quality rules evaluated over the CIs of an organisation.

Each rule applies to the CIs of its class (or every class) and environment (or every
environment) that are still in service (not retired or disposed), and checks one thing:

- ``field``: a common field is set (a team, a criticality, a country, ...);
- ``attribute``: a class-specific attribute is present and not empty;
- ``relationship``: the CI has an outgoing relationship of the given type (``*``: any).

A class's health score is the share of passing checks over all the rules that apply to its
CIs; the overall score is the same over every check. Two aggregate queries per rule (counts
per class, and the first offenders), whatever the number of CIs.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from opsdesk.cmdb.choices import CIStatus
from opsdesk.cmdb.models import ConfigurationItem, HealthRule, Relationship

#: CIs that are no longer in service are not held to data-quality rules.
OUT_OF_SERVICE = (CIStatus.RETIRED, CIStatus.DISPOSED)
#: How many offenders a rule lists (the count is always complete).
OFFENDER_LIMIT = 50


@dataclass
class RuleResult:
    rule_id: int
    name: str
    check_kind: str
    target: str
    ci_class: str | None
    environment: str
    applicable: int = 0
    passing: int = 0
    offenders: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""

    @property
    def failing(self) -> int:
        return self.applicable - self.passing

    @property
    def score(self) -> float | None:
        return _percent(self.passing, self.applicable)


@dataclass
class ClassScore:
    key: str
    label: str
    checks: int = 0
    passing: int = 0

    @property
    def failing(self) -> int:
        return self.checks - self.passing

    @property
    def score(self) -> float | None:
        return _percent(self.passing, self.checks)


@dataclass
class HealthReport:
    organization_id: int
    rules: list[RuleResult]
    classes: list[ClassScore]
    checks: int
    passing: int

    @property
    def failing(self) -> int:
        return self.checks - self.passing

    @property
    def score(self) -> float | None:
        return _percent(self.passing, self.checks)


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def passing_condition(rule: HealthRule) -> Q:
    """The condition a CI meets when it passes `rule`; ValueError for a rule that names
    something CIs do not have."""
    target = rule.target.strip()
    if rule.check_kind == HealthRule.Check.FIELD:
        try:
            model_field = ConfigurationItem._meta.get_field(target)
        except FieldDoesNotExist:
            raise ValueError(f"Configuration items have no field {target!r}.") from None
        if model_field.is_relation or model_field.null:
            cond = Q(**{f"{target}__isnull": False})
        else:
            cond = Q()
        if isinstance(model_field, models.CharField | models.TextField):
            cond &= ~Q(**{target: ""})
        elif isinstance(model_field, models.JSONField):
            cond &= ~Q(**{target: []}) & ~Q(**{target: {}})
        elif isinstance(model_field, models.BooleanField):
            cond = Q(**{target: True})
        return cond
    if rule.check_kind == HealthRule.Check.ATTRIBUTE:
        if not target or "__" in target:
            raise ValueError(f"{target!r} is not an attribute key.")
        return (
            Q(attributes__has_key=target)
            & ~Q(**{f"attributes__{target}": None})
            & ~Q(**{f"attributes__{target}": ""})
        )
    if rule.check_kind == HealthRule.Check.RELATIONSHIP:
        rels = Relationship.objects.filter(source=OuterRef("pk"))
        if target not in ("", "*"):
            rels = rels.filter(type__key=target)
        return Q(Exists(rels))
    raise ValueError(f"Unknown check {rule.check_kind!r}.")


def applicable_cis(organization_id: int, rule: HealthRule) -> QuerySet[ConfigurationItem]:
    qs = ConfigurationItem.objects.filter(organization_id=organization_id).exclude(
        status__in=OUT_OF_SERVICE
    )
    if rule.ci_class_id is not None:
        qs = qs.filter(ci_class_id=rule.ci_class_id)
    if rule.environment:
        qs = qs.filter(environment=rule.environment)
    return qs


def evaluate(organization_id: int, rules: QuerySet[HealthRule] | None = None) -> HealthReport:
    """Evaluate the active rules over the organisation's CIs. The caller has checked that the
    user may see the organisation's CIs."""
    if rules is None:
        rules = HealthRule.objects.filter(is_active=True)
    rules = rules.select_related("ci_class").order_by("name")
    results: list[RuleResult] = []
    classes: dict[str, ClassScore] = {}
    per_class: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rule in rules:
        result = RuleResult(
            rule.pk,
            rule.name,
            rule.check_kind,
            rule.target,
            rule.ci_class.key if rule.ci_class else None,
            rule.environment,
        )
        results.append(result)
        try:
            cond = passing_condition(rule)
        except ValueError as exc:
            result.error = str(exc)
            continue
        qs = applicable_cis(organization_id, rule)
        for row in (
            qs.order_by()
            .values("ci_class__key", "ci_class__label")
            .annotate(applicable=Count("pk"), passing=Count("pk", filter=cond))
        ):
            key = row["ci_class__key"]
            classes.setdefault(key, ClassScore(key, row["ci_class__label"]))
            result.applicable += row["applicable"]
            result.passing += row["passing"]
            per_class[key][0] += row["applicable"]
            per_class[key][1] += row["passing"]
        if result.failing:
            result.offenders = list(
                qs.exclude(cond)
                .order_by("name", "pk")
                .values("id", "name", "ci_class__key")[:OFFENDER_LIMIT]
            )
    for key, (checks, passing) in per_class.items():
        classes[key].checks = checks
        classes[key].passing = passing
    class_list = sorted(
        (c for c in classes.values() if c.checks), key=lambda c: (c.score or 0, c.label)
    )
    checks = sum(r.applicable for r in results)
    passing = sum(r.passing for r in results)
    return HealthReport(organization_id, results, class_list, checks, passing)
