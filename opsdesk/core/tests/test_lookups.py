"""``__any``: the same rows as ``__in``, one array parameter on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models.functions import Lower
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsdesk.core.models import NumberSequence

pytestmark = pytest.mark.django_db


@pytest.fixture
def sequences(cast):
    prefixes = ["INC", "CHG", "PRB", "RITM", "O'Neil", "naïve"]
    for i, prefix in enumerate(prefixes):
        NumberSequence.objects.create(organization=cast.org_a, prefix=prefix, last_value=i)
    return prefixes


def test_any_finds_what_in_finds_for_text_and_numbers(sequences):
    wanted = ["CHG", "O'Neil", "naïve", "none such", None]
    by_any = set(NumberSequence.objects.filter(prefix__any=wanted).values_list("prefix", flat=True))
    assert by_any == {"CHG", "O'Neil", "naïve"}
    assert by_any == set(
        NumberSequence.objects.filter(prefix__in=wanted).values_list("prefix", flat=True)
    )
    ids = list(NumberSequence.objects.values_list("pk", flat=True)[:3])
    assert set(NumberSequence.objects.filter(pk__any=ids).values_list("pk", flat=True)) == set(ids)


def test_any_on_a_foreign_key(cast, sequences):
    NumberSequence.objects.create(organization=cast.org_b, prefix="INC", last_value=1)
    rows = NumberSequence.objects.filter(prefix="INC")
    assert [s.organization_id for s in rows.filter(organization_id__any=[cast.org_b.pk])] == [
        cast.org_b.pk
    ]
    assert rows.filter(organization__any=[cast.org_a, cast.org_b]).count() == 2


def test_any_of_nothing_is_no_rows(sequences):
    assert list(NumberSequence.objects.filter(prefix__any=[])) == []
    assert list(NumberSequence.objects.filter(prefix__any=[None])) == []


def test_any_on_an_annotation(sequences):
    found = (
        NumberSequence.objects.annotate(low=Lower("prefix"))
        .filter(low__any=["chg", "ritm"])
        .values_list("prefix", flat=True)
    )
    assert set(found) == {"CHG", "RITM"}


def test_postgresql_binds_one_array_not_one_parameter_per_value(sequences):
    wanted = [f"P{i}" for i in range(500)] + ["INC"]
    with CaptureQueriesContext(connection) as queries:
        assert list(
            NumberSequence.objects.filter(prefix__any=wanted).values_list("prefix", flat=True)
        ) == ["INC"]
    sql = queries.captured_queries[-1]["sql"]
    if connection.vendor == "postgresql":
        assert "= ANY(" in sql and " IN (" not in sql
    else:
        assert " IN (" in sql


# The rows are rebuilt for each example, so sharing the function-scoped fixture is safe.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.text(max_size=8), max_size=20))
def test_any_agrees_with_in_on_generated_values(cast, values):
    NumberSequence.objects.filter(organization=cast.org_b).delete()
    for i, prefix in enumerate(dict.fromkeys(v for v in values[::2] if "\x00" not in v)):
        NumberSequence.objects.create(organization=cast.org_b, prefix=prefix, last_value=i)
    asked = [v for v in values if "\x00" not in v]
    rows = NumberSequence.objects.filter(organization=cast.org_b)
    assert set(rows.filter(prefix__any=asked).values_list("pk", flat=True)) == set(
        rows.filter(prefix__in=asked).values_list("pk", flat=True)
    )
