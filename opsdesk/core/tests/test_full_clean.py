"""`save_validated` validates like Django's ``full_clean`` without asking the database again
about related objects it has just read."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from opsdesk.cmdb.tests.factories import ci
from opsdesk.core.actions import save_validated
from opsdesk.core.errors import FieldError
from opsdesk.events.models import EventIntegration

pytestmark = pytest.mark.django_db


def _integration(org, name: str, **fields) -> EventIntegration:  # type: ignore[no-untyped-def]
    fields.setdefault("token_hash", name)
    fields.setdefault("source", "generic")
    return EventIntegration(organization=org, name=name, **fields)


def _lookups(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if f'FROM "{table}"' in q["sql"]]


def test_loaded_references_are_not_looked_up_again(cast) -> None:
    service = ci(cast.org_a, "svc", "business_service")
    with CaptureQueriesContext(connection) as queries:
        save_validated(_integration(cast.org_a, "a", default_service=service))
    assert _lookups(queries, "cmdb_configurationitem") == []
    assert _lookups(queries, "core_organization") == []


def test_references_by_id_are_still_checked(cast) -> None:
    found = _integration(cast.org_a, "b")
    found.default_service_id = 10**9
    with pytest.raises(FieldError) as caught:
        save_validated(found)
    assert "default_service" in caught.value.errors


def test_constraints_over_loaded_references_still_run(cast) -> None:
    save_validated(_integration(cast.org_a, "same"))
    with pytest.raises(FieldError) as caught:
        save_validated(_integration(cast.org_a, "same", token_hash="other"))
    assert "name" in caught.value.errors
    # The same name in another organisation is fine.
    save_validated(_integration(cast.org_b, "same", token_hash="third"))


def test_field_errors_are_reported_with_the_others(cast) -> None:
    bad = _integration(cast.org_a, "x" * 300, source="nope")
    with pytest.raises(FieldError) as caught:
        save_validated(bad)
    assert {"name", "source"} <= set(caught.value.errors)
