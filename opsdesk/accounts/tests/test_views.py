"""Web pages of accounts: sign-in, profile and API tokens, teams."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from opsdesk.accounts.models import ApiToken
from opsdesk.core.testing.factories import PASSWORD, token_for

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed attempts"
WRONG = "That email and password do not match an account."


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def login(client: Client, email: str, password: str, **extra: str):  # type: ignore[no-untyped-def]
    return client.post(reverse("login"), {"username": email, "password": password, **extra})


# --- Sign-in and sign-out ----------------------------------------------------------------------


def test_login_page_asks_for_email_and_password(client):  # type: ignore[no-untyped-def]
    response = client.get(reverse("login"))
    body = text(response)
    assert response.status_code == 200
    assert 'type="email"' in body and 'type="password"' in body
    assert "Sign in" in body
    assert 'class="mainnav"' not in body  # no navigation before signing in


def test_login_success_lands_on_home(client, cast):  # type: ignore[no-untyped-def]
    response = login(client, "agent@a.test", PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("home")
    home = client.get(reverse("home"))
    assert "Welcome, Alex Agent" in text(home)


def test_login_is_case_insensitive_and_follows_next(client, cast):  # type: ignore[no-untyped-def]
    response = login(client, "Agent@A.test", PASSWORD, next="/teams/")
    assert response["Location"] == "/teams/"


def test_login_does_not_follow_next_off_site(client, cast):  # type: ignore[no-untyped-def]
    response = login(client, "agent@a.test", PASSWORD, next="https://evil.example/")
    assert response["Location"] == reverse("home")


def test_login_failure_says_so_and_keeps_the_email(client, cast):  # type: ignore[no-untyped-def]
    response = login(client, "agent@a.test", "wrong password")
    body = text(response)
    assert response.status_code == 200
    assert WRONG in body
    assert 'value="agent@a.test"' in body
    assert "_auth_user_id" not in client.session


def test_unknown_email_gets_the_same_message(client, cast):  # type: ignore[no-untyped-def]
    assert WRONG in text(login(client, "nobody@a.test", "whatever"))


def test_five_failures_lock_the_account_even_for_the_right_password(client, cast):  # type: ignore[no-untyped-def]
    for _ in range(4):
        assert WRONG in text(login(client, "agent@a.test", "wrong password"))
    fifth = text(login(client, "agent@a.test", "wrong password"))
    assert LOCKED in fifth
    right = login(client, "agent@a.test", PASSWORD)
    assert right.status_code == 200
    assert LOCKED in text(right)
    assert "_auth_user_id" not in client.session
    # other accounts are not affected
    assert login(Client(), "manager@a.test", PASSWORD).status_code == 302


def test_signed_in_user_visiting_login_goes_home(cast):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).get(reverse("login"))
    assert response.status_code == 302 and response["Location"] == reverse("home")


def test_logout_needs_post_and_ends_the_session(cast):  # type: ignore[no-untyped-def]
    client = client_for(cast.agent)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert client.get(reverse("home")).status_code == 302


# --- Profile and API tokens ---------------------------------------------------------------------


def test_profile_lists_my_memberships(cast):  # type: ignore[no-untyped-def]
    body = text(client_for(cast.auditor).get(reverse("profile")))
    assert "Aisha Auditor" in body and "auditor@a.test" in body
    assert "Acme Africa" in body
    assert 'class="badge badge-auditor">Auditor<' in body


def test_creating_a_token_shows_the_secret_once(cast):  # type: ignore[no-untyped-def]
    client = client_for(cast.agent)
    response = client.post(
        reverse("profile"), {"name": "monitoring", "expires_in_days": "30"}, follow=True
    )
    body = text(response)
    assert response.status_code == 200
    # post/redirect/get: a reload of the result page cannot create a second token
    assert response.redirect_chain == [(reverse("profile"), 302)]
    shown = re.search(r'<code id="new-token">(opsd_[^<]+)</code>', body)
    assert shown is not None
    secret = shown.group(1)
    assert "Copy it now" in body
    token = ApiToken.objects.get(user=cast.agent, name="monitoring")
    assert secret.startswith(token.key_prefix)
    # the secret works against the API ...
    me = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert me.status_code == 200
    # ... and is never shown again
    again = text(client.get(reverse("profile")))
    assert secret not in again
    assert ApiToken.objects.filter(user=cast.agent, name="monitoring").count() == 1
    assert "monitoring" in again and f"{token.key_prefix}…" in again


def test_token_form_errors_name_the_field(cast):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).post(reverse("profile"), {"name": "", "expires_in_days": "7"})
    body = text(response)
    assert "Token name: This field is required." in body
    assert "Expiry: Select a valid choice." in body
    assert 'id="new-token"' not in body
    assert not ApiToken.objects.filter(user=cast.agent).exists()


def test_revoking_a_token(cast):  # type: ignore[no-untyped-def]
    secret = token_for(cast.agent, name="old integration")
    token = ApiToken.objects.get(user=cast.agent, name="old integration")
    client = client_for(cast.agent)
    response = client.post(reverse("revoke-token", args=[token.pk]), follow=True)
    body = text(response)
    assert "Token “old integration” revoked." in body
    assert 'class="badge badge-revoked">Revoked<' in body
    assert f'action="{reverse("revoke-token", args=[token.pk])}"' not in body  # no second revoke
    token.refresh_from_db()
    assert token.revoked_at is not None
    denied = Client().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert denied.status_code == 401


def test_cannot_revoke_someone_elses_token(cast):  # type: ignore[no-untyped-def]
    token_for(cast.agent_b, name="b-token")
    token = ApiToken.objects.get(name="b-token")
    response = client_for(cast.admin).post(reverse("revoke-token", args=[token.pk]))
    assert response.status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_needs_post(cast):  # type: ignore[no-untyped-def]
    token_for(cast.agent, name="t")
    token = ApiToken.objects.get(name="t")
    assert client_for(cast.agent).get(reverse("revoke-token", args=[token.pk])).status_code == 405


# --- Teams -------------------------------------------------------------------------------------


def test_team_list_shows_my_organisations_teams_only(cast):  # type: ignore[no-untyped-def]
    body = text(client_for(cast.agent).get(reverse("team-list")))
    assert "Service Desk A" in body
    assert "Service Desk B" not in body
    assert "Assignment groups in Acme Africa." in body


def test_team_detail_shows_members(cast):  # type: ignore[no-untyped-def]
    response = client_for(cast.agent).get(reverse("team-detail", args=[cast.team_a.pk]))
    body = text(response)
    assert response.status_code == 200
    assert "Service Desk A" in body
    assert "Alex Agent" in body and "Mandla Manager" in body
    assert "Bruno Agent" not in body


@pytest.mark.parametrize("who", ["agent", "admin", "auditor"])
def test_team_of_another_organisation_is_not_found(cast, who):  # type: ignore[no-untyped-def]
    response = client_for(getattr(cast, who)).get(reverse("team-detail", args=[cast.team_b.pk]))
    assert response.status_code == 404
    body = text(response)
    assert "Page not found" in body
    assert "Service Desk B" not in body and "Bruno" not in body


def test_unknown_team_is_not_found(cast):  # type: ignore[no-untyped-def]
    assert client_for(cast.agent).get(reverse("team-detail", args=[999999])).status_code == 404
