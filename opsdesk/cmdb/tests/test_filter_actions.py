"""Saved CI-list filters: permission, normalisation, ownership, audit."""

from __future__ import annotations

import pytest

from opsdesk.cmdb import filter_actions
from opsdesk.cmdb.models import SavedFilter
from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord

pytestmark = pytest.mark.django_db


def test_save_normalises_replaces_and_audits(cast):  # type: ignore[no-untyped-def]
    saved = filter_actions.save_filter(
        acting_user=cast.agent,
        organization=cast.org_a,
        name=" Linux ",
        query="?page=2&q=web&class=server&evil=1&tag=",
    )
    assert (saved.name, saved.query, saved.shared) == ("Linux", "class=server&q=web", False)
    again = filter_actions.save_filter(
        acting_user=cast.agent,
        organization=cast.org_a,
        name="Linux",
        query="status=retired",
        shared=True,
    )
    assert again.pk == saved.pk and again.query == "status=retired" and again.shared
    changes = AuditRecord.objects.filter(object_type="cmdb.savedfilter", object_id=str(saved.pk))
    assert list(changes.order_by("id").values_list("action", flat=True)) == ["create", "update"]
    assert changes.filter(action="update").get().actor_email == "agent@a.test"


def test_bad_input_names_the_field(cast):  # type: ignore[no-untyped-def]
    with pytest.raises(FieldError) as exc:
        filter_actions.save_filter(
            acting_user=cast.agent, organization=cast.org_a, name="", query="x=1"
        )
    assert set(exc.value.errors) == {"name", "query"}
    with pytest.raises(FieldError) as exc:
        filter_actions.save_filter(
            acting_user=cast.agent, organization=cast.org_a, name="n" * 101, query="q=a"
        )
    assert "name" in exc.value.errors


def test_who_may_save_see_and_delete(cast):  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionDenied):
        filter_actions.save_filter(
            acting_user=cast.requester, organization=cast.org_a, name="x", query="q=a"
        )
    with pytest.raises(PermissionDenied):
        filter_actions.save_filter(
            acting_user=cast.agent, organization=cast.org_b, name="x", query="q=a"
        )
    mine = filter_actions.save_filter(
        acting_user=cast.agent, organization=cast.org_a, name="mine", query="q=a"
    )
    shared = filter_actions.save_filter(
        acting_user=cast.agent, organization=cast.org_a, name="ours", query="q=b", shared=True
    )
    seen = filter_actions.saved_filters_for_user
    assert set(seen(cast.agent, cast.org_a.pk)) == {mine, shared}
    assert set(seen(cast.manager, cast.org_a.pk)) == {shared}
    assert set(seen(cast.admin_b, cast.org_a.pk)) == set()
    with pytest.raises(PermissionDenied):
        filter_actions.delete_filter(acting_user=cast.manager, saved_filter=shared)
    with pytest.raises(PermissionDenied):
        filter_actions.delete_filter(acting_user=cast.admin, saved_filter=mine)  # personal
    filter_actions.delete_filter(acting_user=cast.admin, saved_filter=shared)
    filter_actions.delete_filter(acting_user=cast.agent, saved_filter=mine)
    assert not SavedFilter.objects.exists()
    assert AuditRecord.objects.filter(object_type="cmdb.savedfilter", action="delete").count() == 2
