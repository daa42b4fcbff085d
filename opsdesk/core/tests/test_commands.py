"""The `opsdesk` command line: token, load_demo, demo."""

import io

import pytest
from django.core.management import CommandError, call_command

from opsdesk.accounts.models import ApiToken, Membership, Team, User
from opsdesk.core.demo import DEMO_PASSWORD
from opsdesk.core.models import AuditRecord, Organization
from opsdesk.core.permissions import Role


def test_token_create_prints_a_working_token_once(cast, client):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "token", "create", "--user", "agent@a.test", "--name", "monitoring", stdout=out, stderr=err
    )
    raw = out.getvalue().strip()
    assert raw.startswith("opsd_")
    token = ApiToken.objects.get(user=cast.agent, name="monitoring")
    assert raw not in token.key_hash and token.expires_at is not None
    me = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert me.status_code == 200 and me.json()["email"] == "agent@a.test"
    listing = io.StringIO()
    call_command("token", "list", "--user", "agent@a.test", stdout=listing)
    assert "monitoring" in listing.getvalue() and raw not in listing.getvalue()
    call_command("token", "revoke", str(token.pk), stdout=io.StringIO())
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_token_create_for_unknown_user_fails(db):
    with pytest.raises(CommandError, match="No user"):
        call_command("token", "create", "--user", "nobody@example.test", stdout=io.StringIO())


def test_demo_data_is_realistic_idempotent_and_audited(db, client):
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    counts = (
        Organization.objects.count(),
        User.objects.count(),
        Team.objects.count(),
        AuditRecord.objects.count(),
    )
    call_command("load_demo", stdout=io.StringIO())
    assert counts == (
        Organization.objects.count(),
        User.objects.count(),
        Team.objects.count(),
        AuditRecord.objects.count(),
    )
    savanna = Organization.objects.get(slug="savanna")
    nordlicht = Organization.objects.get(slug="nordlicht")
    assert savanna.countries == ["ZA", "KE", "NG"]
    assert len(nordlicht.countries) == 8
    for org in (savanna, nordlicht):
        assert set(Team.objects.filter(organization=org).values_list("name", flat=True)) == {
            "Service Desk",
            "Platform",
            "Network",
            "Database",
            "Application Support",
            "Finance and Operations",  # the business team whose manager approves requests
        }
        assert set(
            Membership.objects.filter(organization=org).values_list("role", flat=True)
        ) == set(Role.values)
    assert AuditRecord.objects.filter(
        organization_id=savanna.pk, object_type="accounts.team"
    ).exists()
    # every printed login works
    printed = [line.split()[0] for line in out.getvalue().splitlines()[1:]]
    assert len(printed) == 12
    for email in printed:
        assert client.login(username=email, password=DEMO_PASSWORD), email
        client.logout()
