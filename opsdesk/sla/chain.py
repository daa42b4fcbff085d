"""The SLA -> OLA -> UC chain: do the internal and supplier agreements underneath an SLA
fit inside it, and when a ticket breaches its SLA, whose segment consumed the time?

`check_chain` looks, per business service and priority covered by an active SLA, at the
OLAs of the teams involved (those with an OLA for the service, and those that actually
handled its incidents in the last 90 days) and the UCs of its suppliers. A chain fits when

(a) every single OLA and UC target is within the SLA's, and
(b) the typical path fits: the OLA targets of the teams on the most common handling path
    (from the tickets' history, e.g. Service Desk -> Network), one after the other, plus the
    longest UC where the service has a supplier, end before the SLA is due.

Targets are business time on each definition's own calendar, so a 24x7 UC and a
business-hours SLA cannot be compared as numbers. Each is turned into the wall-clock time it
takes from two reference starts in the SLA's zone: the next Monday 09:00 (a normal week) and
the Friday 16:00 after it (the worst case: a weekend in the middle). A chain fits only if it
fits from both.

`attribute` replays a ticket's SLA clocks (`opsdesk.sla.clocks.explain_incident`) and splits
the business time they counted by who held the ticket (assignment group) and, for time on
hold awaiting a supplier, by supplier; each share is matched to that team's OLA clock or that
supplier's UC clock on the same ticket.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import timezone

from opsdesk.core.calendars import Calendar, CalendarError
from opsdesk.sla.calendars import OrgCalendars
from opsdesk.sla.choices import Kind, Metric, TicketType
from opsdesk.sla.models import Definition

#: How far back the handling history of a service is read.
HISTORY_DAYS = 90
#: Tokens of the ticket's condition that mean "with the supplier" when no UC says otherwise.
SUPPLIER_TOKENS = frozenset({"on_hold:awaiting_vendor"})
#: Percent of an SLA clock from which the incident page shows where the time went.
PANEL_THRESHOLD = 75

FITS, DOES_NOT_FIT, GAP = "fits", "does_not_fit", "gap"
VERDICT_LABELS = {FITS: "Fits", DOES_NOT_FIT: "Does not fit", GAP: "Gap"}


def fmt_duration(seconds: float) -> str:
    """``22200`` -> ``"6 h 10 min"``; hours are never rolled into days (business time)."""
    minutes = round(abs(seconds) / 60)
    hours, minutes = divmod(minutes, 60)
    sign = "-" if seconds < 0 and (hours or minutes) else ""
    if hours and minutes:
        return f"{sign}{hours} h {minutes} min"
    if hours:
        return f"{sign}{hours} h"
    return f"{sign}{minutes} min"


def fmt_moment(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).strftime("%a %d %b %H:%M")


def target_seconds(definition: Definition, metric: str, priority: int) -> int | None:
    minutes = (
        definition.resolution_minutes
        if metric == Metric.RESOLUTION
        else definition.response_minutes
    ) or {}
    if not isinstance(minutes, dict):
        return None
    value = minutes.get(str(priority), minutes.get(priority))
    if value in (None, ""):
        return None
    try:
        return int(float(value) * 60)
    except (TypeError, ValueError):
        return None


def _ints(values: Any) -> set[int]:
    out = set()
    for value in values or []:
        try:
            out.add(int(value))
        except (TypeError, ValueError):
            continue
    return out


def _add(calendar: Calendar, start: datetime, seconds: float) -> datetime:
    """`Calendar.add`, with a calendar that has no working time never reaching the end."""
    try:
        return calendar.add(start, seconds)
    except CalendarError:
        return start + timedelta(days=3650)


def _priorities(definition: Definition) -> list[int]:
    if definition.priorities:
        return sorted(_ints(definition.priorities))
    keys = set(definition.resolution_minutes or {}) | set(definition.response_minutes or {})
    out = set()
    for key in keys:
        try:
            out.add(int(key))
        except (TypeError, ValueError):
            continue
    return sorted(out)


def _covers(definition: Definition, service_ids: frozenset[int], service_id: int | None) -> bool:
    if not service_ids:
        return True
    return service_id is not None and service_id in service_ids


def _covers_priority(definition: Definition, priority: int) -> bool:
    return not definition.priorities or priority in _ints(definition.priorities)


# --- the chain check ----------------------------------------------------------------------


@dataclass
class Link:
    """One OLA (a team) or UC (a supplier) in a chain, or a team without an OLA."""

    kind: str  # "team" | "supplier"
    key: Any  # team id (or name, for imported history) / vendor id
    name: str
    definition_id: int | None = None
    definition_name: str = ""
    target_seconds: int | None = None
    response_seconds: int | None = None
    calendar: str = "24x7"
    handled: int = 0  # incidents of the service it handled in the window
    on_path: bool = False
    gap: bool = False
    fits: bool = True
    #: Wall-clock seconds the target takes from each reference start, on its own calendar.
    wall: dict[str, float] = field(default_factory=dict)

    @property
    def kind_word(self) -> str:
        return "OLA" if self.kind == "team" else "UC"

    @property
    def label(self) -> str:
        if self.gap:
            return f"{self.name} (no OLA)"
        return f"{self.kind_word} {self.name}"

    @property
    def target_text(self) -> str:
        return fmt_duration(self.target_seconds) if self.target_seconds is not None else "—"

    @property
    def response_text(self) -> str:
        return fmt_duration(self.response_seconds) if self.response_seconds is not None else "—"

    @property
    def verdict(self) -> str:
        return GAP if self.gap else FITS if self.fits else DOES_NOT_FIT

    @property
    def verdict_label(self) -> str:
        return "No OLA" if self.gap else VERDICT_LABELS[self.verdict]


@dataclass
class Step:
    label: str
    kind: str  # "team" | "supplier" | "gap"
    start: datetime
    end: datetime


@dataclass
class Walk:
    """The typical path walked from one reference start, in wall-clock time."""

    reference: str  # "Monday 09:00"
    start: datetime
    sla_due: datetime
    end: datetime
    steps: list[Step] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        return self.end <= self.sla_due

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600

    @property
    def sla_hours(self) -> float:
        return (self.sla_due - self.start).total_seconds() / 3600


@dataclass
class ChainRow:
    service_id: int | None
    service_name: str
    priority: int
    sla_id: int
    sla_name: str
    sla_calendar: str
    resolution_seconds: int
    response_seconds: int | None
    time_zone: str
    teams: list[Link] = field(default_factory=list)
    suppliers: list[Link] = field(default_factory=list)
    path: list[str] = field(default_factory=list)
    path_incidents: int = 0
    incidents: int = 0
    walks: list[Walk] = field(default_factory=list)
    verdict: str = FITS
    reasons: list[str] = field(default_factory=list)
    other_slas: list[str] = field(default_factory=list)

    @property
    def verdict_label(self) -> str:
        return VERDICT_LABELS[self.verdict]

    @property
    def resolution_hours(self) -> str:
        return fmt_duration(self.resolution_seconds)

    @property
    def response_hours(self) -> str:
        return fmt_duration(self.response_seconds or 0)

    @property
    def service_key(self) -> str:
        return str(self.service_id) if self.service_id is not None else "all"

    @property
    def culprits(self) -> list[str]:
        return [link.name for link in (*self.teams, *self.suppliers) if not link.fits]

    @property
    def gaps(self) -> list[str]:
        return [link.name for link in self.teams if link.gap]

    @property
    def hint(self) -> str:
        """A few words for a matrix cell."""
        sla = f"{self.sla_name} {fmt_duration(self.resolution_seconds)}"
        if self.verdict == DOES_NOT_FIT:
            names = self.culprits or [
                max(
                    (x for x in (*self.teams, *self.suppliers) if x.on_path and not x.gap),
                    key=lambda x: x.target_seconds or 0,
                    default=None,
                )
            ]
            shown = [n if isinstance(n, str) else n.name for n in names if n is not None]
            return f"{sla} · " + (", ".join(shown) if shown else "typical path too long")
        if self.verdict == GAP:
            return f"{sla} · no OLA: " + ", ".join(self.gaps) if self.gaps else f"{sla} · no OLA"
        return sla


@dataclass
class _Loaded:
    definition: Definition
    service_ids: frozenset[int]

    @property
    def d(self) -> Definition:
        return self.definition


def reference_starts(tz: Any, now: datetime) -> list[tuple[str, datetime]]:
    """The next Monday 09:00 after `now` and the Friday 16:00 of that week, in `tz`."""
    local = now.astimezone(tz)
    ahead = (7 - local.weekday()) % 7 or 7
    monday = datetime.combine(local.date() + timedelta(days=ahead), time(9), tzinfo=tz)
    friday = datetime.combine(monday.date() + timedelta(days=4), time(16), tzinfo=tz)
    return [("Monday 09:00", monday), ("Friday 16:00", friday)]


@dataclass
class _History:
    """Who handled each service's incidents in the window, and in which order."""

    handled: dict[int | None, Counter] = field(default_factory=lambda: defaultdict(Counter))
    paths: dict[int | None, Counter] = field(default_factory=lambda: defaultdict(Counter))
    incidents: Counter = field(default_factory=Counter)


def _team_key(value: Any, by_name: dict[str, int]) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return by_name.get(str(value), str(value))


def load_history(
    organization_id: int,
    now: datetime,
    by_name: dict[str, int],
    service_id: int | None = None,
) -> _History:
    """Handling paths of the incidents opened in the last `HISTORY_DAYS` days, per service
    (key None: all services together, unless `service_id` narrows the read to one)."""
    from opsdesk.servicedesk.models import Activity, Incident

    since = now - timedelta(days=HISTORY_DAYS)
    opened = Incident.objects.filter(
        organization_id=organization_id, opened_at__gte=since, opened_at__lte=now
    )
    if service_id is not None:
        opened = opened.filter(service_id=service_id)
    incidents = {
        pk: (sid, group_id)
        for pk, sid, group_id in opened.values_list("pk", "service_id", "assignment_group_id")
    }
    sequences: dict[int, list[Any]] = defaultdict(list)
    rows = (
        Activity.objects.filter(
            organization_id=organization_id,
            subject_type="incident",
            kind="assigned",
            at__gte=since,
            at__lte=now,
        )
        .order_by("at", "id")
        .values_list("subject_id", "data")
    )
    if service_id is not None and len(incidents) <= 5000:
        rows = rows.filter(subject_id__in=list(incidents))
    for subject_id, data in rows.iterator(chunk_size=2000):
        if subject_id not in incidents:
            continue
        data = data or {}
        group = data.get("group_id")
        if group is None:
            group = data.get("group")
        key = _team_key(group, by_name)
        seq = sequences[subject_id]
        if key is not None and (not seq or seq[-1] != key):
            seq.append(key)
    history = _History()
    for pk, (service_id, group_id) in incidents.items():
        seq = sequences.get(pk) or ([group_id] if group_id is not None else [])
        for service in {service_id, None}:
            history.incidents[service] += 1
            for team in set(seq):
                history.handled[service][team] += 1
            if seq:
                history.paths[service][tuple(seq)] += 1
    return history


def _typical(paths: Counter) -> tuple[tuple[Any, ...], int]:
    if not paths:
        return (), 0
    best = max(paths.items(), key=lambda kv: (kv[1], len(kv[0]), str(kv[0])))
    return best


def check_chain(
    organization_id: int,
    service_id: int | None = None,
    priority: int | None = None,
    *,
    now: datetime | None = None,
) -> list[ChainRow]:
    """One row per (business service, priority) covered by an active SLA; see the module."""
    from opsdesk.accounts.models import Team
    from opsdesk.cmdb.models import ConfigurationItem
    from opsdesk.core.models import Organization

    now = now or timezone.now()
    definitions = [
        _Loaded(d, frozenset(s.pk for s in d.services.all()))
        for d in Definition.objects.filter(
            organization_id=organization_id, is_active=True, ticket_type=TicketType.INCIDENT
        )
        .select_related("team", "vendor")
        .prefetch_related("services")
        .order_by("kind", "name")
    ]
    slas = [x for x in definitions if x.d.kind == Kind.SLA]
    olas = [x for x in definitions if x.d.kind == Kind.OLA and x.d.team_id]
    ucs = [x for x in definitions if x.d.kind == Kind.UC]
    if not slas:
        return []
    calendars = OrgCalendars.load(organization_id)
    org_tz = (
        Organization.objects.filter(pk=organization_id).values_list("time_zone", flat=True).first()
        or "UTC"
    )
    teams = dict(Team.objects.filter(organization_id=organization_id).values_list("pk", "name"))
    by_name = {name: pk for pk, name in teams.items()}
    business_services = list(
        ConfigurationItem.objects.filter(
            organization_id=organization_id, ci_class__key="business_service"
        ).order_by("name")
    )
    named: dict[int, Any] = {ci.pk: ci for ci in business_services}
    wanted_ids = {i for x in slas for i in x.service_ids} - set(named)
    if wanted_ids:
        for ci in ConfigurationItem.objects.filter(pk__in=wanted_ids):
            named[ci.pk] = ci
    history = load_history(organization_id, now, by_name, service_id)

    # (service, priority) -> the SLAs covering it, strictest first.
    cells: dict[tuple[int | None, int], list[_Loaded]] = defaultdict(list)
    for sla in slas:
        if sla.service_ids:
            services: list[int | None] = sorted(sla.service_ids)
        else:
            services = [ci.pk for ci in business_services] or [None]
        for sid in services:
            if service_id is not None and sid != service_id:
                continue
            for prio in _priorities(sla.d):
                if priority is not None and prio != priority:
                    continue
                if target_seconds(sla.d, Metric.RESOLUTION, prio) is None:
                    continue
                cells[(sid, prio)].append(sla)

    rows: list[ChainRow] = []
    for (sid, prio), covering in cells.items():
        ci = named.get(sid) if sid is not None else None
        country = getattr(ci, "country", "") or ""

        def cal(definition: Definition, country: str = country) -> tuple[Calendar, str]:
            stored = calendars.choose(definition.calendar_id, country)
            return calendars.compiled(stored), (stored.name if stored else "24x7")

        covering.sort(key=lambda x: (target_seconds(x.d, Metric.RESOLUTION, prio) or 0, x.d.name))
        rows.append(
            _check_cell(
                sid,
                ci.name if ci is not None else "All services",
                prio,
                covering,
                [
                    o
                    for o in olas
                    if _covers(o.d, o.service_ids, sid) and _covers_priority(o.d, prio)
                ],
                [
                    u
                    for u in ucs
                    if _covers(u.d, u.service_ids, sid) and _covers_priority(u.d, prio)
                ],
                cal,
                history,
                teams,
                org_tz,
                now,
                {o.d.team_id for o in olas},
            )
        )
    rows.sort(key=lambda r: (r.service_id is None, r.service_name.lower(), r.priority))
    return rows


def _check_cell(
    sid: int | None,
    service_name: str,
    prio: int,
    covering: list[_Loaded],
    olas: list[_Loaded],
    ucs: list[_Loaded],
    cal: Any,
    history: _History,
    teams: dict[int, str],
    org_tz: str,
    now: datetime,
    teams_with_ola: set[int] | None = None,
) -> ChainRow:
    sla = covering[0].d
    sla_cal, sla_cal_name = cal(sla)
    tz = sla_cal.tz if not sla_cal.spec.always_open else ZoneInfo(org_tz)
    sla_res = target_seconds(sla, Metric.RESOLUTION, prio) or 0
    sla_resp = target_seconds(sla, Metric.RESPONSE, prio)
    row = ChainRow(
        service_id=sid,
        service_name=service_name,
        priority=prio,
        sla_id=sla.pk,
        sla_name=sla.name,
        sla_calendar=sla_cal_name,
        resolution_seconds=sla_res,
        response_seconds=sla_resp,
        time_zone=str(tz),
        other_slas=[x.d.name for x in covering[1:]],
        incidents=history.incidents.get(sid, 0),
    )
    refs = reference_starts(tz, now)
    sla_due = {name: _add(sla_cal, start, sla_res) for name, start in refs}
    calendars_used = {sla_cal_name}
    sla_label = f"SLA P{prio} {fmt_duration(sla_res)}"

    # The teams: one OLA each (the strictest, if several), plus those that handled tickets.
    by_team: dict[Any, Link] = {}
    for ola in olas:
        target = target_seconds(ola.d, Metric.RESOLUTION, prio)
        response = target_seconds(ola.d, Metric.RESPONSE, prio)
        if target is None and response is None:
            continue
        current = by_team.get(ola.d.team_id)
        if current is not None and (current.target_seconds or 0) <= (target or 0):
            continue
        ola_cal, ola_cal_name = cal(ola.d)
        by_team[ola.d.team_id] = Link(
            "team",
            ola.d.team_id,
            teams.get(ola.d.team_id, ola.d.team.name),
            ola.d.pk,
            ola.d.name,
            target,
            response,
            ola_cal_name,
            wall={
                name: (_add(ola_cal, start, target) - start).total_seconds()
                for name, start in refs
                if target is not None
            },
        )
    handled = history.handled.get(sid, Counter())
    for key, count in handled.items():
        link = by_team.get(key)
        if link is None:
            link = by_team[key] = Link(
                "team", key, teams.get(key, str(key)) if isinstance(key, int) else key, gap=True
            )
        link.handled = count
    path, path_count = _typical(history.paths.get(sid, Counter()))
    row.path = [by_team[k].name if k in by_team else str(k) for k in path]
    row.path_incidents = path_count
    for key in path:
        if key in by_team:
            by_team[key].on_path = True
    row.teams = sorted(by_team.values(), key=lambda t: (not t.on_path, t.gap, t.name.lower()))
    for uc in ucs:
        target = target_seconds(uc.d, Metric.RESOLUTION, prio)
        response = target_seconds(uc.d, Metric.RESPONSE, prio)
        if target is None and response is None:
            continue
        uc_cal, uc_cal_name = cal(uc.d)
        name = uc.d.vendor.name if uc.d.vendor_id else uc.d.name
        row.suppliers.append(
            Link(
                "supplier",
                uc.d.vendor_id,
                name,
                uc.d.pk,
                uc.d.name,
                target,
                response,
                uc_cal_name,
                wall={
                    n: (_add(uc_cal, start, target) - start).total_seconds()
                    for n, start in refs
                    if target is not None
                },
            )
        )

    violations: list[str] = []
    gaps: list[str] = []

    def late_from(link: Link) -> list[str]:
        """The references from which the link's target ends after the SLA is due."""
        out = []
        for name, start in refs:
            if link.wall.get(name) is None:
                continue
            if start + timedelta(seconds=link.wall[name]) > sla_due[name]:
                out.append(name)
        return out

    # (a) every single agreement within the SLA.
    for link in [t for t in row.teams if not t.gap] + row.suppliers:
        word = "OLA" if link.kind == "team" else "UC"
        calendars_used.add(link.calendar)
        if link.target_seconds is not None:
            late = late_from(link)
            if late:
                link.fits = False
                own = f"{word} {link.name} P{prio} {fmt_duration(link.target_seconds)}"
                if link.calendar == sla_cal_name:
                    violations.append(
                        f"{own} > {sla_label}: {link.name} alone may take longer than the "
                        "customer was promised."
                    )
                else:
                    start = dict(refs)[late[0]]
                    end = start + timedelta(seconds=link.wall[late[0]])
                    violations.append(
                        f"{own} ({link.calendar}) ends {fmt_moment(end, tz)} when started "
                        f"{fmt_moment(start, tz)}, after the {sla_label} ({sla_cal_name}) is "
                        f"due {fmt_moment(sla_due[late[0]], tz)}: {link.name} alone may take "
                        "longer than the customer was promised."
                    )
        if (
            link.response_seconds is not None
            and sla_resp is not None
            and link.response_seconds > sla_resp
            and link.calendar == sla_cal_name
        ):
            link.fits = False
            violations.append(
                f"{word} {link.name} P{prio} response {fmt_duration(link.response_seconds)}"
                f" > SLA P{prio} response {fmt_duration(sla_resp)}."
            )

    # Teams that handle the service without an OLA.
    for link in row.teams:
        if link.gap:
            gaps.append(
                f"Gap: {link.name} handled {link.handled} of {row.incidents} incident"
                f"{'s' if row.incidents != 1 else ''} of {service_name} in the last "
                f"{HISTORY_DAYS} days and has "
                + (
                    f"no OLA covering {service_name} P{prio}."
                    if link.key in (teams_with_ola or set())
                    else "no OLA at all."
                )
            )
    if not row.teams:
        gaps.append(f"Gap: no OLA underpins this SLA for {service_name} P{prio}.")

    # (b) the typical path, one team after the other, then the supplier.
    supplier = max(
        (s for s in row.suppliers if s.target_seconds is not None),
        key=lambda s: s.wall.get(refs[-1][0], 0),
        default=None,
    )
    on_path = [by_team[k] for k in path if k in by_team]
    chain_links = [t for t in on_path if not t.gap and t.target_seconds is not None]
    if supplier is not None:
        chain_links.append(supplier)
        supplier.on_path = True
    if path or supplier is not None:
        for name, start in refs:
            walk = Walk(name, start, sla_due[name], start)
            moment = start
            for link in chain_links:
                link_cal, _ = cal(_definition_of(link, olas, ucs))
                end = _add(link_cal, moment, link.target_seconds or 0)
                walk.steps.append(Step(link.label, link.kind, moment, end))
                moment = end
            walk.end = moment
            row.walks.append(walk)
        parts = " + ".join(
            f"{'OLA' if t.kind == 'team' else 'UC'} {t.name} P{prio} "
            f"{fmt_duration(t.target_seconds or 0)}"
            for t in chain_links
        )
        total = sum(t.target_seconds or 0 for t in chain_links)
        route = " → ".join(row.path) or "no team"
        same_calendar = calendars_used == {sla_cal_name}
        late_walks = [w for w in row.walks if not w.fits]
        if chain_links and late_walks:
            biggest = max(chain_links, key=lambda t: t.target_seconds or 0)
            if same_calendar:
                violations.append(
                    f"Typical path {route}: {parts} = {fmt_duration(total)} > {sla_label}; "
                    f"the largest part is {biggest.label} ({fmt_duration(biggest.target_seconds or 0)})."
                )
            else:
                w = late_walks[0]
                violations.append(
                    f"Typical path {route}: {parts}, started {w.reference} "
                    f"({fmt_moment(w.start, tz)}), ends {fmt_moment(w.end, tz)}, after the "
                    f"{sla_label} is due {fmt_moment(w.sla_due, tz)}; the largest part is "
                    f"{biggest.label} ({fmt_duration(biggest.target_seconds or 0)})."
                )
        elif chain_links:
            if same_calendar:
                row.reasons.append(
                    f"Typical path {route}: {parts} = {fmt_duration(total)} ≤ {sla_label}."
                )
            else:
                row.reasons.append(
                    f"Typical path {route}: {parts} ends before the {sla_label} is due from "
                    "both reference starts."
                )
        if path:
            row.reasons.append(
                f"The typical path is the most common one: {path_count} of {row.incidents} "
                f"incident{'s' if row.incidents != 1 else ''} in the last {HISTORY_DAYS} days."
            )
    if not path:
        row.reasons.append(
            f"No incidents of {service_name} in the last {HISTORY_DAYS} days: no handling "
            "path to check; each OLA and UC is checked on its own"
            + (", and the supplier's UC alone against the SLA." if supplier else ".")
        )
    if len(calendars_used) > 1:
        refs_text = " and ".join(f"{n} ({fmt_moment(s, tz)})" for n, s in refs)
        row.reasons.append(
            "Calendars differ (" + ", ".join(sorted(calendars_used)) + "): targets compared as "
            f"the wall-clock time each takes on its own calendar from {refs_text}, "
            f"{tz} time."
        )
    if row.other_slas:
        row.reasons.append("Also covered by the looser " + ", ".join(row.other_slas) + ".")
    if violations:
        row.verdict = DOES_NOT_FIT
    elif gaps:
        row.verdict = GAP
    row.reasons = violations + gaps + row.reasons
    return row


def _definition_of(link: Link, olas: list[_Loaded], ucs: list[_Loaded]) -> Definition:
    for item in (*olas, *ucs):
        if item.d.pk == link.definition_id:
            return item.d
    raise LookupError(link.definition_id)


# --- breach attribution -------------------------------------------------------------------


@dataclass
class Share:
    """The business time of an SLA clock consumed while one team or supplier had the ticket,
    and that party's own OLA/UC clock on the same ticket."""

    kind: str  # "team" | "supplier" | "unassigned"
    key: Any
    name: str
    seconds: float
    first_at: datetime
    definition_id: int | None = None
    definition_name: str = ""
    target_seconds: int | None = None
    own_elapsed_seconds: float | None = None
    breached: bool = False
    breached_at: datetime | None = None

    @property
    def over_seconds(self) -> float:
        if self.target_seconds is None or self.own_elapsed_seconds is None:
            return 0.0
        return max(0.0, self.own_elapsed_seconds - self.target_seconds)

    @property
    def agreement(self) -> str:
        return "OLA" if self.kind == "team" else "UC"


@dataclass
class ClockAttribution:
    definition_id: int
    definition_name: str
    metric: str
    status: str
    target_seconds: int
    elapsed_seconds: float
    breached: bool
    breached_at: datetime | None
    time_zone: str
    shares: list[Share] = field(default_factory=list)
    culprit: Share | None = None
    first_over: Share | None = None
    summary: str = ""
    reasons: list[str] = field(default_factory=list)

    @property
    def percent(self) -> float:
        return 100.0 * self.elapsed_seconds / self.target_seconds if self.target_seconds else 0.0

    @property
    def over(self) -> bool:
        return self.breached or self.elapsed_seconds >= self.target_seconds


@dataclass
class Attribution:
    incident_id: int
    number: str
    clocks: list[ClockAttribution] = field(default_factory=list)


def attribute(incident: Any, *, now: datetime | None = None, threshold: float = 100) -> Attribution:
    """Where the time of each SLA clock of `incident` went, for the clocks breached or at
    least `threshold` percent used (100: breached or running over target)."""
    from opsdesk.accounts.models import Team
    from opsdesk.sla.clocks import explain_incident, load_histories, rules_for
    from opsdesk.sla.engine import stretches

    now = now or timezone.now()
    explained = explain_incident(incident, now=now)
    out = Attribution(incident.pk, incident.number)
    slas = [
        e
        for e in explained
        if e["definition"].kind == Kind.SLA
        and (
            e["result"].breached
            or (
                e["result"].target_seconds
                and 100.0 * e["result"].elapsed_seconds / e["result"].target_seconds >= threshold
            )
        )
    ]
    if not slas:
        return out
    changes = load_histories([incident])[incident.pk]
    spans = stretches(incident.opened_at, changes, now)
    starts = [s.start for s in spans]
    team_names = dict(
        Team.objects.filter(organization_id=incident.organization_id).values_list("pk", "name")
    )
    ids_by_name = {name: pk for pk, name in team_names.items()}
    ucs = [e for e in explained if e["definition"].kind == Kind.UC]
    olas = [e for e in explained if e["definition"].kind == Kind.OLA]
    supplier_tokens: dict[Any, frozenset[str]] = {}
    for e in ucs:
        rules = rules_for(e["definition"], e["metric"])
        if rules is not None:
            supplier_tokens[e["definition"].vendor_id] = rules.run_when or SUPPLIER_TOKENS
    all_supplier = frozenset().union(*supplier_tokens.values()) | SUPPLIER_TOKENS
    from opsdesk.vendors.models import Vendor

    vendor_names = dict(
        Vendor.objects.filter(pk__in=[v for v in supplier_tokens if v]).values_list("pk", "name")
    )
    for e in slas:
        out.clocks.append(
            _attribute_clock(
                e,
                spans,
                starts,
                olas,
                ucs,
                supplier_tokens,
                all_supplier,
                team_names,
                ids_by_name,
                vendor_names,
            )
        )
    out.clocks.sort(key=lambda c: (not c.breached, c.metric != Metric.RESOLUTION))
    return out


def _attribute_clock(
    e: dict[str, Any],
    spans: list[Any],
    starts: list[datetime],
    olas: list[dict[str, Any]],
    ucs: list[dict[str, Any]],
    supplier_tokens: dict[Any, frozenset[str]],
    all_supplier: frozenset[str],
    team_names: dict[int, str],
    ids_by_name: dict[str, int],
    vendor_names: dict[int, str],
) -> ClockAttribution:
    definition, metric, result = e["definition"], e["metric"], e["result"]
    stored = e.get("calendar")
    tz = ZoneInfo(stored.time_zone) if stored is not None else timezone.get_current_timezone()
    clock = ClockAttribution(
        definition.pk,
        definition.name,
        metric,
        result.status,
        int(result.target_seconds),
        result.elapsed_seconds,
        result.breached,
        result.breached_at,
        str(tz),
    )
    shares: dict[tuple[str, Any], Share] = {}
    for seg in result.segments:
        if seg.counted <= 0:
            continue
        span = spans[max(0, bisect.bisect_right(starts, seg.start) - 1)]
        tokens = span.condition.tokens()
        if tokens & all_supplier:
            vendor = next((v for v, t in supplier_tokens.items() if tokens & t), None)
            key: tuple[str, Any] = ("supplier", vendor)
            name = vendor_names.get(vendor, "Supplier") if vendor else "Supplier (no UC)"
        elif seg.holder is None:
            key, name = ("unassigned", None), "Unassigned"
        else:
            team = _team_key(seg.holder, ids_by_name)
            key = ("team", team)
            name = team_names.get(team, str(team)) if isinstance(team, int) else str(team)
        share = shares.get(key)
        if share is None:
            share = shares[key] = Share(key[0], key[1], name, 0.0, seg.start)
        share.seconds += seg.counted
    for share in shares.values():
        match = _own_clock(share, metric, olas, ucs, ids_by_name)
        if match is not None:
            own = match["result"]
            share.definition_id = match["definition"].pk
            share.definition_name = match["definition"].name
            share.target_seconds = int(own.target_seconds)
            share.own_elapsed_seconds = own.elapsed_seconds
            share.breached = own.breached
            share.breached_at = own.breached_at
    clock.shares = sorted(shares.values(), key=lambda s: s.first_at)
    _judge(clock)
    return clock


def _own_clock(
    share: Share,
    metric: str,
    olas: list[dict[str, Any]],
    ucs: list[dict[str, Any]],
    ids_by_name: dict[str, int],
) -> dict[str, Any] | None:
    if share.kind == "team":
        found = [
            e
            for e in olas
            if e["definition"].team_id == share.key
            or _team_key(e["definition"].team_id, ids_by_name) == share.key
        ]
    elif share.kind == "supplier" and share.key is not None:
        found = [e for e in ucs if e["definition"].vendor_id == share.key]
    else:
        return None
    same = [e for e in found if e["metric"] == metric] or [
        e for e in found if e["metric"] == Metric.RESOLUTION
    ]
    if not same:
        return None
    # The agreement the party broke first, else the one closest to its target.
    return min(
        same,
        key=lambda e: (
            e["result"].breached_at is None,
            e["result"].breached_at or e["result"].stopped_at,
            -(e["result"].elapsed_seconds / max(e["result"].target_seconds, 1)),
        ),
    )


def _judge(clock: ClockAttribution) -> None:
    """Name the segment that consumed the most time beyond its own target, and the first
    one to exceed its own target."""
    target = fmt_duration(clock.target_seconds)
    for s in clock.shares:
        line = f"{s.name} held it {fmt_duration(s.seconds)} of the {target}"
        if s.kind == "supplier" and s.target_seconds is None:
            line += " (on hold awaiting the supplier) and no UC covers it"
        elif s.kind == "supplier":
            line += " (on hold awaiting the supplier)"
        if s.target_seconds is None and s.kind == "team":
            line += "; it has no OLA for this ticket"
        elif s.target_seconds is None and s.kind == "unassigned":
            line += " with no team"
        elif s.target_seconds is not None and s.breached:
            line += (
                f"; its {s.agreement} of {fmt_duration(s.target_seconds)} was breached by "
                f"{fmt_duration(s.over_seconds)}"
            )
        elif s.target_seconds is not None:
            line += f"; within its {s.agreement} of {fmt_duration(s.target_seconds)}"
        clock.reasons.append(line + ".")
    over = [s for s in clock.shares if s.over_seconds > 0]
    if over:
        clock.culprit = max(over, key=lambda s: s.over_seconds)
        c = clock.culprit
        clock.summary = (
            f"{c.name} held it {fmt_duration(c.seconds)} of the {target}; its "
            f"{c.agreement} of {fmt_duration(c.target_seconds or 0)} was breached by "
            f"{fmt_duration(c.over_seconds)}."
        )
    elif clock.shares:
        unbound = [s for s in clock.shares if s.target_seconds is None]
        c = clock.culprit = max(unbound or clock.shares, key=lambda s: s.seconds)
        if c.target_seconds is None:
            what = "has no OLA" if c.kind == "team" else "is covered by no agreement"
            if c.kind == "supplier":
                what = "is covered by no UC"
            clock.summary = (
                f"{c.name} held it {fmt_duration(c.seconds)} of the {target} and {what}."
            )
        else:
            clock.summary = (
                f"Every team and supplier stayed within its own target; the longest share "
                f"was {c.name}'s, {fmt_duration(c.seconds)} of the {target}: the agreements "
                "underneath do not add up to the SLA."
            )
    breached = [s for s in clock.shares if s.breached_at is not None]
    if breached:
        clock.first_over = min(breached, key=lambda s: s.breached_at)  # type: ignore[arg-type,return-value]
        f = clock.first_over
        tz = ZoneInfo(clock.time_zone)
        clock.reasons.insert(
            0,
            f"First to exceed its own target: {f.name} ({f.agreement} "
            f"{fmt_duration(f.target_seconds or 0)}, breached "
            f"{fmt_moment(f.breached_at, tz)}).",  # type: ignore[arg-type]
        )
