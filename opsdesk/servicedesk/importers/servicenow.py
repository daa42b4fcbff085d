"""Import a ServiceNow incident export: rebuild each incident with its whole history.

The export is an *event log* (``incident_event_log.csv``, a ``.csv`` or a ``.zip`` holding
one): one row per update of an incident, ``sys_mod_count`` ordering the updates of one
``number``; ``?`` means empty; dates are day-first (``29/2/2016 01:16``; ISO dates are
accepted too). An incident is rebuilt from its rows:

- its current fields come from its last row (highest ``sys_mod_count``);
- every change of ``incident_state`` becomes a ``state`` timeline entry at ``sys_updated_at``
  by ``sys_updated_by`` (the history service-level clocks replay), every change of
  ``assignment_group`` / ``assigned_to`` an ``assigned`` entry;
- callers become requesters, assignment groups teams, ``assigned_to`` agents who are members of
  the teams they worked for, ``cmdb_ci`` application CIs, categories and subcategories
  ``Category`` rows (see docs/architecture/servicedesk-import-and-demo.md for the mapping).

Idempotent: an incident is identified by (organisation, ``source="servicenow"``, ServiceNow
number as ``external_id``). A second run of the same file creates nothing; a changed row
updates the incident (audited) and appends the timeline entries it did not have yet.

Numbers: the ServiceNow number is kept as the incident's number when the organisation does not
use it yet, and the organisation's INC sequence is moved past the highest kept number, so
incidents raised in OpsDesk afterwards never collide with imported ones. A number already
taken gets a fresh one from the sequence (the ServiceNow number stays in ``external_id``).

Everything is built in memory and written with the bulk paths (`opsdesk.core.bulk`, one audit
record per created or changed row) in one transaction: a failure writes nothing.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import sys
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from operator import itemgetter
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db import transaction
from django.db.models.fields.json import KT
from django.utils.text import slugify

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.actions import require
from opsdesk.core.audit import audited_bulk_create, audited_bulk_update, audited_insert_rows
from opsdesk.core.bulk import insert_rows
from opsdesk.core.context import acting_as
from opsdesk.core.errors import FieldError
from opsdesk.core.models import NUMBER_DIGITS, NumberSequence, Organization
from opsdesk.core.permissions import Action, Role
from opsdesk.servicedesk.choices import (
    ActivityKind,
    Channel,
    HoldReason,
    IncidentState,
    SubjectType,
)
from opsdesk.servicedesk.models import Activity, Category, Incident, ServiceDeskSettings

SOURCE = "servicenow"
#: Look-ups go in chunks so SQLite's limit on bound parameters is never reached.
CHUNK = 900
#: Incidents written per batch (the progress bar moves once per batch).
BATCH = 2000
MAX_REPORT = 1000

S = IncidentState
#: ServiceNow incident_state -> (our state, hold reason).
STATES: dict[str, tuple[str, str]] = {
    "new": (S.NEW, ""),
    "active": (S.IN_PROGRESS, ""),
    "in progress": (S.IN_PROGRESS, ""),
    "awaiting user info": (S.ON_HOLD, HoldReason.AWAITING_REQUESTER),
    "awaiting caller": (S.ON_HOLD, HoldReason.AWAITING_REQUESTER),
    "awaiting evidence": (S.ON_HOLD, HoldReason.AWAITING_REQUESTER),
    "awaiting vendor": (S.ON_HOLD, HoldReason.AWAITING_VENDOR),
    "awaiting problem": (S.ON_HOLD, HoldReason.AWAITING_CHANGE),
    "awaiting change": (S.ON_HOLD, HoldReason.AWAITING_CHANGE),
    "on hold": (S.ON_HOLD, HoldReason.AWAITING_REQUESTER),
    "resolved": (S.RESOLVED, ""),
    "closed": (S.CLOSED, ""),
    "canceled": (S.CANCELLED, ""),
    "cancelled": (S.CANCELLED, ""),
}
#: ServiceNow contact_type -> channel.
CHANNELS: dict[str, str] = {
    "phone": Channel.PHONE,
    "ivr": Channel.PHONE,
    "email": Channel.EMAIL,
    "self-service": Channel.PORTAL,
    "self service": Channel.PORTAL,
    "portal": Channel.PORTAL,
    "web": Channel.PORTAL,
    "walk-in": Channel.WALK_IN,
    "walk in": Channel.WALK_IN,
    "chat": Channel.CHAT,
    "virtual agent": Channel.CHAT,
    "monitoring": Channel.EVENT,
    "event": Channel.EVENT,
    "alert": Channel.EVENT,
    "integration": Channel.API,
    "api": Channel.API,
}
LEVEL = re.compile(r"^\s*([1-5])\s*(?:-.*)?$")
DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})(?::(\d{2}))?$")

#: Columns read (others are ignored); only the first four are required.
REQUIRED = ("number", "incident_state", "sys_mod_count", "sys_updated_at")
COLUMNS = (
    *REQUIRED,
    "sys_updated_by",
    "opened_at",
    "opened_by",
    "sys_created_by",
    "caller_id",
    "contact_type",
    "location",
    "category",
    "subcategory",
    "u_symptom",
    "cmdb_ci",
    "impact",
    "urgency",
    "priority",
    "assignment_group",
    "assigned_to",
    "reassignment_count",
    "reopen_count",
    "made_sla",
    "knowledge",
    "problem_id",
    "rfc",
    "vendor",
    "caused_by",
    "closed_code",
    "resolved_by",
    "resolved_at",
    "closed_at",
    "short_description",
    "description",
)
(
    NUMBER,
    STATE,
    MOD,
    UPDATED_AT,
    UPDATED_BY,
    OPENED_AT,
    OPENED_BY,
    CREATED_BY,
    CALLER,
    CONTACT,
    LOCATION,
    CATEGORY,
    SUBCATEGORY,
    SYMPTOM,
    CI,
    IMPACT,
    URGENCY,
    PRIORITY,
    GROUP,
    ASSIGNEE,
    REASSIGNMENTS,
    REOPENS,
    MADE_SLA,
    KNOWLEDGE,
    PROBLEM,
    RFC,
    VENDOR,
    CAUSED_BY,
    CLOSED_CODE,
    RESOLVED_BY,
    RESOLVED_AT,
    CLOSED_AT,
    SHORT_DESCRIPTION,
    DESCRIPTION,
) = range(len(COLUMNS))
DATE_COLUMNS = (OPENED_AT, RESOLVED_AT, CLOSED_AT)
LEVEL_COLUMNS = (IMPACT, URGENCY)
#: Incident fields an import sets, compared on a second run.
FIELDS = (
    "title",
    "description",
    "requester_id",
    "channel",
    "ci_id",
    "category_id",
    "subcategory_id",
    "impact",
    "urgency",
    "priority",
    "state",
    "hold_reason",
    "resolution_code",
    "assignment_group_id",
    "assignee_id",
    "reassignment_count",
    "reopen_count",
    "opened_at",
    "first_assigned_at",
    "resolved_at",
    "closed_at",
    "location",
)


class ImportFileError(Exception):
    """The file cannot be imported at all (not a CSV, required columns missing)."""


Progress = Callable[[str, int, int], None]


#: One update of an incident: (sys_mod_count, line, sys_updated_at, incident_state,
#: sys_updated_by, assignment_group, assigned_to, made_sla).
Event = tuple[int, int, datetime, str, str, str, str, str]


@dataclass
class Plan:
    """One incident to create or update, with references still by name."""

    number: str
    line: int
    values: dict[str, Any]
    caller: str
    group: str
    assignee: str
    category: str
    subcategory: str
    ci: str
    activities: list[dict[str, Any]]
    teams_worked: set[tuple[str, str]]


@dataclass
class ImportResult:
    rows: int = 0
    incidents: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_rows: int = 0
    activities_created: int = 0
    requesters_created: int = 0
    agents_created: int = 0
    teams_created: int = 0
    categories_created: int = 0
    cis_created: int = 0
    clocks: int = 0
    report: list[dict[str, Any]] = field(default_factory=list)
    problems: int = 0

    def note(self, row: int, field_name: str, message: str) -> None:
        self.problems += 1
        if len(self.report) < MAX_REPORT:
            self.report.append({"row": row, "field": field_name, "message": message})


# --- reading -------------------------------------------------------------------------------


def open_export(path: str | Path) -> IO[str]:
    """The CSV text of `path`: a .csv file, or the first .csv inside a .zip."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
        if not names:
            raise ImportFileError(f"{path.name} holds no .csv file.")
        return io.TextIOWrapper(archive.open(names[0]), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


class _Dates:
    """Day-first (``29/2/2016 01:16``) or ISO dates, parsed once per distinct text."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.cache: dict[str, datetime | None] = {}

    def __call__(self, text: str) -> datetime | None:
        try:
            return self.cache[text]
        except KeyError:
            pass
        value: datetime | None = None
        match = DAY_FIRST.match(text)
        try:
            if match:
                day, month, year, hour, minute, second = match.groups()
                value = datetime(
                    int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                    tzinfo=self.zone,
                )  # fmt: skip
            elif text[:4].isdigit() and "-" in text:
                value = datetime.fromisoformat(text)
                if value.tzinfo is None:
                    value = value.replace(tzinfo=self.zone)
        except ValueError:
            value = None
        self.cache[text] = value
        return value


def _level(text: str, top: int) -> int | None:
    match = LEVEL.match(text)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value <= top else None


def read_events(
    lines: Iterable[str],
    result: ImportResult,
    dates: _Dates,
    *,
    limit: int | None = None,
    progress: Progress | None = None,
) -> tuple[dict[str, list[Event]], dict[str, tuple[int, int, tuple[str, ...]]]]:
    """Group the rows by incident number: per incident its events (what the history needs)
    and its last row (all columns). Rows that cannot be placed in a history (no number, no
    ``sys_mod_count``, no ``sys_updated_at``) are reported and skipped; other bad cells are
    reported and ignored."""
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The file is empty: a header row is required.") from None
    except csv.Error as exc:
        raise ImportFileError(f"Not a CSV file: {exc}.") from None
    positions = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        raise ImportFileError(
            "Not a ServiceNow incident export: the header has no "
            + ", ".join(repr(m) for m in missing)
            + " column."
        )
    width = len(header)
    # A column the file lacks reads the empty cell appended to every row.
    pick = itemgetter(*[positions.get(name, width) for name in COLUMNS])
    intern = sys.intern
    events: dict[str, list[Event]] = {}
    last: dict[str, tuple[int, int, tuple[str, ...]]] = {}
    checked: dict[tuple[int, str], bool] = {}
    checks = (
        *((col, "date") for col in DATE_COLUMNS),
        (IMPACT, "1 - High, 2 - Medium or 3 - Low"),
        (URGENCY, "1 - High, 2 - Medium or 3 - Low"),
        (PRIORITY, "1 - Critical to 5 - Planning"),
        (STATE, "state"),
    )
    seen = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            result.note(reader.line_num, "file", f"Unreadable CSV: {exc}; the rest is skipped.")
            break
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if limit is not None and seen >= limit:
            break
        seen += 1
        line = reader.line_num
        if progress is not None and seen % 5000 == 0:
            progress("read", seen, 0)
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        row.append("")
        cells = pick(row)
        number = _cell(cells[NUMBER])
        if not number:
            result.note(line, "number", "No incident number: the row is skipped.")
            result.skipped_rows += 1
            continue
        try:
            mod = int(cells[MOD])
        except ValueError:
            result.note(
                line, "sys_mod_count", f"{cells[MOD]!r} is not a number: the row is skipped."
            )
            result.skipped_rows += 1
            continue
        at = dates(cells[UPDATED_AT].strip())
        if at is None:
            result.note(
                line,
                "sys_updated_at",
                f"{cells[UPDATED_AT]!r} is not a date (D/M/YYYY HH:MM): the row is skipped.",
            )
            result.skipped_rows += 1
            continue
        for col, expected in checks:
            text = cells[col]
            ok = checked.get((col, text))
            if ok is None:
                ok = checked[(col, text)] = _valid(col, _cell(text), dates)
            if not ok:
                result.note(line, COLUMNS[col], _complaint(col, text.strip(), expected))
        events.setdefault(number, []).append(
            (
                mod,
                line,
                at,
                intern(_cell(cells[STATE])),
                intern(_cell(cells[UPDATED_BY])),
                intern(_cell(cells[GROUP])),
                intern(_cell(cells[ASSIGNEE])),
                _cell(cells[MADE_SLA]).lower(),
            )
        )
        previous = last.get(number)
        if previous is None or (mod, line) > previous[:2]:
            last[number] = (mod, line, cells)
    result.rows = seen
    if progress is not None:
        progress("read", seen, seen)
    return events, last


def _cell(text: str) -> str:
    text = text.strip()
    return "" if text == "?" else text


def _valid(col: int, text: str, dates: _Dates) -> bool:
    if not text:
        return True
    if col in DATE_COLUMNS:
        return dates(text) is not None
    if col == STATE:
        return text.lower() in STATES
    return _level(text, 5 if col == PRIORITY else 3) is not None


def _complaint(col: int, text: str, expected: str) -> str:
    if expected == "date":
        return f"{text!r} is not a date (D/M/YYYY HH:MM); ignored."
    if expected == "state":
        return f"Unknown state {text!r}: the incident's state is left as it was."
    fallback = "the priority follows impact and urgency" if col == PRIORITY else "3 - Low used"
    return f"Unknown {COLUMNS[col]} {text!r}; expected {expected} ({fallback})."


# --- building incidents -------------------------------------------------------------------


def _title(cells: tuple[str, ...], number: str) -> str:
    if cells[SHORT_DESCRIPTION]:
        return cells[SHORT_DESCRIPTION][:255]
    where = " / ".join(p for p in (cells[CATEGORY], cells[SUBCATEGORY]) if p)
    if cells[SYMPTOM] and where:
        return f"{cells[SYMPTOM]} — {where}"[:255]
    return (cells[SYMPTOM] or where or f"ServiceNow incident {number}")[:255]


def _transition(source: str, target: str) -> str:
    if target == S.IN_PROGRESS:
        return "reopen" if source in (S.RESOLVED, S.CLOSED) else "start"
    return {
        S.ON_HOLD: "hold",
        S.RESOLVED: "resolve",
        S.CLOSED: "close",
        S.CANCELLED: "cancel",
        S.NEW: "reset",
    }[target]


def _int(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 0 else None


def build_plan(
    number: str,
    events: list[Event],
    last_row: tuple[str, ...],
    dates: _Dates,
    matrix: Callable[[int, int], int],
) -> Plan:
    """The incident `events` describe: its current fields (from `last_row`) and its timeline."""
    events.sort()
    last = tuple(_cell(c) for c in last_row)
    activities: list[dict[str, Any]] = []
    sn_state, state, hold = "New", S.NEW, ""
    group = assignee = ""
    first_assigned: datetime | None = None
    last_change: dict[str, datetime] = {}
    made_sla_history: list[list[Any]] = []
    made_sla: bool | None = None
    teams_worked: set[tuple[str, str]] = set()
    closed_code = last[CLOSED_CODE]
    for mod, _line, at, raw, actor, new_group, new_assignee, sla in events:
        if raw and raw != sn_state:
            mapped = STATES.get(raw.lower())
            if mapped is not None:
                target, target_hold = mapped
                data: dict[str, Any] = {
                    "from": state,
                    "to": target,
                    "transition": _transition(state, target) if target != state else "hold",
                    "servicenow_from": sn_state,
                    "servicenow_to": raw,
                    "sn_mod": mod,
                    "source": SOURCE,
                }
                if target == S.ON_HOLD:
                    data["hold_reason"] = target_hold
                elif target == S.RESOLVED and closed_code:
                    data["resolution_code"] = closed_code
                if sla:
                    data["made_sla"] = sla == "true"
                activities.append(
                    {
                        "kind": ActivityKind.STATE,
                        "at": at,
                        "actor_name": actor[:200],
                        "public": True,
                        "data": data,
                    }
                )
                sn_state, state, hold = raw, target, target_hold
                last_change[target] = at
        if new_group != group or new_assignee != assignee:
            activities.append(
                {
                    "kind": ActivityKind.ASSIGNED,
                    "at": at,
                    "actor_name": actor[:200],
                    "public": False,
                    "data": {
                        "from_group": group or None,
                        "from_assignee": assignee or None,
                        "group": new_group or None,
                        "group_id": None,
                        "assignee": new_assignee or None,
                        "assignee_id": None,
                        "sn_mod": mod,
                        "source": SOURCE,
                    },
                }
            )
            group, assignee = new_group, new_assignee
            if assignee and first_assigned is None:
                first_assigned = at
            if assignee and group:
                teams_worked.add((group, assignee))
        if sla:
            value = sla == "true"
            if value != made_sla:
                made_sla_history.append([at.isoformat(), value])
                made_sla = value

    impact = _level(last[IMPACT], 3) or 3
    urgency = _level(last[URGENCY], 3) or 3
    priority = _level(last[PRIORITY], 5) or matrix(impact, urgency)
    opened_at = dates(last[OPENED_AT]) if last[OPENED_AT] else None
    if opened_at is None:
        opened_at = min(e[2] for e in events)
    resolved_at = closed_at = None
    if state in (S.RESOLVED, S.CLOSED):
        resolved_at = (dates(last[RESOLVED_AT]) if last[RESOLVED_AT] else None) or (
            last_change.get(S.RESOLVED) or last_change.get(state)
        )
    if state in (S.CLOSED, S.CANCELLED):
        closed_at = (dates(last[CLOSED_AT]) if last[CLOSED_AT] else None) or last_change.get(state)
    reassignments = _int(last[REASSIGNMENTS])
    if reassignments is None:
        reassignments = max(0, sum(a["kind"] == ActivityKind.ASSIGNED for a in activities) - 1)
    reopens = _int(last[REOPENS])
    if reopens is None:
        reopens = sum(a["data"].get("transition") == "reopen" for a in activities)
    contact = last[CONTACT]
    channel = CHANNELS.get(contact.lower(), Channel.PHONE) if contact else Channel.PHONE
    servicenow = {
        key: last[col]
        for key, col in (
            ("contact_type", CONTACT),
            ("symptom", SYMPTOM),
            ("opened_by", OPENED_BY),
            ("created_by", CREATED_BY),
            ("resolved_by", RESOLVED_BY),
            ("closed_code", CLOSED_CODE),
            ("problem_id", PROBLEM),
            ("rfc", RFC),
            ("vendor", VENDOR),
            ("caused_by", CAUSED_BY),
            ("knowledge", KNOWLEDGE),
            ("resolved_at", RESOLVED_AT),
            ("closed_at", CLOSED_AT),
        )
        if last[col]
    }
    activities.insert(
        0,
        {
            "kind": ActivityKind.CREATED,
            "at": opened_at,
            "actor_name": (last[OPENED_BY] or last[CREATED_BY])[:200],
            "public": True,
            "data": {
                "state": S.NEW,
                "priority": priority,
                "channel": channel,
                "assignment_group": None,
                "assignee": None,
                "source": SOURCE,
                "external_id": number,
                "made_sla": made_sla,
                "made_sla_history": made_sla_history,
                "events": len(events),
                "servicenow": servicenow,
            },
        },
    )
    lines = [f"Imported from ServiceNow incident {number}."]
    if last[DESCRIPTION]:
        lines = [last[DESCRIPTION], "", *lines]
    for label, col in (
        ("Symptom", SYMPTOM),
        ("Problem", PROBLEM),
        ("Change", RFC),
        ("Caused by change", CAUSED_BY),
        ("Vendor", VENDOR),
    ):
        if last[col]:
            lines.append(f"{label}: {last[col]}")
    values = {
        "title": _title(last, number),
        "description": "\n".join(lines),
        "channel": channel,
        "impact": impact,
        "urgency": urgency,
        "priority": priority,
        "state": state,
        "hold_reason": hold if state == S.ON_HOLD else "",
        "resolution_code": last[CLOSED_CODE][:60] if state in (S.RESOLVED, S.CLOSED) else "",
        "reassignment_count": reassignments,
        "reopen_count": reopens,
        "opened_at": opened_at,
        "first_assigned_at": first_assigned,
        "resolved_at": resolved_at,
        "closed_at": closed_at,
        "location": last[LOCATION][:200],
    }
    return Plan(
        number=number,
        line=events[0][1],
        values=values,
        caller=last[CALLER],
        group=group,
        assignee=assignee,
        category=last[CATEGORY][:100],
        subcategory=last[SUBCATEGORY][:100] if last[CATEGORY] else "",
        ci=last[CI][:200],
        activities=activities,
        teams_worked=teams_worked,
    )


# --- writing -------------------------------------------------------------------------------


def _chunks(values: list[Any], size: int = CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def person_email(name: str, organization: Organization) -> str:
    """``Caller 2403`` -> ``caller-2403@<org>.servicenow.invalid`` (``.invalid`` is never
    delivered: imported people get no mail until someone gives them a real address)."""
    local = slugify(name)[:60] or "person"
    domain = slugify(organization.slug).replace("_", "-") or "org"
    return f"{local}@{domain}.servicenow.invalid"


class _Writer:
    def __init__(self, organization: Organization, result: ImportResult) -> None:
        self.org = organization
        self.result = result
        self.users: dict[str, int] = {}  # name -> user id
        self.teams: dict[str, int] = {}  # name -> team id
        self.categories: dict[tuple[str, str], int] = {}  # (parent name, name) -> id
        self.cis: dict[str, int] = {}

    # people ------------------------------------------------------------------------------
    def people(self, names: dict[str, str]) -> None:
        """Users (and memberships with `role`) for {name: role}."""
        emails = {name: person_email(name, self.org) for name in names}
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(set(emails.values()))):
            found.update(User.objects.filter(email__in=chunk).values_list("email", "pk"))
        new_names = [name for name, email in emails.items() if email not in found]
        new = [
            User(
                email=emails[name],
                full_name=name[:200],
                password=UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(30),
            )
            for name in new_names
        ]
        audited_bulk_create(User, new)
        for name, user in zip(new_names, new, strict=True):
            found[user.email] = user.pk
            if names[name] == Role.AGENT:
                self.result.agents_created += 1
            else:
                self.result.requesters_created += 1
        self.users = {name: found[email] for name, email in emails.items()}
        ids = sorted(set(self.users.values()))
        members: set[int] = set()
        for chunk in _chunks(ids):
            members.update(
                Membership.objects.filter(organization=self.org, user_id__in=chunk).values_list(
                    "user_id", flat=True
                )
            )
        rows = [
            {"user_id": self.users[name], "organization_id": self.org.pk, "role": role}
            for name, role in names.items()
            if self.users[name] not in members
        ]
        audited_insert_rows(Membership, rows, lambda r: f"user {r['user_id']} — {r['role']}")

    # teams -------------------------------------------------------------------------------
    def teams_for(self, names: set[str], worked: set[tuple[str, str]]) -> None:
        existing = {
            name.lower(): (pk, slug)
            for pk, name, slug in Team.objects.filter(organization=self.org).values_list(
                "pk", "name", "slug"
            )
        }
        slugs = {slug for _, slug in existing.values()}
        new = []
        for name in sorted(names):
            if name.lower() in existing:
                continue
            slug = base = slugify(name)[:90] or "team"
            n = 2
            while slug in slugs:
                slug, n = f"{base}-{n}", n + 1
            slugs.add(slug)
            new.append(
                Team(
                    organization=self.org,
                    name=name[:100],
                    slug=slug,
                    description="Assignment group imported from ServiceNow.",
                )
            )
        audited_bulk_create(Team, new)
        self.result.teams_created += len(new)
        for team in new:
            existing[team.name.lower()] = (team.pk, team.slug)
        self.teams = {name: existing[name.lower()][0] for name in names}
        # Assignees become members of the teams they worked for (audited per team).
        wanted: dict[int, set[int]] = {}
        for group, person in worked:
            wanted.setdefault(self.teams[group], set()).add(self.users[person])
        through = Team.members.through
        have: set[tuple[int, int]] = set()
        for chunk in _chunks(sorted(wanted)):
            have.update(through.objects.filter(team_id__in=chunk).values_list("team_id", "user_id"))
        for team in Team.objects.filter(pk__in=[t for t in wanted]):
            missing = [u for u in wanted[team.pk] if (team.pk, u) not in have]
            if missing:
                team.members.add(*missing)

    # categories --------------------------------------------------------------------------
    def categories_for(self, pairs: set[tuple[str, str]]) -> None:
        rows = list(
            Category.objects.filter(organization=self.org).values_list("pk", "name", "parent_id")
        )
        names = {pk: name for pk, name, _ in rows}
        known: dict[tuple[str, str], int] = {}
        for pk, name, parent in rows:
            known[(names[parent] if parent else "", name)] = pk
        tops = sorted({top for top, _ in pairs if ("", top) not in known})
        new = [Category(organization=self.org, name=name) for name in tops]
        audited_bulk_create(Category, new)
        for cat in new:
            known[("", cat.name)] = cat.pk
        subs = sorted({(top, sub) for top, sub in pairs if sub and (top, sub) not in known})
        new_subs = [
            Category(organization=self.org, name=sub, parent_id=known[("", top)])
            for top, sub in subs
        ]
        audited_bulk_create(Category, new_subs)
        for (top, sub), cat in zip(subs, new_subs, strict=True):
            known[(top, sub)] = cat.pk
        self.result.categories_created += len(new) + len(new_subs)
        self.categories = known

    # configuration items -----------------------------------------------------------------
    def cis_for(self, names: dict[str, int], acting_user: Any) -> None:
        found: dict[str, int] = {}
        for chunk in _chunks(sorted(names)):
            for pk, name in ConfigurationItem.objects.filter(
                organization=self.org, name__in=chunk
            ).values_list("pk", "name"):
                found.setdefault(name, pk)
        missing = sorted(set(names) - set(found))
        if missing:
            from opsdesk.cmdb.reconcile import DiscoveredCI, reconcile

            outcome = reconcile(
                organization=self.org,
                source=SOURCE,
                items=[
                    DiscoveredCI(key=n, class_key="application", name=n, row=names[n])
                    for n in missing
                ],
                acting_user=acting_user,
                partial=True,
            )
            for row in outcome.report:
                self.result.note(row["row"], "cmdb_ci", row["message"])
            self.result.cis_created += outcome.created
            for chunk in _chunks(missing):
                found.update(
                    (name, pk)
                    for pk, name in ConfigurationItem.objects.filter(
                        organization=self.org, name__in=chunk
                    ).values_list("pk", "name")
                )
        self.cis = found


def _allocate_numbers(organization: Organization, plans: list[Plan]) -> list[str]:
    """Keep each ServiceNow number the organisation does not use yet; give the others fresh
    numbers; move the sequence past every number handed out or kept."""
    prefix = Incident.number_prefix
    sequence, _ = NumberSequence.objects.select_for_update().get_or_create(
        organization=organization, prefix=prefix
    )
    pattern = re.compile(rf"^{prefix}(\d+)$")
    candidates = [p.number for p in plans if pattern.match(p.number)]
    taken: set[str] = set()
    for chunk in _chunks(candidates):
        taken.update(
            Incident.objects.filter(organization=organization, number__in=chunk).values_list(
                "number", flat=True
            )
        )
    top = sequence.last_value
    numbers: list[str | None] = []
    for plan in plans:
        match = pattern.match(plan.number)
        if match and plan.number not in taken and len(plan.number) <= 32:
            taken.add(plan.number)
            numbers.append(plan.number)
            top = max(top, int(match.group(1)))
        else:
            numbers.append(None)
    out: list[str] = []
    for number in numbers:
        if number is None:
            top += 1
            number = f"{prefix}{top:0{NUMBER_DIGITS}d}"
        out.append(number)
    if top != sequence.last_value:
        sequence.last_value = top
        sequence.save(update_fields=["last_value"])
    return out


def _activity_key(activity: dict[str, Any]) -> tuple[str, str | None]:
    mod = activity["data"].get("sn_mod")
    return (str(activity["kind"]), None if mod is None else str(mod))


def import_incidents(
    *,
    acting_user: Any,
    organization: Organization,
    path: str | Path,
    limit: int | None = None,
    time_zone: str = "UTC",
    progress: Progress | None = None,
) -> ImportResult:
    """Import the ServiceNow export at `path` into `organization` (see the module docstring).

    Raises ImportFileError when the file cannot be read at all, PermissionDenied when
    `acting_user` may not add incidents there, FieldError for a bad argument.
    """
    require(acting_user, Incident, Action.ADD, organization.pk)
    # An import also creates people, memberships and teams: an organisation admin's job.
    require(acting_user, Membership, Action.ADD, organization.pk)
    require(acting_user, Team, Action.ADD, organization.pk)
    if limit is not None and limit < 0:
        raise FieldError({"limit": "Must not be negative."})
    try:
        zone = ZoneInfo(time_zone)
    except (ValueError, KeyError, OSError):  # zoneinfo raises several kinds
        raise FieldError({"time_zone": f"{time_zone!r} is not an IANA time zone."}) from None
    result = ImportResult()
    dates = _Dates(zone)
    try:
        with open_export(path) as handle:
            events, last = read_events(handle, result, dates, limit=limit, progress=progress)
    except (UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise ImportFileError(f"The file cannot be read: {exc}.") from None
    settings = ServiceDeskSettings.for_org(organization.pk)
    plans = [
        build_plan(number, evs, last[number][2], dates, settings.priority_for)
        for number, evs in events.items()
    ]
    result.incidents = len(plans)
    with transaction.atomic(), acting_as(acting_user):
        _write(organization, plans, result, acting_user, progress)
        _recompute_clocks(organization, plans, result, progress)
    return result


def _recompute_clocks(
    organization: Organization, plans: list[Plan], result: ImportResult, progress: Progress | None
) -> None:
    """Service-level clocks of the imported incidents, replayed from the history just written
    (silenced: no sweep warnings for the past), in batches. Nothing to do when nothing
    changed or the organisation has no active definition."""
    from opsdesk.sla.clocks import incidents_for_recompute, recompute_incidents
    from opsdesk.sla.models import Definition

    if (
        not (result.created or result.updated)
        or not Definition.objects.filter(organization=organization, is_active=True).exists()
    ):
        return
    numbers = [p.number for p in plans]
    for start in range(0, len(numbers), BATCH):
        batch: list[Incident] = []
        for chunk in _chunks(numbers[start : start + BATCH]):
            batch.extend(
                incidents_for_recompute(
                    Incident.objects.filter(
                        organization=organization, source=SOURCE, external_id__in=chunk
                    )
                )
            )
        result.clocks += recompute_incidents(batch, live=False).clocks
        if progress is not None:
            progress("clocks", min(start + BATCH, len(numbers)), len(numbers))


def _write(
    organization: Organization,
    plans: list[Plan],
    result: ImportResult,
    acting_user: Any,
    progress: Progress | None,
) -> None:
    writer = _Writer(organization, result)
    people: dict[str, str] = {}
    for plan in plans:
        if plan.caller:
            people.setdefault(plan.caller, Role.REQUESTER)
    for plan in plans:
        for activity in plan.activities:
            if activity["kind"] == ActivityKind.ASSIGNED and activity["data"]["assignee"]:
                people[activity["data"]["assignee"]] = Role.AGENT
    writer.people(people)
    groups = {
        a["data"]["group"]
        for plan in plans
        for a in plan.activities
        if a["kind"] == ActivityKind.ASSIGNED and a["data"]["group"]
    }
    writer.teams_for(groups, set().union(*(p.teams_worked for p in plans)) if plans else set())
    writer.categories_for({(p.category, p.subcategory) for p in plans if p.category})
    ci_rows: dict[str, int] = {}
    for plan in plans:
        if plan.ci:
            ci_rows.setdefault(plan.ci, plan.line)
    writer.cis_for(ci_rows, acting_user)

    rows: list[dict[str, Any]] = []
    for plan in plans:
        row = dict(plan.values)
        row["requester_id"] = writer.users.get(plan.caller) if plan.caller else None
        row["assignment_group_id"] = writer.teams.get(plan.group) if plan.group else None
        row["assignee_id"] = writer.users.get(plan.assignee) if plan.assignee else None
        row["category_id"] = writer.categories.get(("", plan.category)) if plan.category else None
        row["subcategory_id"] = (
            writer.categories.get((plan.category, plan.subcategory)) if plan.subcategory else None
        )
        row["ci_id"] = writer.cis.get(plan.ci) if plan.ci else None
        for activity in plan.activities:
            data = activity["data"]
            if activity["kind"] == ActivityKind.ASSIGNED:
                data["group_id"] = writer.teams.get(data["group"]) if data["group"] else None
                data["assignee_id"] = (
                    writer.users.get(data["assignee"]) if data["assignee"] else None
                )
        rows.append(row)

    existing: dict[str, dict[str, Any]] = {}
    numbers = [p.number for p in plans]
    for chunk in _chunks(numbers):
        for found in Incident.objects.filter(
            organization=organization, source=SOURCE, external_id__in=chunk
        ).values("pk", "external_id", *FIELDS):
            existing[found["external_id"]] = found
    to_create = [(p, r) for p, r in zip(plans, rows, strict=True) if p.number not in existing]
    to_check = [(p, r) for p, r in zip(plans, rows, strict=True) if p.number in existing]
    total = len(plans)
    done = 0

    # New incidents: numbers in bulk, rows and audit records in bulk, then their timelines.
    new_numbers = _allocate_numbers(organization, [p for p, _ in to_create])
    for start in range(0, len(to_create), BATCH):
        batch = to_create[start : start + BATCH]
        incident_rows = []
        for (plan, row), number in zip(batch, new_numbers[start : start + BATCH], strict=True):
            incident_rows.append(
                {
                    **row,
                    "organization_id": organization.pk,
                    "number": number,
                    "source": SOURCE,
                    "external_id": plan.number,
                }
            )
        keys = audited_insert_rows(Incident, incident_rows, lambda r: f"{r['number']} {r['title']}")
        activity_rows = [
            _activity_row(organization, key, activity)
            for (plan, _), key in zip(batch, keys, strict=True)
            for activity in plan.activities
        ]
        insert_rows(Activity, activity_rows)
        result.created += len(batch)
        result.activities_created += len(activity_rows)
        done += len(batch)
        if progress is not None:
            progress("write", done, total)

    # Incidents imported before: update what changed, append the history they lack.
    for start in range(0, len(to_check), BATCH):
        batch = to_check[start : start + BATCH]
        ids = [existing[p.number]["pk"] for p, _ in batch]
        have: set[tuple[int, str, str | None]] = set()
        for chunk in _chunks(ids):
            have.update(
                (sid, kind, None if mod is None else str(mod))
                for sid, kind, mod in Activity.objects.filter(
                    organization=organization,
                    subject_type=SubjectType.INCIDENT,
                    subject_id__in=chunk,
                )
                .annotate(mod=KT("data__sn_mod"))
                .values_list("subject_id", "kind", "mod")
            )
        changed: dict[int, dict[str, Any]] = {}
        activity_rows = []
        for plan, row in batch:
            stored = existing[plan.number]
            diff = {name: row[name] for name in FIELDS if stored[name] != row[name]}
            pk = stored["pk"]
            missing = [
                a
                for a in plan.activities
                if (pk, *_activity_key(a)) not in have
                and not (a["kind"] == ActivityKind.CREATED and (pk, "created", None) in have)
            ]
            activity_rows.extend(_activity_row(organization, pk, a) for a in missing)
            if diff:
                changed[pk] = diff
            if diff or missing:
                result.updated += 1
            else:
                result.unchanged += 1
        if changed:
            objs = []
            for chunk in _chunks(sorted(changed)):
                objs.extend(Incident.objects.filter(pk__in=chunk))
            names: set[str] = set()
            for obj in objs:
                for name, value in changed[obj.pk].items():
                    setattr(obj, name, value)
                    names.add(name)
            audited_bulk_update(objs, sorted(names))
        insert_rows(Activity, activity_rows)
        result.activities_created += len(activity_rows)
        done += len(batch)
        if progress is not None:
            progress("write", done, total)


def _activity_row(organization: Organization, subject_id: int, activity: dict[str, Any]) -> dict:
    return {
        "organization_id": organization.pk,
        "subject_type": SubjectType.INCIDENT,
        "subject_id": subject_id,
        "kind": activity["kind"],
        "at": activity["at"],
        "actor_id": None,
        "actor_name": activity["actor_name"],
        "public": activity["public"],
        "body": "",
        "data": activity["data"],
    }
