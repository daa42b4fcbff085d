"""Labelled correlation scenarios and their scoring: what `benchmarks/correlation.py` and the
quality test share.

**Topology** (`build_topology`): business services -> applications (on their own servers, or
Kubernetes workloads on shared nodes) -> databases on database servers; many applications
also depend on a shared authentication service; every server and node hangs off one of a
few access switches.

**Stream** (`generate`): faults injected on a root CI (a database, a database server, an
application server, a Kubernetes node, a switch, the authentication service) cascade to what
depends on it, hop by hop with delays; each affected CI alerts with some probability (the
root too, so some roots are silent), repeats (duplicates) and resolves when the fault ends.
Around them: unrelated single alerts on random CIs and on hosts the CMDB does not know,
flapping alerts, and changes: implemented on about half of the roots shortly before the
fault, and decoys on unrelated CIs. Events arrive in 30-second batches, a few of them late.

**Scores** (`score`): pairwise precision, recall and F1 of the grouping of alerts (a pair is
right when both alerts come from the same fault and share a group), compression (events and
alerts per group), root-cause top-1 / top-3 accuracy of each fault's group and how often the
change behind a fault is named, against baselines computed over the same alerts: a fixed
time window (Keep's correlation rule, Alerta has none across resources), one group per
resource in the window (Alerta's view), and "the first CI to alert is the cause".
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import comb
from typing import Any

from opsdesk.events.normal import NormalisedEvent

BATCH_SECONDS = 30

#: Alert texts per class of the CI that alerts: (title, severity).
SYMPTOMS: dict[str, list[tuple[str, str]]] = {
    "database": [
        ("PostgreSQL on {name} is not accepting connections", "critical"),
        ("Replication lag on {name} above 300 s", "major"),
    ],
    "server": [
        ("Host {name} is unreachable (ICMP)", "critical"),
        ("Load average on {name} above 40", "major"),
    ],
    "k8s_node": [("Kubernetes node {name} NotReady", "critical")],
    "network_device": [("Interface errors on {name} uplink", "critical")],
    "application": [
        ("HTTP 5xx rate on {name} above 5%", "major"),
        ("p99 latency of {name} above 2 s", "minor"),
    ],
    "k8s_workload": [("Pods of {name} in CrashLoopBackOff", "major")],
    "business_service": [("Synthetic check of {name} failing", "critical")],
}
NOISE = [
    ("Disk usage on {name} above 85%", "warning"),
    ("NTP offset on {name} above 500 ms", "minor"),
    ("TLS certificate on {name} expires in 12 days", "warning"),
    ("Backup job on {name} finished late", "minor"),
    ("Swap usage on {name} above 60%", "warning"),
]
UNBOUND_NOISE = [
    ("Synthetic probe eu-west-{n} timed out", "minor"),
    ("Mail queue on relay-{n} above 500 messages", "warning"),
    ("License server lic-{n} will expire soon", "info"),
]
FLAPPING = ("Link on {name} flapping", "warning")


@dataclass
class Topology:
    org_id: int
    ids: dict[str, int] = field(default_factory=dict)  # name -> CI id
    classes: dict[str, str] = field(default_factory=dict)  # name -> class key
    up: dict[str, list[str]] = field(default_factory=dict)  # name -> what depends on it
    roots: dict[str, list[str]] = field(default_factory=dict)  # kind -> candidate roots


def build_topology(org: Any, rng: random.Random, services: int = 8) -> Topology:
    """Create the CIs, fqdn identifiers and relationships (through the ORM, audited)."""
    from opsdesk.cmdb.models import CIIdentifier
    from opsdesk.cmdb.tests.factories import ci, relate

    topo = Topology(org.pk)
    objects: dict[str, Any] = {}

    def add(name: str, class_key: str, **fields: Any) -> str:
        objects[name] = ci(org, name, class_key, **fields)
        topo.ids[name] = objects[name].pk
        topo.classes[name] = class_key
        return name

    def rel(source: str, kind: str, target: str) -> None:
        relate(objects[source], kind, objects[target])
        topo.up.setdefault(target, []).append(source)

    switches = [add(f"sw-{i:02d}", "network_device") for i in range(1, max(4, services // 2) + 1)]
    nodes = [add(f"k8s-node-{i:02d}", "k8s_node") for i in range(1, max(6, services // 2) + 1)]
    for i, node in enumerate(nodes):
        rel(node, "depends_on", switches[i % len(switches)])
    auth_srv = add("auth-srv-01", "server")
    rel(auth_srv, "depends_on", switches[0])
    auth = add("auth-api", "application")
    rel(auth, "runs_on", auth_srv)
    topo.roots = {"database": [], "db_server": [], "app_server": [], "k8s_node": nodes,
                  "switch": switches, "auth": [auth]}  # fmt: skip
    for s in range(1, services + 1):
        svc = add(f"service-{s:02d}", "business_service", criticality=1 + s % 4)
        dbsrv = add(f"dbsrv-{s:02d}", "server")
        rel(dbsrv, "depends_on", switches[(s + 1) % len(switches)])
        db = add(f"db-{s:02d}", "database")
        rel(db, "runs_on", dbsrv)
        topo.roots["database"].append(db)
        topo.roots["db_server"].append(dbsrv)
        for j in range(1, 4):
            if j == 3:
                app = add(f"svc{s:02d}-api", "k8s_workload")
                for node in rng.sample(nodes, 2):
                    rel(app, "runs_on", node)
            else:
                app = add(f"svc{s:02d}-app{j}", "application")
                srv = add(f"app-srv-{s:02d}{j}", "server")
                rel(srv, "depends_on", switches[(s + j) % len(switches)])
                rel(app, "runs_on", srv)
                topo.roots["app_server"].append(srv)
            rel(svc, "depends_on", app)
            rel(app, "depends_on", db)
            if rng.random() < 0.25:
                rel(app, "depends_on", auth)
    CIIdentifier.objects.bulk_create(
        [
            CIIdentifier(organization_id=org.pk, ci_id=pk, kind="fqdn", value=name.lower())
            for name, pk in topo.ids.items()
        ]
    )
    return topo


@dataclass
class AlertSpec:
    key: str  # the fingerprint
    truth: str  # fault id or noise id
    ci: str | None
    title: str
    severity: str
    start: datetime
    end: datetime
    repeats: int = 1
    flaps: int = 0


@dataclass
class Fault:
    id: str
    root: str
    onset: datetime
    alerts: list[str] = field(default_factory=list)
    change: str | None = None  # the change's title (its number is known after creation)


@dataclass
class Scenario:
    alerts: dict[str, AlertSpec] = field(default_factory=dict)
    faults: dict[str, Fault] = field(default_factory=dict)
    #: (title, CI name, implemented at, fault id or None for a decoy)
    changes: list[tuple[str, str, datetime, str | None]] = field(default_factory=list)
    events: list[tuple[datetime, NormalisedEvent, str]] = field(default_factory=list)


def _cascade(topo: Topology, root: str, rng: random.Random, depth: int = 3) -> dict[str, int]:
    """What the fault reaches: CI name -> hops from the root."""
    reached = {root: 0}
    frontier = [root]
    for hop in range(1, depth + 1):
        following = []
        for name in frontier:
            for parent in topo.up.get(name, []):
                if parent not in reached:
                    reached[parent] = hop
                    following.append(parent)
        frontier = following
    return reached


def generate(
    topo: Topology,
    rng: random.Random,
    start: datetime,
    faults: int = 40,
    noise: int = 80,
    flapping: int = 6,
    hours: float = 4.0,
) -> Scenario:
    scenario = Scenario()
    span = hours * 3600
    names = [n for n, k in topo.classes.items() if k != "business_service"]
    kinds = list(topo.roots)
    for f in range(faults):
        kind = rng.choice(kinds)
        root = rng.choice(topo.roots[kind])
        onset = start + timedelta(seconds=rng.uniform(0, span))
        fault = Fault(f"fault-{f:03d}", root, onset)
        duration = timedelta(minutes=rng.uniform(6, 25))
        for name, hops in _cascade(topo, root, rng).items():
            cls = topo.classes[name]
            chance = 0.9 if hops == 0 else (0.35 if cls == "business_service" else 0.8)
            if rng.random() > chance:
                continue
            # Failure travels a hop in 5-30 s; monitoring notices after its own latency
            # (scrape interval, "for" clause): 0-90 s, so the root is not always first.
            delay = sum(rng.uniform(5, 30) for _ in range(hops)) + rng.uniform(0, 90)
            title, severity = rng.choice(SYMPTOMS[cls])
            spec = AlertSpec(
                key=f"{fault.id}-{name}",
                truth=fault.id,
                ci=name,
                title=title.format(name=name),
                severity=severity,
                start=onset + timedelta(seconds=delay),
                end=onset + duration + timedelta(seconds=rng.uniform(0, 60)),
                repeats=rng.randint(1, 6),
            )
            scenario.alerts[spec.key] = spec
            fault.alerts.append(spec.key)
        if not fault.alerts:
            continue
        if rng.random() < 0.5:
            fault.change = f"Maintenance on {root} ({fault.id})"
            at = onset - timedelta(minutes=rng.uniform(3, 90))
            scenario.changes.append((fault.change, root, at, fault.id))
        scenario.faults[fault.id] = fault
    for n in range(noise):
        when = start + timedelta(seconds=rng.uniform(0, span))
        if rng.random() < 0.2:
            title, severity = rng.choice(UNBOUND_NOISE)
            name, text = None, title.format(n=rng.randint(1, 99))
        else:
            title, severity = rng.choice(NOISE)
            name = rng.choice(names)
            text = title.format(name=name)
        spec = AlertSpec(
            key=f"noise-{n:03d}",
            truth=f"noise-{n:03d}",
            ci=name,
            title=text,
            severity=severity,
            start=when,
            end=when + timedelta(minutes=rng.uniform(2, 30)),
            repeats=rng.randint(1, 4),
        )
        scenario.alerts[spec.key] = spec
    for n in range(flapping):
        when = start + timedelta(seconds=rng.uniform(0, span))
        name = rng.choice(names)
        spec = AlertSpec(
            key=f"flap-{n:03d}",
            truth=f"flap-{n:03d}",
            ci=name,
            title=FLAPPING[0].format(name=name),
            severity=FLAPPING[1],
            start=when,
            end=when + timedelta(minutes=12),
            flaps=rng.randint(4, 7),
        )
        scenario.alerts[spec.key] = spec
    for d in range(max(1, faults // 2)):  # decoy changes on random CIs
        at = start + timedelta(seconds=rng.uniform(0, span))
        scenario.changes.append((f"Routine change {d}", rng.choice(names), at, None))
    scenario.events = _events(scenario, rng)
    return scenario


def _event(spec: AlertSpec, status: str, at: datetime) -> NormalisedEvent:
    resource = {"host.name": spec.ci} if spec.ci else {"host.name": spec.key + ".unknown"}
    return NormalisedEvent(
        source="generic",
        status=status,
        severity=spec.severity,
        title=spec.title,
        external_id=spec.key,
        fingerprint=f"bench-{spec.key}",
        resource=resource,
        labels={"alertname": spec.title.split(" ")[0]},
        starts_at=spec.start if status == "firing" else None,
        ends_at=at if status == "resolved" else None,
    )


def _events(scenario: Scenario, rng: random.Random) -> list[tuple[datetime, NormalisedEvent, str]]:
    """(arrival time, event, alert key), in arrival order; about 5 % arrive late."""
    out: list[tuple[datetime, NormalisedEvent, str]] = []

    def emit(at: datetime, spec: AlertSpec, status: str) -> None:
        arrival = at + timedelta(seconds=rng.uniform(0, 5))
        if rng.random() < 0.05:
            arrival += timedelta(seconds=rng.uniform(30, 120))
        event = _event(spec, status, at)
        event.received_at = arrival
        out.append((arrival, event, spec.key))

    for spec in scenario.alerts.values():
        if spec.flaps:
            at = spec.start
            for _ in range(spec.flaps):
                flap = spec
                emit(at, flap, "firing")
                at += timedelta(seconds=rng.uniform(30, 90))
                emit(at, flap, "resolved")
                at += timedelta(seconds=rng.uniform(30, 90))
                flap = AlertSpec(**{**spec.__dict__, "start": at})
                spec = flap
            continue
        emit(spec.start, spec, "firing")
        gap = (spec.end - spec.start) / (spec.repeats + 1)
        for r in range(1, spec.repeats):
            emit(spec.start + gap * r, spec, "firing")
        emit(spec.end, spec, "resolved")
    out.sort(key=lambda e: e[0])
    return out


def batches(scenario: Scenario) -> list[tuple[datetime, list[NormalisedEvent]]]:
    """The events grouped into BATCH_SECONDS arrival windows: (window end, events)."""
    if not scenario.events:
        return []
    first = scenario.events[0][0]
    grouped: dict[int, list[NormalisedEvent]] = defaultdict(list)
    for arrival, event, _ in scenario.events:
        grouped[int((arrival - first).total_seconds() // BATCH_SECONDS)].append(event)
    return [
        (first + timedelta(seconds=(i + 1) * BATCH_SECONDS), grouped[i]) for i in sorted(grouped)
    ]


# --- scoring ---------------------------------------------------------------------------------


def pairwise(truth: dict[str, str], predicted: dict[str, Any]) -> dict[str, float]:
    """Pairwise precision / recall / F1 of `predicted` clusters against `truth` ones."""
    keys = list(truth)
    pairs = Counter((truth[k], predicted[k]) for k in keys)
    tp = sum(comb(n, 2) for n in pairs.values())
    pred = sum(comb(n, 2) for n in Counter(predicted[k] for k in keys).values())
    true = sum(comb(n, 2) for n in Counter(truth[k] for k in keys).values())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def window_baseline(scenario: Scenario, window: int) -> dict[str, Any]:
    """Keep-style fixed window: the first alert opens a group that takes every alert starting
    within `window` seconds of it."""
    out: dict[str, Any] = {}
    group, opened = -1, None
    for spec in sorted(scenario.alerts.values(), key=lambda s: s.start):
        if opened is None or (spec.start - opened).total_seconds() > window:
            group, opened = group + 1, spec.start
        out[spec.key] = f"w{group}"
    return out


def resource_baseline(scenario: Scenario, window: int) -> dict[str, Any]:
    """Alerta's view: alerts correlate only on the same resource (in the window)."""
    out: dict[str, Any] = {}
    last: dict[str, tuple[str, datetime]] = {}
    for spec in sorted(scenario.alerts.values(), key=lambda s: s.start):
        resource = spec.ci or spec.key
        found = last.get(resource)
        if found and (spec.start - found[1]).total_seconds() <= window:
            out[spec.key] = found[0]
        else:
            out[spec.key] = f"r{spec.key}"
        last[resource] = (out[spec.key], spec.start)
    return out


def score(
    scenario: Scenario,
    topo: Topology,
    groups_of: dict[str, int | None],
    ranked: dict[int, list[dict[str, Any]]],
    cause_changes: dict[int, str | None],
    window: int,
) -> dict[str, Any]:
    """All the numbers. `groups_of`: alert key -> group id (None = no group);
    `ranked`: group id -> root causes; `cause_changes`: group id -> change title."""
    truth = {k: s.truth for k, s in scenario.alerts.items()}
    predicted = {k: (g if g is not None else f"alone-{k}") for k, g in groups_of.items()}
    events = len(scenario.events)
    ours = pairwise(truth, predicted)
    distinct = len({g for g in groups_of.values() if g is not None})
    top1 = top3 = first = 0
    with_change = change_named = 0
    for fault in scenario.faults.values():
        votes = Counter(groups_of[k] for k in fault.alerts if groups_of.get(k) is not None)
        root_id = topo.ids[fault.root]
        if votes:
            group = votes.most_common(1)[0][0]
            candidates = [c["ci_id"] for c in ranked.get(group, [])]
            top1 += bool(candidates[:1] == [root_id])
            top3 += root_id in candidates[:3]
            if fault.change:
                with_change += 1
                change_named += cause_changes.get(group) == fault.change
        earliest = min(fault.alerts, key=lambda k: scenario.alerts[k].start)
        first += scenario.alerts[earliest].ci == fault.root
    n = len(scenario.faults) or 1
    baselines = {}
    for name, grouping in (
        ("time_window", window_baseline(scenario, window)),
        ("per_resource", resource_baseline(scenario, window)),
    ):
        baselines[name] = {
            **pairwise(truth, grouping),
            "groups": len(set(grouping.values())),
            "events_per_group": round(events / max(1, len(set(grouping.values()))), 2),
        }
    return {
        "alerts": len(truth),
        "events": events,
        "faults": len(scenario.faults),
        "noise_alerts": sum(1 for k in truth if not k.startswith("fault")),
        "grouping": {
            **ours,
            "groups": distinct,
            "ungrouped_alerts": sum(1 for g in groups_of.values() if g is None),
            "events_per_group": round(events / max(1, distinct), 2),
            "alerts_per_group": round(len(truth) / max(1, distinct), 2),
        },
        "root_cause": {
            "top1": round(top1 / n, 4),
            "top3": round(top3 / n, 4),
            "faults_with_change": with_change,
            "change_named": round(change_named / with_change, 4) if with_change else None,
        },
        "baselines": {
            **baselines,
            "first_alert_root_cause_top1": round(first / n, 4),
        },
    }


# --- running a scenario through the real pipeline ------------------------------------------


def create_changes(org: Any, scenario: Scenario, topo: Topology) -> dict[str, int]:
    """The scenario's implemented changes (title -> id), each on its CI."""
    from opsdesk.changes.models import Change

    made: dict[str, int] = {}
    for title, name, at, _fault in scenario.changes:
        change = Change.objects.create(
            organization_id=org.pk,
            title=title,
            state="review",
            planned_start=at,
            planned_end=at + timedelta(hours=1),
            actual_start=at,
            actual_end=at + timedelta(minutes=20),
        )
        change.cis.add(topo.ids[name])
        made[title] = change.pk
    return made


def feed(org: Any, scenario: Scenario) -> dict[str, Any]:
    """Store each arrival window as one inbox entry and process it, as the intake and a
    worker would; returns counts (processed events, failed entries)."""
    from opsdesk.events import inbox
    from opsdesk.events.choices import InboxState
    from opsdesk.events.models import InboxEntry

    processed = 0
    for received, events in batches(scenario):
        entry = inbox.store(
            organization_id=org.pk, source="generic", events=events, received_at=received
        )
        processed += inbox.process_pending("bench", ids=[entry.pk])
    failed = list(
        InboxEntry.objects.filter(organization_id=org.pk)
        .exclude(state=InboxState.DONE)
        .values_list("error", flat=True)
    )
    return {"processed": processed, "not_done": len(failed), "errors": failed[:3]}


def outcome(org: Any, scenario: Scenario, changes: dict[str, int]) -> tuple[dict, dict, dict]:
    """(alert key -> group id, group id -> root causes, group id -> cause change title)."""
    from opsdesk.events.models import Alert, AlertGroup

    by_fp = dict(
        Alert.objects.filter(organization_id=org.pk).values_list("fingerprint", "group_id")
    )
    groups_of = {k: by_fp.get(f"bench-{k}") for k in scenario.alerts}
    title_of = {pk: title for title, pk in changes.items()}
    ranked: dict[int, list[dict[str, Any]]] = {}
    causes: dict[int, str | None] = {}
    for pk, root_causes, cause in AlertGroup.objects.filter(organization_id=org.pk).values_list(
        "pk", "root_causes", "cause_change_id"
    ):
        ranked[pk] = root_causes or []
        causes[pk] = title_of.get(cause) if cause else None
    return groups_of, ranked, causes
