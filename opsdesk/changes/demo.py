"""Demo data for change enablement: a few months of changes and deployments on the demo
CMDB, some failed and some that caused incidents, CAB meetings, a weekly maintenance window,
a freeze at month end and a year-end freeze on the banking services.

Called by the service-desk demo (``SEEDERS``) after the incidents exist, as
``seed_demo(organization, people)``. Everything goes through the same actions a person or a
pipeline would use; history is written at its own time by running each step with the clock
set to that moment (`_clock`), so approvals, reviews and timelines read like the past months.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from django.utils import timezone

from opsdesk.accounts.models import Team, User
from opsdesk.changes import actions, approvals, cab, induced, reviews
from opsdesk.changes.approval_policies import create_policy
from opsdesk.changes.choices import (
    ApprovalState,
    ApproverKind,
    CabDecision,
    CabKind,
    ChangeState,
    ChangeType,
    CloseCode,
    DeploymentOutcome,
    InducedState,
    RiskClass,
    WindowKind,
)
from opsdesk.changes.deployments import record_deployment
from opsdesk.changes.integration_actions import create_integration
from opsdesk.changes.models import (
    Approval,
    Change,
    ChangeTemplate,
    DeploymentIntegration,
    InducedLink,
)
from opsdesk.changes.template_actions import create_template
from opsdesk.changes.window_actions import create_window
from opsdesk.cmdb.impact import upstream_services
from opsdesk.cmdb.models import ConfigurationItem, Relationship
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.core.permissions import Role
from opsdesk.servicedesk.models import Incident

#: How far back the history goes.
DAYS = 100
#: Changes whose implementation caused one of the demo incidents.
CAUSED = 4


@contextlib.contextmanager
def _clock(moment: datetime) -> Iterator[None]:
    """Run a block as if it were `moment`: every ``timezone.now()`` the actions call
    returns it (the audit trail keeps its own, real time)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def _ci(org: Organization, name: str) -> ConfigurationItem | None:
    return ConfigurationItem.objects.filter(organization=org, name=name).first()


def _runs_on(app: ConfigurationItem) -> list[ConfigurationItem]:
    return [
        r.target
        for r in Relationship.objects.filter(source=app, type__key="runs_on").select_related(
            "target"
        )
    ]


def _team(org: Organization, name: str) -> Team | None:
    return Team.objects.filter(organization=org, name=name).first()


def _local(org: Organization, day: datetime, hour: int, minute: int = 0) -> datetime:
    zone = ZoneInfo(org.time_zone)
    local = day.astimezone(zone).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return local


def _next_weekday(moment: datetime, weekday: int) -> datetime:
    return moment + timedelta(days=(weekday - moment.weekday()) % 7)


class Seeder:
    def __init__(self, org: Organization, people: dict[str, User]) -> None:
        self.org = org
        self.agent = people[Role.AGENT]
        self.manager = people[Role.MANAGER]
        self.admin = people[Role.ADMIN]
        self.rng = random.Random(f"changes-{org.slug}")  # noqa: S311 (demo data)
        self.now = timezone.now()
        self.zone = ZoneInfo(org.time_zone)
        self._services: dict[int, ConfigurationItem | None] = {}

    def service_of(self, ci: ConfigurationItem) -> ConfigurationItem | None:
        """The most critical business service `ci` can take down (what the change is for)."""
        if ci.pk not in self._services:
            found = upstream_services(ci)["services"]
            self._services[ci.pk] = (
                ConfigurationItem.objects.get(pk=found[0]["id"]) if found else None
            )
        return self._services[ci.pk]

    # --- configuration -----------------------------------------------------------------------

    def configure(self) -> None:
        org, admin = self.org, self.admin
        platform = _team(org, "Platform")
        apps = _team(org, "Application Support")
        network = _team(org, "Network")
        banking_api = _ci(org, "banking-api")
        portal_backend = _ci(org, "portal-backend")
        self.templates: dict[str, ChangeTemplate] = {}
        specs = [
            (
                "Deploy banking-api to production",
                "Release",
                "Rolling deployment of a tested banking-api build through the pipeline.",
                "Pipeline rolls the new image out pod by pod; readiness probes gate each step.",
                "Roll back to the previous image tag with the pipeline's rollback job.",
                "Smoke tests of login, balance and transfer run after the rollout.",
                apps,
                [banking_api],
                [banking_api],
                30,
            ),
            (
                "Deploy portal-backend to production",
                "Release",
                "Rolling deployment of a tested portal-backend build through the pipeline.",
                "Pipeline rolls the new image out pod by pod; readiness probes gate each step.",
                "Roll back to the previous image tag with the pipeline's rollback job.",
                "Synthetic check of sign-in and the service-request form.",
                apps,
                [portal_backend],
                [portal_backend],
                30,
            ),
            (
                "Monthly Linux patching",
                "Maintenance",
                "Operating-system patches on one Linux server, in the maintenance window.",
                "Drain, apply the month's patches, reboot, return to the pool.",
                "Revert to the pre-patch VM snapshot.",
                "Health checks green and the application responds.",
                platform,
                [],
                [],
                90,
            ),
            (
                "TLS certificate renewal",
                "Security",
                "Replace a certificate that expires within 30 days.",
                "Install the renewed certificate and reload the service.",
                "Re-install the previous certificate (still valid).",
                "Check the chain and expiry date from outside.",
                platform,
                [],
                [],
                30,
            ),
            (
                "Firewall rule for a new integration",
                "Network",
                "Open one documented port between two known hosts.",
                "Add the rule to the change set and push it to the pair.",
                "Remove the rule and push again.",
                "Connection test from the source host.",
                network,
                [],
                [],
                30,
            ),
        ]
        for name, category, description, impl, backout, test, team, cis, match, minutes in specs:
            existing = ChangeTemplate.objects.filter(organization=org, name=name).first()
            self.templates[name] = existing or create_template(
                acting_user=admin,
                organization=org,
                name=name,
                category=category,
                description=description,
                implementation_plan=impl,
                backout_plan=backout,
                test_plan=test,
                risk_class=RiskClass.LOW,
                assignment_group=team,
                default_duration_minutes=minutes,
                cis=[c for c in cis if c],
                match_cis=[c for c in match if c],
                match_environments=["production"] if match else [],
            )
        create_policy(
            acting_user=admin,
            organization=org,
            name="Low risk: the change manager",
            change_types=[ChangeType.NORMAL],
            risk_classes=[RiskClass.LOW],
            order=10,
            steps=[{"approver_kind": ApproverKind.CHANGE_MANAGER, "name": "Change manager"}],
        )
        create_policy(
            acting_user=admin,
            organization=org,
            name="Moderate risk: technical owner, then the change manager",
            change_types=[ChangeType.NORMAL],
            risk_classes=[RiskClass.MODERATE],
            order=20,
            steps=[
                {
                    "approver_kind": ApproverKind.USERS,
                    "name": "Technical owner",
                    "users": [self.manager, admin],
                    "quorum": 1,
                },
                {"approver_kind": ApproverKind.CHANGE_MANAGER, "name": "Change manager"},
            ],
        )
        create_policy(
            acting_user=admin,
            organization=org,
            name="High risk: the change manager, then the CAB",
            change_types=[ChangeType.NORMAL],
            risk_classes=[RiskClass.HIGH, RiskClass.VERY_HIGH],
            order=30,
            steps=[
                {"approver_kind": ApproverKind.CHANGE_MANAGER, "name": "Change manager"},
                {"approver_kind": ApproverKind.CAB, "name": "Change advisory board"},
            ],
        )
        create_policy(
            acting_user=admin,
            organization=org,
            name="Emergency: the emergency CAB",
            change_types=[ChangeType.EMERGENCY],
            order=40,
            steps=[{"approver_kind": ApproverKind.CAB, "name": "Emergency CAB"}],
        )
        # A weekly maintenance window (Sunday 01:00-05:00 local) for the whole organisation.
        first_sunday = _next_weekday(
            (self.now - timedelta(days=DAYS + 7)).astimezone(self.zone), 6
        ).replace(hour=1, minute=0, second=0, microsecond=0)
        create_window(
            acting_user=admin,
            organization=org,
            kind=WindowKind.MAINTENANCE,
            name="Sunday maintenance window",
            description="The agreed weekly window for planned work with downtime.",
            starts_at=first_sunday,
            ends_at=first_sunday + timedelta(hours=4),
            rrule="FREQ=WEEKLY;BYDAY=SU",
        )
        # Month-end close: ERP and Payments frozen for the last three days of every month.
        start = (self.now - timedelta(days=DAYS + 40)).astimezone(self.zone)
        month_end = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_end = (month_end + timedelta(days=32)).replace(day=1) - timedelta(days=3)
        erp, payments = _ci(org, "ERP"), _ci(org, "Payments")
        create_window(
            acting_user=admin,
            organization=org,
            kind=WindowKind.FREEZE,
            name="Month-end close",
            description="Finance closes the books: no changes to ERP and Payments.",
            starts_at=month_end,
            ends_at=month_end + timedelta(days=3),
            rrule="FREQ=MONTHLY;BYMONTHDAY=-3",
            services=[s for s in (erp, payments) if s],
        )
        # The year-end freeze on the banking services.
        year_end = datetime(self.now.year, 12, 18, tzinfo=self.zone)
        if self.now.astimezone(self.zone) > year_end + timedelta(days=18):
            year_end = year_end.replace(year=self.now.year + 1)
        banking = [s for s in (_ci(org, "Online banking"), payments) if s]
        create_window(
            acting_user=admin,
            organization=org,
            kind=WindowKind.FREEZE,
            name="Year-end freeze",
            description="Peak season for card payments and transfers: emergency changes only.",
            starts_at=year_end,
            ends_at=year_end + timedelta(days=18),
            services=banking,
        )
        self.integration, _token, _secret = create_integration(
            acting_user=admin,
            organization=org,
            name="GitHub Actions: digital channels",
            source="github",
            default_service=_ci(org, "Online banking"),
        )

    # --- one change through its life ---------------------------------------------------------

    def _approve_all(self, change: Change, at: datetime, cab_meeting: Any = None) -> None:
        """Every outstanding approval given by someone allowed to give it (the CAB's in a
        meeting), one at a time, until the engine authorises the change."""
        for _ in range(8):
            pending = approvals.outstanding(change)
            if not pending:
                return
            approval = pending[0]
            at += timedelta(minutes=self.rng.randint(20, 180))
            with _clock(at):
                if approval.cab:
                    meeting = cab_meeting or self._meeting(at, CabKind.CAB)
                    cab.build_agenda(acting_user=self.manager, meeting=meeting)
                    item = meeting.items.get(change=change)
                    cab.start_meeting(acting_user=self.manager, meeting=meeting)
                    cab.record_decision(
                        acting_user=self.manager,
                        item=item,
                        decision=CabDecision.APPROVED,
                        notes="Plan and back-out reviewed; go.",
                    )
                    meeting.refresh_from_db()
                    cab.complete_meeting(acting_user=self.manager, meeting=meeting)
                else:
                    approver = self.manager
                    if approval.approver_id and approval.approver_id != self.agent.pk:
                        approver = approval.approver
                    approvals.approve(
                        acting_user=approver,
                        approval=approval,
                        comment="Reviewed the plan and the back-out.",
                    )
            change.refresh_from_db()

    def _meeting(self, at: datetime, kind: str) -> Any:
        start = at.replace(minute=0, second=0, microsecond=0)
        return cab.create_meeting(
            acting_user=self.manager,
            organization=self.org,
            title="Emergency CAB" if kind == CabKind.ECAB else "Weekly CAB",
            kind=kind,
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            chair=self.manager,
            members=[self.manager, self.admin],
        )

    def run_change(
        self,
        *,
        title: str,
        change_type: str,
        opened: datetime,
        start: datetime,
        hours: float,
        cis: list[ConfigurationItem],
        service: ConfigurationItem | None,
        team: Team | None,
        outcome: str | None,
        stop_at: str = ChangeState.CLOSED,
        template: ChangeTemplate | None = None,
        description: str = "",
    ) -> Change:
        end = start + timedelta(hours=hours)
        with _clock(opened):
            fields: dict[str, Any] = {
                "planned_start": start,
                "planned_end": end,
                "assignment_group": team,
                "change_manager": self.manager,
                "service": service,
            }
            if template is None:
                fields.update(
                    description=description
                    or f"{title}. Requested by the {team.name if team else 'platform'} team.",
                    justification="Keeps the service supported and within policy.",
                    implementation_plan="1. Announce the window. 2. Take a backup or snapshot. "
                    "3. Apply the change. 4. Run the test plan.",
                    backout_plan="Restore the backup or snapshot taken in step 2.",
                    test_plan="Service health checks and a business smoke test.",
                )
            change = actions.create_change(
                acting_user=self.agent,
                organization=self.org,
                title=title,
                change_type=change_type,
                template=template,
                cis=cis,
                **fields,
            )
        at = opened + timedelta(minutes=self.rng.randint(10, 90))
        if stop_at == ChangeState.NEW:
            return change
        if change_type == ChangeType.STANDARD:
            with _clock(at):
                actions.transition_change(acting_user=self.agent, change=change, name="schedule")
        else:
            if change_type == ChangeType.NORMAL:
                with _clock(at):
                    actions.transition_change(acting_user=self.agent, change=change, name="assess")
                if stop_at == ChangeState.ASSESS:
                    return change
                at += timedelta(hours=self.rng.randint(1, 20))
            else:
                change.justification = (
                    "Customers are affected now; waiting for the weekly CAB is not an option."
                )
            with _clock(at):
                extra = {}
                if change_type == ChangeType.EMERGENCY:
                    actions.update_change(
                        acting_user=self.agent,
                        change=change,
                        justification=change.justification,
                    )
                actions.transition_change(
                    acting_user=self.agent, change=change, name="request_authorisation", **extra
                )
            if stop_at == ChangeState.AUTHORISE:
                return change
            kind = CabKind.ECAB if change_type == ChangeType.EMERGENCY else CabKind.CAB
            meeting = None
            if change_type == ChangeType.EMERGENCY:
                with _clock(at + timedelta(minutes=15)):
                    meeting = self._meeting(at + timedelta(minutes=15), kind)
            self._approve_all(change, at, meeting)
            change.refresh_from_db()
        if stop_at == ChangeState.SCHEDULED or change.state != ChangeState.SCHEDULED:
            return change
        with _clock(start):
            actions.transition_change(acting_user=self.agent, change=change, name="implement")
        if stop_at == ChangeState.IMPLEMENT:
            return change
        finished = start + timedelta(hours=hours * self.rng.uniform(0.5, 1.1))
        with _clock(finished):
            actions.transition_change(
                acting_user=self.agent,
                change=change,
                name="complete",
                close_code=outcome or CloseCode.SUCCESSFUL,
            )
        change.refresh_from_db()
        if stop_at == ChangeState.REVIEW:
            return change
        closed = finished + timedelta(hours=self.rng.randint(2, 30))
        with _clock(closed):
            review = getattr(change, "review", None)
            if review is not None:
                failed = outcome in (CloseCode.FAILED, CloseCode.BACKED_OUT)
                reviews.update_review(
                    acting_user=self.manager,
                    review=review,
                    summary=(
                        "The change did not go as planned and was backed out."
                        if failed
                        else "Emergency change reviewed after the fact."
                    ),
                    what_went_well="The back-out plan worked and was rehearsed.",
                    what_went_wrong=(
                        "The new version could not reach its database after the restart."
                        if failed
                        else "No time for a full test cycle before the change."
                    ),
                    root_cause="A connection setting differed between test and production."
                    if failed
                    else "",
                    lessons="Compare configuration between environments before the window.",
                    follow_up="Add a configuration drift check to the pipeline.",
                )
                reviews.complete_review(acting_user=self.manager, review=review)
            actions.transition_change(
                acting_user=self.agent,
                change=change,
                name="close",
                close_notes={
                    CloseCode.SUCCESSFUL: "Implemented as planned; tests passed.",
                    CloseCode.SUCCESSFUL_WITH_ISSUES: "Implemented; a minor issue was fixed "
                    "in the window.",
                    CloseCode.FAILED: "Failed; the service was restored with the back-out plan.",
                    CloseCode.BACKED_OUT: "Backed out after the smoke test failed.",
                }[outcome or CloseCode.SUCCESSFUL],
            )
        return change

    # --- history -------------------------------------------------------------------------------

    def _work_day(self, days_ago: int, hour: int) -> datetime:
        """A weekday `days_ago` back at `hour` local time, not in the last three days of a
        month (the month-end freeze)."""
        day = (self.now - timedelta(days=days_ago)).astimezone(self.zone)
        while day.weekday() >= 5 or (day + timedelta(days=3)).month != day.month:
            day -= timedelta(days=1)
        return day.replace(hour=hour, minute=0, second=0, microsecond=0)

    def history(self) -> None:
        org = self.org
        apps = ConfigurationItem.objects.filter(organization=org, ci_class__key="application")
        apps = [a for a in apps.order_by("name") if _runs_on(a)]
        databases = list(
            ConfigurationItem.objects.filter(organization=org, ci_class__key="database").order_by(
                "name"
            )
        )
        patching = self.templates["Monthly Linux patching"]
        certs = self.templates["TLS certificate renewal"]
        platform = _team(org, "Platform")
        dba = _team(org, "Database")
        app_team = _team(org, "Application Support")
        # Standard changes: patching and certificates, every few days.
        for n in range(18):
            days_ago = DAYS - n * 5 - self.rng.randint(0, 3)
            if days_ago < 4:
                break
            app = apps[n % len(apps)]
            server = _runs_on(app)[0]
            template = patching if n % 3 else certs
            start = self._work_day(days_ago, 21)
            self.run_change(
                title=f"{template.name}: {server.name}",
                change_type=ChangeType.STANDARD,
                opened=start - timedelta(days=2),
                start=start,
                hours=1.5,
                cis=[server],
                service=self.service_of(server),
                team=platform,
                outcome=CloseCode.SUCCESSFUL if n % 9 else CloseCode.SUCCESSFUL_WITH_ISSUES,
                template=template,
            )
        # Normal changes: upgrades of databases and applications.
        normal_titles = [
            "Upgrade {ci} to the vendor's current patch level",
            "Increase {ci} memory and restart",
            "Move {ci} backups to the new storage tier",
            "Enable TLS 1.3 on {ci}",
            "Rotate service-account credentials of {ci}",
        ]
        outcomes = [CloseCode.SUCCESSFUL] * 7 + [
            CloseCode.SUCCESSFUL_WITH_ISSUES,
            CloseCode.FAILED,
            CloseCode.BACKED_OUT,
        ]
        for n in range(14):
            days_ago = DAYS - 5 - n * 6
            if days_ago < 6:
                break
            target = databases[n % len(databases)] if n % 2 else apps[n % len(apps)]
            team = dba if n % 2 else app_team
            start = self._work_day(days_ago, 22)
            self.run_change(
                title=normal_titles[n % len(normal_titles)].format(ci=target.name),
                change_type=ChangeType.NORMAL,
                opened=start - timedelta(days=5),
                start=start,
                hours=2,
                cis=[target],
                service=self.service_of(target),
                team=team,
                outcome=outcomes[n % len(outcomes)],
            )
        # Changes that caused incidents: implemented on an application shortly before one of
        # the demo incidents on it; they failed and the incident is confirmed as induced.
        incidents = list(
            Incident.objects.filter(
                organization=org,
                ci__ci_class__key="application",
                opened_at__lt=self.now - timedelta(days=10),
                opened_at__gt=self.now - timedelta(days=DAYS - 10),
                priority__lte=3,
            )
            .select_related("ci")
            .order_by("opened_at")
        )
        chosen: list[Incident] = []
        used: set[int] = set()
        for incident in incidents:
            local = incident.opened_at.astimezone(self.zone)
            if incident.ci_id in used or local.weekday() >= 5 or not 9 <= local.hour <= 16:
                continue
            if (local + timedelta(days=3)).month != local.month:
                continue
            chosen.append(incident)
            used.add(incident.ci_id)
            if len(chosen) == CAUSED:
                break
        for n, incident in enumerate(chosen):
            start = incident.opened_at - timedelta(minutes=self.rng.randint(35, 110))
            change = self.run_change(
                title=f"Configuration change on {incident.ci.name}: new connection pool size",
                change_type=ChangeType.EMERGENCY if n == 0 else ChangeType.NORMAL,
                opened=start - timedelta(days=0 if n == 0 else 3, hours=4),
                start=start,
                hours=0.5,
                cis=[incident.ci],
                service=self.service_of(incident.ci),
                team=app_team,
                outcome=CloseCode.BACKED_OUT if n % 2 else CloseCode.FAILED,
            )
            links = induced.suggest_for_incident(incident)
            for link in links:
                if link.change_id == change.pk and link.state == InducedState.SUGGESTED:
                    with _clock(incident.opened_at + timedelta(hours=1)):
                        induced.confirm_induced(acting_user=self.agent, link=link)

    def deployments(self) -> None:
        """Pipeline deployments of the two digital-channel services over the last 60 days;
        the matching templates turn each into a standard change that closes itself."""
        org = self.org
        targets = [c for c in (_ci(org, "banking-api"), _ci(org, "portal-backend")) if c]
        for n in range(24):
            days_ago = 60 - n * 2.5
            ci = targets[n % len(targets)]
            start = self._work_day(int(days_ago), 11) + timedelta(minutes=self.rng.randint(0, 300))
            if start > self.now - timedelta(hours=2):
                break
            failed = n % 8 == 5
            finish = start + timedelta(minutes=self.rng.randint(6, 18))
            data = {
                "external_id": f"demo-{org.slug}-{n}",
                "ci": ci.pk,
                "environment": "production",
                "version": f"v2.{n // 4}.{n % 4}",
                "outcome": DeploymentOutcome.FAILURE if failed else DeploymentOutcome.SUCCESS,
                "started_at": start,
                "finished_at": finish,
                "repository": f"{org.slug}/{ci.name}",
                "commit_sha": f"{self.rng.getrandbits(160):040x}",
                "pipeline_url": f"https://github.com/{org.slug}/{ci.name}/actions/runs/"
                f"{9000000 + n}",
                "triggered_by": self.agent.full_name,
            }
            with _clock(finish):
                try:
                    record_deployment(integration=self.integration, data=data, payload={})
                except (Conflict, FieldError):
                    continue

    # --- the present ------------------------------------------------------------------------

    def present(self) -> None:
        """Changes in every state of the workflow, for the queues and the calendar."""
        org = self.org
        now = self.now
        platform = _team(org, "Platform")
        dba = _team(org, "Database")
        corebank = _ci(org, "corebank-db")
        core_banking = _ci(org, "core-banking")
        sap = _ci(org, "sap-s4")
        erp = _ci(org, "ERP")
        exchange = _ci(org, "exchange-hybrid")
        sunday = _next_weekday(now.astimezone(self.zone) + timedelta(days=1), 6).replace(
            hour=1, minute=30, second=0, microsecond=0
        )
        if corebank:
            # Awaiting approval (the manager's queue) on the core-banking database.
            self.run_change(
                title="Apply the Oracle quarterly patch to corebank-db",
                change_type=ChangeType.NORMAL,
                opened=now - timedelta(days=1, hours=3),
                start=sunday,
                hours=3,
                cis=[corebank],
                service=_ci(org, "Online banking"),
                team=dba,
                outcome=None,
                stop_at=ChangeState.AUTHORISE,
            )
        if core_banking:
            # Scheduled in the same window on an application that depends on that database:
            # the conflict detection names the dependency.
            self.run_change(
                title="Deploy core-banking release 24.3",
                change_type=ChangeType.NORMAL,
                opened=now - timedelta(days=4),
                start=sunday + timedelta(minutes=30),
                hours=2,
                cis=[core_banking],
                service=_ci(org, "Online banking"),
                team=_team(org, "Application Support"),
                outcome=None,
                stop_at=ChangeState.SCHEDULED,
            )
        if sap and erp:
            self.run_change(
                title="Upgrade SAP S/4HANA kernel",
                change_type=ChangeType.NORMAL,
                opened=now - timedelta(hours=5),
                start=sunday + timedelta(days=7),
                hours=4,
                cis=[sap],
                service=erp,
                team=_team(org, "Application Support"),
                outcome=None,
                stop_at=ChangeState.ASSESS,
            )
        if exchange:
            self.run_change(
                title="Install Exchange cumulative update",
                change_type=ChangeType.NORMAL,
                opened=now - timedelta(hours=2),
                start=sunday + timedelta(days=14),
                hours=3,
                cis=[exchange],
                service=_ci(org, "Email and collaboration"),
                team=platform,
                outcome=None,
                stop_at=ChangeState.NEW,
            )
        servers = list(
            ConfigurationItem.objects.filter(
                organization=org, ci_class__key="server", name__contains="-app-"
            ).order_by("name")[:3]
        )
        for n, server in enumerate(servers):
            start = (
                (now + timedelta(days=2 + n))
                .astimezone(self.zone)
                .replace(hour=21, minute=0, second=0, microsecond=0)
            )
            self.run_change(
                title=f"Monthly Linux patching: {server.name}",
                change_type=ChangeType.STANDARD,
                opened=now - timedelta(hours=6),
                start=start,
                hours=1.5,
                cis=[server],
                service=self.service_of(server),
                team=platform,
                outcome=None,
                stop_at=ChangeState.SCHEDULED,
                template=self.templates["Monthly Linux patching"],
            )
        # The next weekly CAB, with its agenda built from what awaits the board.
        tuesday = _next_weekday(now.astimezone(self.zone) + timedelta(days=1), 1).replace(
            hour=10, minute=0, second=0, microsecond=0
        )
        meeting = self._meeting(tuesday, CabKind.CAB)
        cab.build_agenda(acting_user=self.manager, meeting=meeting, include_authorise=True)


def seed_demo(organization: Organization, people: dict[str, User]) -> dict[str, int]:
    """Load the change demo into `organization` (skipped when it already has changes)."""
    if Change.objects.filter(organization=organization).exists():
        return {}
    seeder = Seeder(organization, people)
    seeder.configure()
    seeder.history()
    seeder.deployments()
    seeder.present()
    return {
        "changes": Change.objects.filter(organization=organization).count(),
        "approvals": Approval.objects.filter(
            organization=organization, state=ApprovalState.APPROVED
        ).count(),
        "induced": InducedLink.objects.filter(organization=organization).count(),
        "integrations": DeploymentIntegration.objects.filter(organization=organization).count(),
    }
