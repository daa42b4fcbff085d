"""Saved queue views: save, rename, delete (audited, owner only), shared or personal."""

from __future__ import annotations

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.core.errors import FieldError, PermissionDenied
from opsdesk.core.models import AuditRecord
from opsdesk.servicedesk import view_actions
from opsdesk.servicedesk.models import SavedView

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def test_normalise_keeps_known_words_in_order() -> None:
    query = "q=vpn&page=3&priority=2&bogus=1&tab=mine&priority=1&state="
    assert view_actions.normalise_query(query) == "tab=mine&priority=2&priority=1&q=vpn"
    assert view_actions.normalise_query("?") == ""


@given(st.text(max_size=300))
@settings(max_examples=60, deadline=None)
def test_normalise_never_keeps_unknown_words(query: str) -> None:
    from urllib.parse import parse_qsl

    kept = parse_qsl(view_actions.normalise_query(query))
    assert all(key in view_actions.QUEUE_KEYS and value for key, value in kept)


def test_save_rename_delete_are_audited_and_owner_only(cast):  # type: ignore[no-untyped-def]
    view = view_actions.save_view(
        acting_user=cast.agent,
        organization=cast.org_a,
        name=" My P1s ",
        query="priority=1&state=open&page=2",
        shared=True,
    )
    assert (view.name, view.query, view.shared) == ("My P1s", "state=open&priority=1", True)
    # Saving under the same name replaces the filters.
    again = view_actions.save_view(
        acting_user=cast.agent, organization=cast.org_a, name="My P1s", query="priority=2"
    )
    assert again.pk == view.pk and again.query == "priority=2" and not again.shared
    with pytest.raises(PermissionDenied):
        view_actions.rename_view(acting_user=cast.manager, view=again, name="Mine now")
    with pytest.raises(PermissionDenied):
        view_actions.delete_view(acting_user=cast.manager, view=again)
    other = view_actions.save_view(
        acting_user=cast.agent, organization=cast.org_a, name="Other", query="tab=mine"
    )
    with pytest.raises(FieldError) as exc:
        view_actions.rename_view(acting_user=cast.agent, view=other, name="My P1s")
    assert "name" in exc.value.errors
    view_actions.rename_view(acting_user=cast.agent, view=other, name="Mine", shared=True)
    view_actions.delete_view(acting_user=cast.agent, view=again)
    assert list(SavedView.objects.values_list("name", flat=True)) == ["Mine"]
    actions = list(
        AuditRecord.objects.filter(object_type="servicedesk.savedview").values_list(
            "action", flat=True
        )
    )
    assert actions.count("create") == 2 and "update" in actions and "delete" in actions
    with pytest.raises(FieldError):
        view_actions.save_view(acting_user=cast.agent, organization=cast.org_a, name="", query="")
    with pytest.raises(PermissionDenied):
        view_actions.save_view(
            acting_user=cast.requester, organization=cast.org_a, name="x", query="tab=mine"
        )


def test_who_sees_which_views(cast):  # type: ignore[no-untyped-def]
    view_actions.save_view(
        acting_user=cast.agent, organization=cast.org_a, name="Shared", query="q=a", shared=True
    )
    view_actions.save_view(
        acting_user=cast.agent, organization=cast.org_a, name="Private", query="q=b"
    )
    view_actions.save_view(
        acting_user=cast.agent_b, organization=cast.org_b, name="Theirs", query="q=c", shared=True
    )

    def names(user, org):  # type: ignore[no-untyped-def]
        return [v.name for v in view_actions.saved_views_for_user(user, org.pk)]

    assert names(cast.agent, cast.org_a) == ["Private", "Shared"]
    assert names(cast.manager, cast.org_a) == ["Shared"]
    assert names(cast.manager, cast.org_b) == []
    assert names(cast.requester, cast.org_a) == []


def test_views_from_the_queue_page(cast):  # type: ignore[no-untyped-def]
    agent = client_for(cast.agent)
    response = agent.post(
        "/desk/views/", {"name": "Urgent", "query": "priority=1&tab=open", "shared": "on"}
    )
    view = SavedView.objects.get()
    assert response["Location"] == "/desk/?tab=open&priority=1"
    page = agent.get("/desk/?tab=open&priority=1").content.decode()
    assert 'class="chip is-current"' in page and "Urgent" in page
    # Others see the shared view but cannot change it.
    manager = client_for(cast.manager)
    assert "Urgent" in manager.get("/desk/").content.decode()
    manager.post(f"/desk/views/{view.pk}/delete/")
    assert SavedView.objects.filter(pk=view.pk).exists()
    agent.post(f"/desk/views/{view.pk}/rename/", {"name": "P1 now", "shared_present": "1"})
    view.refresh_from_db()
    assert view.name == "P1 now" and not view.shared
    assert client_for(cast.manager).post(f"/desk/views/{view.pk}/delete/").status_code == 404
    agent.post(f"/desk/views/{view.pk}/delete/")
    assert not SavedView.objects.exists()
    # Another organisation's view id is not found.
    theirs = view_actions.save_view(
        acting_user=cast.agent_b, organization=cast.org_b, name="B", query="q=x", shared=True
    )
    assert agent.post(f"/desk/views/{theirs.pk}/delete/").status_code == 404
