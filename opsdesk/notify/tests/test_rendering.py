"""The locked-down template engine."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.notify.rendering import DEFAULTS, SAMPLE_CONTEXT, render_string, validate


@pytest.mark.parametrize(
    "source",
    [
        "{% load static %}",
        "{% include 'base.html' %}",
        "{% extends 'base.html' %}",
        "{% debug %}",
        "{% url 'home' %}",
        "{% csrf_token %}",
        "{% if %}",
        "{{ title|nosuchfilter }}",
    ],
)
def test_reaching_outside_the_template_is_refused(source):
    assert "body" in validate("ok", source)


def test_values_are_plain_strings_and_not_escaped():
    out = render_string("{{ title }} {{ title.upper }} {{ missing }}", {"title": "<b>&</b>"})
    assert out == "<b>&</b> <B>&</B> "  # plain text: nothing escaped, unknown names empty
    assert "body" in validate("", "{{ title.__class__ }}")  # no walking into Python objects


def test_every_built_in_wording_renders():
    for (event, channel), wording in DEFAULTS.items():
        assert validate(wording.subject, wording.body) == {}, (event, channel)
        assert render_string(wording.body, SAMPLE_CONTEXT).strip(), (event, channel)


@settings(max_examples=200, deadline=None)
@given(
    source=st.text(alphabet=st.sampled_from(list("{}%# |:'\"abcdeiflnorstuw_.0123")), max_size=60)
)
def test_a_template_is_either_refused_or_renders(source):
    if not validate("", source):
        assert isinstance(render_string(source, SAMPLE_CONTEXT), str)
