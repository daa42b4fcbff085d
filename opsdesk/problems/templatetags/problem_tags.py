"""Template filters of the problem pages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def words(value: object) -> str:
    """``root_cause_analysis`` -> ``root cause analysis``."""
    return str(value or "").replace("_", " ")
