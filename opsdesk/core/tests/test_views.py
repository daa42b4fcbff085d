"""The web shell of the core: home, organisation switcher, audit log and error pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from opsdesk.accounts import actions
from opsdesk.core.middleware import SESSION_ORG_KEY
from opsdesk.core.models import AuditRecord
from opsdesk.core.permissions import Role
from opsdesk.core.testing.factories import MembershipFactory

pytestmark = pytest.mark.django_db

AUDIT_NAV_LINK = f'href="{reverse("audit-log")}"'


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def audit_rows(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The object names shown in the audit results table."""
    body = text(response)
    return re.findall(r'<a href="/audit/\d+/">([^<]+)</a>', body)


@pytest.fixture
def both(cast):  # type: ignore[no-untyped-def]
    """A user who is admin of A and auditor of B."""
    user = cast.admin
    MembershipFactory(user=user, organization=cast.org_b, role=Role.AUDITOR)
    return user


# --- Login required ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["/", "/audit/", "/audit/1/", "/profile/", "/teams/", "/teams/1/"],
)
def test_pages_need_a_login(client, url):  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"{reverse('login')}?next=")


# --- Home --------------------------------------------------------------------------------------


def test_home_shows_my_organisations_teams_and_recent_changes(cast):  # type: ignore[no-untyped-def]
    actions.update_team(acting_user=cast.manager, team=cast.team_a, description="First line")
    MembershipFactory(user=cast.manager, organization=cast.org_b, role=Role.REQUESTER)
    response = client_for(cast.manager).get("/")
    body = text(response)
    assert response.status_code == 200
    assert "Welcome, Mandla Manager" in body
    assert "Acme Africa" in body and "Borealis Europe" in body
    assert 'class="badge badge-manager">Manager<' in body
    assert 'class="badge badge-requester">Requester<' in body
    assert re.search(
        r'>Service Desk A</a></td>\s*<td>Acme Africa</td>\s*<td class="num">2</td>', body
    )
    # a manager may not read the audit trail: no rows, no link
    assert "does not include reading the audit trail" in body
    assert AUDIT_NAV_LINK not in body


def test_home_recent_changes_are_of_the_current_organisation_only(cast):  # type: ignore[no-untyped-def]
    actions.update_team(acting_user=cast.admin, team=cast.team_a, description="Tier 1")
    response = client_for(cast.admin).get("/")
    body = text(response)
    assert "Recent changes in Acme Africa" in body
    rows = audit_rows(response)
    assert rows and "Service Desk A" in rows
    assert not any("Borealis" in r or "Service Desk B" in r for r in rows)
    assert AUDIT_NAV_LINK in body


def test_layout_has_skip_link_logout_form_and_csrf_header(cast):  # type: ignore[no-untyped-def]
    body = text(client_for(cast.agent).get("/"))
    assert 'href="#main"' in body and 'id="main"' in body
    assert re.search(r'<form method="post" action="/logout/">', body)
    assert re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"[A-Za-z0-9]+\"\}'>", body)
    assert "/static/vendor/htmx/" in body
    assert "Admin</a>" not in body  # not staff


def test_staff_see_the_admin_link(cast):  # type: ignore[no-untyped-def]
    cast.admin.is_staff = True
    cast.admin.save()
    assert 'href="/admin/">Admin</a>' in text(client_for(cast.admin).get("/"))


@pytest.mark.parametrize("url", ["/", "/audit/", "/profile/", "/teams/", "/login/"])
def test_pages_obey_the_content_security_policy(cast, url):  # type: ignore[no-untyped-def]
    """No inline scripts, no style attributes, no third-party assets."""
    client = Client() if url == "/login/" else client_for(cast.admin)
    response = client.get(url)
    body = text(response)
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", body) == []
    assert " style=" not in body
    assert re.findall(r'(?:src|href)="(?:https?:)?//', body) == []


# --- Organisation switcher ---------------------------------------------------------------------


def test_switcher_lists_only_my_organisations(cast, both):  # type: ignore[no-untyped-def]
    body = text(client_for(both).get("/"))
    assert 'name="organization"' in body
    assert ">Borealis Europe</option>" in body
    only_a = text(client_for(cast.agent).get("/"))
    assert 'name="organization"' not in only_a  # one organisation: nothing to switch
    assert "Borealis Europe" not in only_a


def test_switcher_refuses_an_organisation_i_am_not_member_of(cast):  # type: ignore[no-untyped-def]
    client = client_for(cast.admin)
    response = client.post(
        reverse("switch-organization"), {"organization": cast.org_b.pk, "next": "/teams/"}
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert SESSION_ORG_KEY not in client.session
    page = text(client.get("/"))
    assert "You are not a member of that organisation." in page
    assert "Working in <strong>Acme Africa</strong>" in page


def test_switcher_moves_me_to_an_organisation_i_belong_to(cast, both):  # type: ignore[no-untyped-def]
    client = client_for(both)
    response = client.post(
        reverse("switch-organization"), {"organization": cast.org_b.pk, "next": "/teams/"}
    )
    assert response.status_code == 302 and response["Location"] == "/teams/"
    page = text(client.get("/"))
    assert "Now working in Borealis Europe." in page
    assert "Working in <strong>Borealis Europe</strong> as auditor" in page
    assert re.search(rf'<option value="{cast.org_b.pk}" selected>Borealis Europe</option>', page)


@pytest.mark.parametrize("junk", ["", "abc", "999999"])
def test_switcher_rejects_junk(cast, both, junk):  # type: ignore[no-untyped-def]
    client = client_for(both)
    response = client.post(reverse("switch-organization"), {"organization": junk})
    assert response.status_code == 302
    assert "You are not a member" in text(client.get("/"))


def test_switcher_does_not_redirect_off_site(cast, both):  # type: ignore[no-untyped-def]
    response = client_for(both).post(
        reverse("switch-organization"),
        {"organization": cast.org_b.pk, "next": "https://evil.example/"},
    )
    assert response["Location"] == "/"


def test_switcher_needs_post(cast):  # type: ignore[no-untyped-def]
    assert client_for(cast.admin).get(reverse("switch-organization")).status_code == 405


# --- Audit log ---------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["auditor", "admin"])
def test_audit_log_shows_my_organisation_and_never_the_other(cast, who):  # type: ignore[no-untyped-def]
    actions.update_team(acting_user=cast.admin_b, team=cast.team_b, description="secret B")
    user = getattr(cast, who)
    for scope in ("current", "all"):
        response = client_for(user).get("/audit/", {"scope": scope})
        assert response.status_code == 200
        rows = audit_rows(response)
        assert "Acme Africa" in rows and "Service Desk A" in rows
        assert not [r for r in rows if "Borealis" in r or "Service Desk B" in r]
        assert "secret B" not in text(response)


@pytest.mark.parametrize("who", ["requester", "agent", "manager"])
def test_audit_log_is_empty_and_unlinked_for_other_roles(cast, who):  # type: ignore[no-untyped-def]
    user = getattr(cast, who)
    response = client_for(user).get("/audit/", {"scope": "all"})
    assert response.status_code == 200
    assert audit_rows(response) == []
    assert "There are no audit records you may read here." in text(response)
    assert AUDIT_NAV_LINK not in text(client_for(user).get("/"))


def test_audit_log_scope_all_spans_my_organisations(cast, both):  # type: ignore[no-untyped-def]
    client = client_for(both)
    current = audit_rows(client.get("/audit/"))
    everything = audit_rows(client.get("/audit/", {"scope": "all"}))
    assert "Service Desk B" not in current
    assert "Service Desk A" in everything and "Service Desk B" in everything


def test_audit_filters(cast):  # type: ignore[no-untyped-def]
    actions.update_team(acting_user=cast.admin, team=cast.team_a, description="Night shift")
    extra = actions.create_team(acting_user=cast.admin, organization=cast.org_a, name="Network")
    client = client_for(cast.auditor)

    by_action = audit_rows(client.get("/audit/", {"action": "update"}))
    assert by_action == ["Service Desk A", "Service Desk A"]

    by_type = audit_rows(client.get("/audit/", {"object_type": "accounts.team"}))
    assert set(by_type) == {"Service Desk A", "Network"}

    by_actor = client.get("/audit/", {"actor": "admin@a.test"})
    assert audit_rows(by_actor) == ["Network", "Service Desk A"]
    assert 'value="admin@a.test"' in text(by_actor)  # the filter stays filled in

    assert audit_rows(client.get("/audit/", {"q": "netw"})) == ["Network"]

    today = timezone.localdate()
    assert "Network" in audit_rows(client.get("/audit/", {"since": today.isoformat()}))
    yesterday = (today - timedelta(days=1)).isoformat()
    none = client.get("/audit/", {"until": yesterday})
    assert audit_rows(none) == []
    assert "No audit records match these filters." in text(none)
    assert extra.pk


def test_audit_filters_ignore_nonsense(cast):  # type: ignore[no-untyped-def]
    client = client_for(cast.auditor)
    response = client.get(
        "/audit/", {"action": "explode", "since": "not-a-date", "page": "x", "scope": "?"}
    )
    assert response.status_code == 200
    assert "Acme Africa" in audit_rows(response)


def test_audit_log_htmx_returns_only_the_results(cast):  # type: ignore[no-untyped-def]
    client = client_for(cast.auditor)
    response = client.get("/audit/", {"action": "create"}, headers={"HX-Request": "true"})
    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in body and "<form" not in body
    assert "Service Desk A" in audit_rows(response)
    assert "HX-Request" in response["Vary"]
    # the back button after htmx's cache expired asks for the whole page
    restore = client.get(
        "/audit/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in text(restore)


def test_audit_log_filter_form_is_wired_for_htmx(cast):  # type: ignore[no-untyped-def]
    body = text(client_for(cast.auditor).get("/audit/"))
    form = re.search(r'<form class="filters"[^>]*>', body, re.S)
    assert form is not None
    tag = form.group(0)
    assert 'hx-get="/audit/"' in tag
    assert 'hx-trigger="change, keyup delay:400ms"' in tag
    assert 'hx-push-url="true"' in tag
    assert 'hx-target="#audit-results"' in tag


def test_audit_log_is_paginated(cast):  # type: ignore[no-untyped-def]
    for i in range(45):
        actions.update_team(acting_user=cast.admin, team=cast.team_a, description=f"v{i}")
    client = client_for(cast.auditor)
    total = AuditRecord.objects.filter(organization=cast.org_a).count()
    assert total > 50
    first = client.get("/audit/")
    assert len(audit_rows(first)) == 50
    assert f"Showing 1\N{EN DASH}50 of {total} records" in text(first)
    assert "page=2" in text(first)
    second = client.get("/audit/", {"page": 2})
    assert len(audit_rows(second)) == total - 50
    assert "Page 2 of 2" in text(second)


# --- Audit detail ------------------------------------------------------------------------------


def test_audit_detail_shows_a_before_after_table(cast):  # type: ignore[no-untyped-def]
    actions.update_team(acting_user=cast.admin, team=cast.team_a, description="Night shift")
    record = AuditRecord.objects.filter(action="update", object_type="accounts.team").latest("id")
    response = client_for(cast.auditor).get(f"/audit/{record.pk}/")
    body = text(response)
    assert response.status_code == 200
    assert "Service Desk A" in body and "admin@a.test" in body
    assert re.search(
        r'<th scope="row" class="mono">description</th>\s*'
        r'<td class="before">\s*</td>\s*<td class="after">Night shift</td>',
        body,
    )


def test_audit_detail_of_a_create_shows_the_new_values(cast):  # type: ignore[no-untyped-def]
    record = AuditRecord.objects.get(object_type="core.organization", object_id=str(cast.org_a.pk))
    body = text(client_for(cast.admin).get(f"/audit/{record.pk}/"))
    assert re.search(
        r'<td class="before empty-value">—</td>\s*<td class="after">Acme Africa</td>', body
    )
    # JSON values are shown as JSON
    assert "&quot;ZA&quot;" in body


def test_audit_detail_of_the_other_organisation_is_not_found(cast):  # type: ignore[no-untyped-def]
    record_b = AuditRecord.objects.filter(organization=cast.org_b).first()
    response = client_for(cast.admin).get(f"/audit/{record_b.pk}/")
    assert response.status_code == 404
    assert "Page not found" in text(response)
    assert "Borealis" not in text(response)


def test_audit_detail_is_not_found_for_roles_without_audit(cast):  # type: ignore[no-untyped-def]
    record = AuditRecord.objects.filter(organization=cast.org_a).first()
    assert client_for(cast.agent).get(f"/audit/{record.pk}/").status_code == 404


# --- Error pages -------------------------------------------------------------------------------


def test_unknown_page_gets_the_friendly_404(cast):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in text(response)


def test_500_page_is_static_and_quotes_the_request_id(rf, django_assert_num_queries):  # type: ignore[no-untyped-def]
    from opsdesk.core.views import server_error

    request = rf.get("/somewhere/")
    request.request_id = "req-12345678"
    with django_assert_num_queries(0):
        response = server_error(request)
    assert response.status_code == 500
    assert "Something went wrong" in text(response)
    assert "req-12345678" in text(response)
