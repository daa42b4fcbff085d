"""Human-readable numbers: per organisation and per prefix, never reused."""

from __future__ import annotations

import pytest

from opsdesk.core.models import NumberSequence, allocate_number

pytestmark = pytest.mark.django_db


def test_numbers_count_per_organisation_independently(cast):
    a, b = cast.org_a.pk, cast.org_b.pk
    assert allocate_number(a, "INC") == "INC0000001"
    assert allocate_number(a, "INC") == "INC0000002"
    assert allocate_number(b, "INC") == "INC0000001"
    assert allocate_number(a, "INC") == "INC0000003"
    assert allocate_number(b, "INC") == "INC0000002"


def test_numbers_count_per_prefix_independently(cast):
    a = cast.org_a.pk
    assert allocate_number(a, "INC") == "INC0000001"
    assert allocate_number(a, "CHG") == "CHG0000001"
    assert allocate_number(a, "INC") == "INC0000002"
    assert allocate_number(a, "CHG") == "CHG0000002"
    assert NumberSequence.objects.filter(organization_id=a).count() == 2


def test_numbers_carry_on_from_the_stored_sequence(cast):
    NumberSequence.objects.create(organization=cast.org_a, prefix="PRB", last_value=1041)
    assert allocate_number(cast.org_a.pk, "PRB") == "PRB0001042"


def test_numbers_beyond_seven_digits_grow_instead_of_wrapping(cast):
    NumberSequence.objects.create(organization=cast.org_a, prefix="EVT", last_value=9_999_999)
    assert allocate_number(cast.org_a.pk, "EVT") == "EVT10000000"


def test_many_numbers_are_unique_and_in_order(cast):
    numbers = [allocate_number(cast.org_a.pk, "REQ") for _ in range(25)]
    assert numbers == [f"REQ{n:07d}" for n in range(1, 26)]
