"""Web pages of accounts: login, logout, profile and tokens, teams."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from opsdesk.accounts import actions, selectors
from opsdesk.accounts.forms import EmailLoginForm, TokenForm
from opsdesk.core.errors import NotFound

NEW_TOKEN_SESSION_KEY = "opsdesk_new_api_token"


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = EmailLoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    # Post/redirect/get: the secret rides in the session for exactly one page view, so a
    # reload neither shows it again nor creates a second token.
    new_token = request.session.pop(NEW_TOKEN_SESSION_KEY, None)
    form = TokenForm()
    if request.method == "POST":
        form = TokenForm(request.POST)
        if form.is_valid():
            expires = timezone.now() + timedelta(days=form.cleaned_data["expires_in_days"])
            token, secret = actions.create_api_token(
                acting_user=user, name=form.cleaned_data["name"], expires_at=expires
            )
            request.session[NEW_TOKEN_SESSION_KEY] = secret
            messages.success(
                request, f"Token “{token.name}” created. Copy it now: it is not shown again."
            )
            return HttpResponseRedirect(reverse("profile"))
    return render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "new_token": new_token,
            "tokens": selectors.tokens_for_user(user),
            "memberships": user.memberships.select_related("organization"),
        },
    )


@require_POST
@login_required
def revoke_token(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = selectors.access_token(request.user, token_id)
    except NotFound:
        return render(request, "404.html", status=404)
    actions.revoke_api_token(acting_user=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return HttpResponseRedirect(reverse("profile"))


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    org = request.organization
    teams = selectors.teams_for_user(request.user)
    if org is not None:
        teams = teams.filter(organization_id=org.pk)
    return render(request, "accounts/team_list.html", {"teams": teams})


@login_required
def team_detail(request: HttpRequest, team_id: int) -> HttpResponse:
    try:
        team = selectors.access_team(request.user, team_id)
    except NotFound:
        return render(request, "404.html", status=404)
    return render(request, "accounts/team_detail.html", {"team": team})
