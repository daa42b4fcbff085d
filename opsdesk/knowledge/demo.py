"""Demo knowledge articles: how-tos, known errors, SOPs and policies in every state.

`seed_demo(organization, people)` is idempotent: an article whose title already exists in
the organisation is left as it is. Everything goes through the actions, so the demo has
versions, timelines, an audit trail and a search index. Some published articles are due
for review (one overdue), one is being revised, one waits for review, one is retired; a
few have feedback, and the VPN and password articles are linked as "used to resolve" to
resolved demo incidents that mention them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from opsdesk.accounts.models import Membership, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role
from opsdesk.knowledge import actions
from opsdesk.knowledge.models import Article, ArticleUse
from opsdesk.servicedesk.choices import IncidentState
from opsdesk.servicedesk.models import Incident


@dataclass
class DemoArticle:
    title: str
    kind: str
    summary: str
    body: str
    tags: list[str]
    #: "draft", "review", "published", "revising" (v2 in draft), "retired"
    state: str = "published"
    #: days from today; negative: overdue (set after publishing)
    review_in: int = 180
    visibility: str = "everyone"
    service: str = ""
    revision: str = ""
    feedback: list[tuple[bool, str]] = field(default_factory=list)
    #: resolved demo incidents whose title contains this word are linked to the article
    resolves: str = ""


ARTICLES = [
    DemoArticle(
        "Connect to the VPN from home",
        "how_to",
        "Install GlobalProtect, sign in with your company account and approve the push.",
        "## Before you start\n\nYou need a company laptop and the Authenticator app.\n\n"
        "## Steps\n\n1. Open **GlobalProtect** from the system tray.\n"
        "2. Portal: `vpn.acme.example`.\n3. Sign in with your company account.\n"
        "4. Approve the push notification on your phone.\n\n"
        "## It does not connect\n\n- Check the time on your laptop is correct.\n"
        "- Restart the laptop, then try again.\n- Still failing? Raise an incident with the "
        "error text.",
        ["vpn", "remote work", "globalprotect"],
        feedback=[(True, ""), (True, "Worked first time"), (False, "Portal name was wrong")],
        resolves="VPN",
    ),
    DemoArticle(
        "VPN drops after exactly 60 minutes",
        "known_error",
        "The main firewall closes idle-looking long sessions; reconnect, or use the split "
        "tunnel profile.",
        "## Symptoms\n\nThe VPN disconnects after 60 minutes even while you work.\n\n"
        "## Cause\n\nA session timeout on the main firewall cluster (problem under "
        "investigation).\n\n## Workaround\n\nChoose the **Split tunnel** profile in "
        "GlobalProtect, or reconnect when it drops.",
        ["vpn", "firewall", "known error"],
        visibility="agents",
        review_in=20,
    ),
    DemoArticle(
        "Reset your password",
        "how_to",
        "Use the self-service portal; you need your registered phone.",
        "1. Go to **https://id.acme.example/reset**.\n2. Enter your email address.\n"
        "3. Enter the code sent to your phone.\n4. Choose a new password: at least 14 "
        "characters, not one of your last 10.\n\nOutlook and Teams will ask for the new "
        "password within 15 minutes.",
        ["password", "identity", "self-service"],
        feedback=[(True, ""), (True, "")],
        resolves="password",
    ),
    DemoArticle(
        "Outlook keeps asking for the password after a change",
        "known_error",
        "Cached credentials: sign out of Office, clear the credential manager, sign in.",
        "## Symptoms\n\nOutlook loops on the password prompt after a password change.\n\n"
        "## Workaround\n\n1. Close Outlook and Teams.\n2. Open **Credential Manager** and "
        "remove every entry that starts with `MicrosoftOffice`.\n3. Start Outlook and sign "
        "in once.",
        ["outlook", "password", "known error"],
        service="Email and collaboration",
    ),
    DemoArticle(
        "Mail relay for applications and scanners",
        "how_to",
        "Devices and applications send mail through the internal relay on port 587 with STARTTLS.",
        "| Setting | Value |\n|---|---|\n| Host | `relay.acme.example` |\n| Port | 587 |\n"
        "| Security | STARTTLS |\n| Authentication | the application's service account |\n\n"
        "Open relay from unknown hosts is refused; ask the Platform team to allow a new "
        "subnet.",
        ["mail", "smtp", "relay"],
        visibility="agents",
        service="Email and collaboration",
        review_in=-5,
    ),
    DemoArticle(
        "SOP: restart a Kubernetes pod safely",
        "sop",
        "Restart a workload with a rolling restart, never by deleting pods by hand.",
        "## When\n\nA workload is unhealthy and its runbook says restart.\n\n## Steps\n\n"
        "1. Check the rollout is not already in progress:\n   `kubectl rollout status "
        "deployment/<name> -n <namespace>`\n2. Restart:\n   `kubectl rollout restart "
        "deployment/<name> -n <namespace>`\n3. Watch until every pod is ready.\n"
        "4. Add a work note to the incident with the commands you ran.\n\n"
        "## Never\n\n- `kubectl delete pod` on a StatefulSet during business hours.\n"
        "- Restart more than one workload of a service at once.",
        ["kubernetes", "sop", "restart"],
        visibility="agents",
        review_in=12,
    ),
    DemoArticle(
        "SOP: restore a database from backup",
        "sop",
        "Point-in-time restore into a new instance, verify, then switch the application.",
        "## Approval\n\nA restore of a production database needs an emergency change.\n\n"
        "## Steps\n\n1. Find the restore point in the backup console.\n2. Restore into a "
        "**new** instance named `<db>-restore-<date>`.\n3. Run the verification queries of "
        "the application runbook.\n4. Switch the application's connection string.\n5. Keep "
        "the old instance stopped for 7 days.",
        ["backup", "restore", "database", "sop"],
        visibility="agents",
        state="revising",
        revision="Add the checks for the Payments database and its replicas.",
    ),
    DemoArticle(
        "Data protection policy",
        "policy",
        "How we collect, keep and share personal data, and what to do about a breach.",
        "## Scope\n\nEvery employee and contractor.\n\n## Rules\n\n- Collect only the "
        "personal data a task needs.\n- Keep it in approved systems only.\n- Never send it "
        "to a personal mailbox or cloud drive.\n\n## A breach\n\nReport it within **1 hour** "
        "to the service desk as a P1 security incident.",
        ["policy", "gdpr", "popia", "privacy"],
        review_in=25,
    ),
    DemoArticle(
        "Acceptable use of IT equipment",
        "policy",
        "Company laptops and phones are for work; reasonable personal use is allowed.",
        "You may use your laptop for reasonable personal use. You may not install "
        "unlicensed software, disable the endpoint protection or share your account.",
        ["policy", "laptop"],
    ),
    DemoArticle(
        "Set up multi-factor authentication",
        "how_to",
        "Install the Authenticator app and register it at https://id.acme.example/mfa.",
        "1. Install **Authenticator** from your phone's app store.\n2. Open "
        "https://id.acme.example/mfa on your laptop.\n3. Scan the QR code with the app.\n"
        "4. Approve the test notification.",
        ["mfa", "identity", "security"],
    ),
    DemoArticle(
        "Printer shows 'offline' on Windows",
        "how_to",
        "Remove and re-add the printer from the print server.",
        "1. Open **Settings → Printers**.\n2. Remove the printer.\n3. Open "
        "`\\\\print01` in Explorer and double-click the printer to add it again.",
        ["printer", "windows"],
        feedback=[(False, "Did not work for the 3rd floor printer")],
    ),
    DemoArticle(
        "Request access to a shared mailbox",
        "how_to",
        "Order 'Shared mailbox access' in the catalogue; the mailbox owner approves.",
        "Use the catalogue item **Shared mailbox access**. The owner of the mailbox approves "
        "it; access appears in Outlook within an hour.",
        ["mail", "access", "catalogue"],
        state="review",
    ),
    DemoArticle(
        "SOP: handle a P1 incident",
        "sop",
        "Declare a major incident, open the bridge, update stakeholders every 30 minutes.",
        "1. Declare the major incident and name the manager.\n2. Open the bridge call.\n"
        "3. Post the first stakeholder update within 15 minutes.\n4. Update every 30 "
        "minutes until resolved.\n5. Schedule the post-incident review.",
        ["major incident", "sop", "p1"],
        visibility="agents",
        state="draft",
    ),
    DemoArticle(
        "Configure the old Lync client",
        "how_to",
        "Lync was replaced by Teams.",
        "Lync is no longer supported: use Teams.",
        ["lync", "legacy"],
        state="retired",
    ),
    DemoArticle(
        "Free up space on a full laptop disk",
        "how_to",
        "Empty the recycle bin, clear Downloads and let OneDrive free up space.",
        "1. Empty the **Recycle Bin**.\n2. Move old files out of `Downloads`.\n3. Right-click "
        "the OneDrive folder → **Free up space**.\n4. Run **Disk Clean-up** for system files.",
        ["laptop", "disk", "onedrive"],
        state="draft",
    ),
]


def _person(organization: Organization, people: Any, roles: tuple[str, ...]) -> User:
    if isinstance(people, Mapping):
        for role in roles:
            if isinstance(people.get(role), User):
                return people[role]
    for role in roles:
        membership = (
            Membership.objects.filter(organization=organization, role=role)
            .select_related("user")
            .order_by("pk")
            .first()
        )
        if membership is not None:
            return membership.user
    raise LookupError(f"{organization} has nobody with a role in {roles}.")


def _service(organization: Organization, name: str) -> ConfigurationItem | None:
    if not name:
        return None
    return ConfigurationItem.objects.filter(organization=organization, name=name).first()


@transaction.atomic
def seed_demo(organization: Organization, people: Any = None) -> dict[str, int]:
    """Create the demo articles of `organization` (idempotent); returns what was created."""
    author = _person(organization, people, (Role.AGENT, Role.MANAGER, Role.ADMIN))
    publisher = _person(organization, people, (Role.MANAGER, Role.ADMIN))
    try:
        reader = _person(organization, people, (Role.REQUESTER,))
    except LookupError:
        reader = author
    today = timezone.localdate()
    created = {"articles": 0, "feedback": 0, "uses": 0}
    for spec in ARTICLES:
        if Article.objects.filter(organization=organization, title=spec.title).exists():
            continue
        article = actions.create_article(
            acting_user=author,
            organization=organization,
            title=spec.title,
            kind=spec.kind,
            summary=spec.summary,
            body=spec.body,
            tags=spec.tags,
            visibility=spec.visibility,
            service=_service(organization, spec.service),
            review_date=today + timedelta(days=max(spec.review_in, 1)),
        )
        created["articles"] += 1
        if spec.state == "draft":
            continue
        actions.submit_article(acting_user=author, article=article)
        if spec.state == "review":
            continue
        actions.publish_article(acting_user=publisher, article=article, note="First version")
        if spec.review_in <= 0:
            actions.update_article(
                acting_user=author, article=article, review_date=today + timedelta(spec.review_in)
            )
        for helpful, comment in spec.feedback:
            voter = reader if not created["feedback"] % 2 else author
            if spec.visibility != "everyone":
                voter = author
            actions.give_feedback(
                acting_user=voter, article=article, helpful=helpful, comment=comment
            )
            created["feedback"] += 1
        if spec.state == "revising":
            actions.revise_article(acting_user=author, article=article, reason=spec.revision)
            actions.update_article(
                acting_user=author,
                article=article,
                body=article.body + "\n6. For Payments: check both replicas caught up.",
            )
        elif spec.state == "retired":
            actions.retire_article(acting_user=publisher, article=article, reason="Replaced")
        if spec.resolves and article.is_live:
            incidents = Incident.objects.filter(
                organization=organization,
                state__in=[IncidentState.RESOLVED, IncidentState.CLOSED],
                title__icontains=spec.resolves,
            ).order_by("-resolved_at", "pk")[:3]
            for incident in incidents:
                if not ArticleUse.objects.filter(article=article, incident=incident).exists():
                    actions.link_article(acting_user=author, article=article, incident=incident)
                    created["uses"] += 1
    return created
