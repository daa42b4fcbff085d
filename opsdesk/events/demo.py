"""Demo data and the live stream for event management.

``seed_demo(organization, people)`` (called by the service-desk demo through ``SEEDERS``)
creates one integration per kind of monitoring tool, correlation settings, a silence and a
dry-run runbook, then plays a few weeks of monitoring history through the real pipeline
with the clock set to each moment: cascades that start on a database server or a Kubernetes
node and spread to what depends on them, a change implemented on the failing server shortly
before one of them, and background noise (disk warnings, a flapping check, duplicates).

``Stream`` generates the same kind of traffic live: ``opsdesk event_stream`` (started by
``opsdesk demo`` next to the worker) posts a new cascade every few minutes through the real
intake (adapter, inbox, worker), so the alert-group page is alive and a cascade with its root
cause can be watched as it happens.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from django.db import transaction
from django.utils import timezone

from opsdesk.cmdb.impact import UPSTREAM, walk
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.models import Organization
from opsdesk.events import inbox
from opsdesk.events.choices import EventStatus, Severity, Source
from opsdesk.events.integrations import create_integration
from opsdesk.events.models import (
    AlertGroup,
    CorrelationSettings,
    EventIntegration,
    InboxEntry,
)
from opsdesk.events.normal import NormalisedEvent
from opsdesk.events.tasks import resolve_quiet

SYSTEM = "OpsDesk demo"
#: Days of history played through the pipeline.
DAYS = 21
#: What an alerting CI of each class says, by role in the cascade (root, dependent).
SYMPTOMS: dict[str, tuple[str, str]] = {
    "server": ("Host {name} is not responding to ping", "High load on {name}"),
    "database": ("Database {name} is down", "Replication lag on {name} above 300 s"),
    "application": (
        "{name}: error rate above 5 %",
        "{name}: 5xx responses from upstream database",
    ),
    "k8s_node": ("Node {name} is NotReady", "Node {name} under memory pressure"),
    "k8s_pod": ("Pod {name} is CrashLoopBackOff", "Pod {name} restarted 7 times in 10 min"),
    "k8s_workload": (
        "Deployment {name} has 0 available replicas",
        "Deployment {name}: replicas unavailable",
    ),
    "k8s_service": ("Service {name} has no endpoints", "Service {name}: endpoints not ready"),
    "network_device": ("Interface down on {name}", "Packet loss 12 % on {name}"),
    "business_service": ("Synthetic check failing for {name}", "Synthetic check slow for {name}"),
    "service_offering": ("Synthetic check failing for {name}", "Synthetic check slow for {name}"),
}
NOISE = (
    ("Disk usage above 80 % on {name}", Severity.WARNING),
    ("NTP offset 412 ms on {name}", Severity.INFO),
    ("Certificate for {name} expires in 21 days", Severity.MINOR),
)


@contextlib.contextmanager
def clock(moment: datetime) -> Iterator[None]:
    """Run a block as if it were `moment` (the audit trail keeps its own, real time)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def resource_of(ci: ConfigurationItem) -> dict[str, str]:
    """The OpenTelemetry attributes a monitoring tool would send for this CI."""
    attrs = ci.attributes or {}
    resource: dict[str, str] = {}
    if attrs.get("k8s_uid"):
        key = {
            "k8s_pod": "k8s.pod.uid",
            "k8s_node": "k8s.node.uid",
            "k8s_workload": "k8s.deployment.uid",
            "k8s_namespace": "k8s.namespace.uid",
        }.get(ci.ci_class.key, "k8s.uid")
        resource[key] = attrs["k8s_uid"]
        resource["k8s.pod.name" if ci.ci_class.key == "k8s_pod" else "k8s.object.name"] = ci.name
    if attrs.get("resource_id"):
        resource["cloud.resource_id"] = attrs["resource_id"]
    if attrs.get("fqdn"):
        resource["host.name"] = attrs["fqdn"]
    if not resource:
        resource["service.name"] = ci.name
    return resource


@dataclass
class Planned:
    """One event of a scenario, ``offset`` seconds after the scenario starts."""

    offset: float
    event: NormalisedEvent


def cascade(
    root: ConfigurationItem,
    rng: random.Random,
    start: datetime,
    hops: int = 3,
    fanout: int = 10,
    resolve_after: float | None = 1800,
) -> list[Planned]:
    """A fault on `root` spreading to what depends on it, hop by hop, then recovering."""
    reached = walk(root, UPSTREAM, hops, node_budget=200).reached
    by_depth: dict[int, list[int]] = {}
    for pk, node in reached.items():
        by_depth.setdefault(node.depth, []).append(pk)
    chosen = [root.pk]
    for depth in sorted(d for d in by_depth if d > 0):
        ids = by_depth[depth]
        rng.shuffle(ids)
        chosen += ids[: max(1, fanout // depth)]
    cis = ConfigurationItem.objects.select_related("ci_class").in_bulk(chosen)
    plan: list[Planned] = []
    for pk in chosen:
        ci = cis[pk]
        depth = reached[pk].depth
        root_text, dependent_text = SYMPTOMS.get(ci.ci_class.key, SYMPTOMS["application"])
        text = root_text if pk == root.pk else dependent_text
        offset = 0.0 if pk == root.pk else depth * rng.uniform(20, 45) + rng.uniform(0, 15)
        severity = (
            Severity.CRITICAL
            if pk == root.pk
            else rng.choice([Severity.MAJOR, Severity.MAJOR, Severity.MINOR])
        )
        title = text.format(name=ci.name)
        labels = {"alertname": title.split(" ")[0], "env": ci.environment or "production"}
        fired = start + timedelta(seconds=offset)
        event = NormalisedEvent(
            source=Source.GENERIC,
            status=EventStatus.FIRING,
            severity=severity,
            title=title,
            description=f"Simulated by the demo: {ci.ci_class.label} {ci.name}.",
            resource=resource_of(ci),
            labels=labels,
            starts_at=fired,
        )
        plan.append(Planned(offset, event))
        # Monitoring tools repeat a firing alert until it clears: duplicates for dedup.
        for n in range(1, rng.randint(1, 4)):
            plan.append(Planned(offset + 60 * n, _copy(event, starts_at=fired)))
        if resolve_after is not None:
            end = offset + resolve_after + rng.uniform(0, 300)
            plan.append(
                Planned(
                    end,
                    _copy(
                        event,
                        status=EventStatus.RESOLVED,
                        starts_at=fired,
                        ends_at=start + timedelta(seconds=end),
                    ),
                )
            )
    return plan


def noise(
    cis: list[ConfigurationItem], rng: random.Random, start: datetime, count: int
) -> list[Planned]:
    """Unrelated warnings on random CIs, some of them flapping."""
    plan: list[Planned] = []
    for _ in range(count):
        ci = rng.choice(cis)
        text, severity = rng.choice(NOISE)
        offset = rng.uniform(0, 3600)
        event = NormalisedEvent(
            source=Source.GENERIC,
            status=EventStatus.FIRING,
            severity=severity,
            title=text.format(name=ci.name),
            resource=resource_of(ci),
            labels={"alertname": "Housekeeping"},
            starts_at=start + timedelta(seconds=offset),
        )
        plan.append(Planned(offset, event))
        flaps = 5 if rng.random() < 0.2 else 1
        for n in range(flaps):
            at = offset + 240 * (n + 1)
            status = EventStatus.RESOLVED if n % 2 == 0 else EventStatus.FIRING
            plan.append(
                Planned(
                    at,
                    _copy(
                        event,
                        status=status,
                        ends_at=start + timedelta(seconds=at)
                        if status == EventStatus.RESOLVED
                        else None,
                    ),
                )
            )
    return plan


def _copy(event: NormalisedEvent, **changes: Any) -> NormalisedEvent:
    data = event.to_json()
    data.update({k: v for k, v in changes.items()})
    for key in ("starts_at", "ends_at"):
        if isinstance(data.get(key), datetime):
            data[key] = data[key].isoformat()
    return NormalisedEvent.from_json(data)


def play(
    organization: Organization,
    integration: EventIntegration,
    plan: list[Planned],
    start: datetime,
    step: float = 60.0,
) -> int:
    """Store the plan's events in the inbox in `step`-second slices and process each slice
    with the clock at its time, as a worker running then would have."""
    plan = sorted(plan, key=lambda p: p.offset)
    processed = 0
    i = 0
    while i < len(plan):
        edge = (int(plan[i].offset // step) + 1) * step
        chunk = []
        while i < len(plan) and plan[i].offset < edge:
            chunk.append(plan[i].event)
            i += 1
        moment = start + timedelta(seconds=edge)
        with clock(moment):
            inbox.store(
                organization_id=organization.pk,
                source=integration.source,
                events=chunk,
                integration=integration,
                received_at=moment,
            )
            processed += inbox.drain(SYSTEM)
            resolve_quiet(now=moment)
    return processed


def change_on(organization: Organization, ci: ConfigurationItem, at: datetime) -> Any:
    """A standard change implemented on `ci` at `at` (the cause the root-cause ranking should
    name), through the change actions as a pipeline would; None when the calendar refuses
    it (a freeze)."""
    from opsdesk.changes import actions as change_actions
    from opsdesk.changes.models import ChangeTemplate

    template = ChangeTemplate.objects.filter(organization=organization, is_active=True).first()
    if template is None:
        return None
    try:
        with transaction.atomic(), clock(at):
            change = change_actions.create_change(
                acting_user=None,
                organization=organization,
                template=template,
                system=SYSTEM,
                at=at,
                title=f"Patch and reboot {ci.name}"[:255],
                cis=[ci],
                planned_start=at,
                planned_end=at + timedelta(minutes=30),
            )
            for name, extra in (("schedule", {}), ("implement", {"actual_start": at})):
                change_actions.transition_change(
                    acting_user=None, change=change, name=name, system=SYSTEM, at=at, **extra
                )
        # Done five minutes later and reported successful: the fault shows only afterwards.
        done = at + timedelta(minutes=5)
        with transaction.atomic(), clock(done):
            change_actions.transition_change(
                acting_user=None,
                change=change,
                name="complete",
                system=SYSTEM,
                at=done,
                close_code="successful",
                actual_end=done,
            )
            change_actions.transition_change(
                acting_user=None,
                change=change,
                name="close",
                system=SYSTEM,
                at=done,
                close_notes="Patched and rebooted; checks green.",
            )
    except (FieldError, Conflict):
        return None
    return change


def _find(org: Organization, suffix: str, cls: str) -> ConfigurationItem | None:
    return (
        ConfigurationItem.objects.filter(organization=org, ci_class__key=cls, name__endswith=suffix)
        .select_related("ci_class")
        .order_by("name")
        .first()
    )


def roots(org: Organization) -> list[ConfigurationItem]:
    """CIs whose failure makes a good story: the core banking database server first."""
    found = [
        _find(org, "dbs-07", "server"),
        ConfigurationItem.objects.filter(organization=org, ci_class__key="k8s_node")
        .select_related("ci_class")
        .order_by("name")
        .first(),
        _find(org, "fw-01", "network_device"),
        _find(org, "dbs-03", "server"),
    ]
    return [ci for ci in found if ci is not None]


def configure(organization: Organization) -> EventIntegration:
    for source, name in (
        (Source.GENERIC, "demo-simulator"),
        (Source.ALERTMANAGER, "prometheus-prod"),
        (Source.AZURE_MONITOR, "azure-monitor"),
        (Source.CLOUDWATCH, "aws-cloudwatch"),
        (Source.ZABBIX, "zabbix-datacentre"),
    ):
        if not EventIntegration.objects.filter(organization=organization, name=name).exists():
            create_integration(
                acting_user=None,
                organization=organization,
                name=name,
                source=source,
                system=SYSTEM,
            )
    if not CorrelationSettings.objects.filter(organization=organization).exists():
        # Warnings and info stay alert groups; minor and worse open incidents.
        settings = CorrelationSettings(
            organization=organization,
            group_by=["alertname", "env"],
            incident_min_severity=Severity.MINOR,
        )
        settings.save()
    return EventIntegration.objects.get(organization=organization, name="demo-simulator")


def seed_demo(organization: Organization, people: dict[str, Any]) -> dict[str, int]:
    """Load the event demo into `organization` (skipped when it already has alert groups)."""
    if AlertGroup.objects.filter(organization=organization).exists():
        return {}
    integration = configure(organization)
    candidates = roots(organization)
    if not candidates:
        return {}
    rng = random.Random(f"events-{organization.slug}")  # noqa: S311 - demo data
    everyone = list(
        ConfigurationItem.objects.filter(
            organization=organization, ci_class__key__in=("server", "database", "application")
        ).select_related("ci_class")
    )
    now = timezone.now().replace(microsecond=0)
    processed = 0
    for n, day in enumerate(range(DAYS, 0, -3)):
        start = now - timedelta(days=day, hours=rng.randint(0, 10))
        root = candidates[n % len(candidates)]
        if n % 2 == 0:
            # Half the cascades follow a change on the failing CI by a few minutes.
            change_on(organization, root, start - timedelta(minutes=rng.randint(8, 20)))
        plan = cascade(root, rng, start) + noise(everyone, rng, start, 4)
        processed += play(organization, integration, plan, start)
    # One cascade still going on, nine minutes after a change on its server: open groups
    # and incidents to look at.
    start = now - timedelta(minutes=12)
    change_on(organization, candidates[0], start - timedelta(minutes=9))
    plan = cascade(candidates[0], rng, start, resolve_after=None) + noise(everyone, rng, start, 3)
    processed += play(organization, integration, [p for p in plan if p.offset < 700], start)
    return {
        "events": processed,
        "alert_groups": AlertGroup.objects.filter(organization=organization).count(),
        "inbox": InboxEntry.objects.filter(organization=organization).count(),
    }


class Stream:
    """Live traffic for the demo: a new cascade every `every` seconds on a rotating root,
    posted through the real intake path (adapter, inbox, worker)."""

    def __init__(self, organization: Organization, seed: int = 7) -> None:
        self.organization = organization
        self.integration = configure(organization)
        self.rng = random.Random(seed)  # noqa: S311 - demo data
        self.roots = roots(organization)
        self.noise_cis = list(
            ConfigurationItem.objects.filter(
                organization=organization, ci_class__key__in=("server", "database")
            ).select_related("ci_class")[:200]
        )

    def scenario(self, n: int, start: datetime) -> list[Planned]:
        root = self.roots[n % len(self.roots)]
        return cascade(root, self.rng, start, resolve_after=240) + noise(
            self.noise_cis, self.rng, start, 2
        )

    def post(self, events: list[NormalisedEvent]) -> InboxEntry:
        """Through the intake's store-then-dispatch, as a monitoring tool's request would."""
        from opsdesk.events import transport

        with transaction.atomic():
            entry = inbox.store(
                organization_id=self.organization.pk,
                source=self.integration.source,
                events=events,
                integration=self.integration,
                transport=transport.name(),
            )
            transaction.on_commit(lambda: transport.dispatch(entry))
        return entry
