"""The definition editor's form: targets as a per-priority grid of hours and minutes, state
tokens as checkboxes, conditions and escalations as rows. `DefinitionForm.action_fields`
turns it into the keywords of `opsdesk.sla.definition_actions`."""

from __future__ import annotations

from typing import Any

from django import forms

from opsdesk.servicedesk.choices import HoldReason, IncidentState
from opsdesk.sla.choices import NOTIFY_TARGETS, EscalationAction, Kind
from opsdesk.sla.clocks import CONDITION_FIELDS, CONDITION_OPS

PRIORITIES = (1, 2, 3, 4, 5)
METRICS = (("response", "First response"), ("resolution", "Resolution"))
TOKEN_FIELDS = (
    ("start_when", "Starts when", "Empty: when the ticket is created."),
    ("pause_when", "Pauses while", ""),
    ("stop_when", "Stops when", ""),
    (
        "run_when",
        "Counts only while",
        "Empty: every state that is not paused (a UC: with the vendor).",
    ),
)
EXTRA_ROWS = 2


def token_choices() -> list[tuple[str, str]]:
    choices = [(s.value, s.label) for s in IncidentState]
    choices += [
        (f"{IncidentState.ON_HOLD}:{r.value}", f"On hold: {r.label.lower()}") for r in HoldReason
    ]
    choices.append(("responded", "Responded (first reply or assignment to a person)"))
    return choices


def minutes_split(minutes: Any) -> tuple[int | None, int | None]:
    if minutes in (None, ""):
        return None, None
    total = round(float(minutes))
    return total // 60, total % 60


def _rows(data: Any, prefix: str, initial: int) -> int:
    """How many rows a row group shows: the posted rows, or the stored ones, plus spares."""
    if data is not None:
        posted = {
            key.split("-")[1]
            for key in data
            if key.startswith(f"{prefix}-") and key.count("-") >= 2 and key.split("-")[1].isdigit()
        }
        return max(len(posted), 1)
    return initial + EXTRA_ROWS


class DefinitionForm(forms.Form):
    name = forms.CharField(max_length=150)
    kind = forms.ChoiceField(choices=Kind.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    customer = forms.CharField(max_length=200, required=False, help_text="SLA: the customer.")
    team = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, help_text="OLA: the team it binds."
    )
    vendor = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, help_text="UC: the supplier it binds."
    )
    calendar = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        help_text="Empty: the ticket's country calendar, else the organisation's default.",
    )
    services = forms.TypedMultipleChoiceField(
        required=False,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every service.",
    )
    priorities = forms.TypedMultipleChoiceField(
        required=False,
        coerce=int,
        choices=[(p, f"P{p}") for p in PRIORITIES],
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every priority.",
    )
    reset_when = forms.MultipleChoiceField(
        required=False,
        choices=[("reopen", "On reopen"), ("priority_change", "On a priority change")],
        widget=forms.CheckboxSelectMultiple,
        label="Starts again from zero",
    )
    warning_thresholds = forms.CharField(
        required=False,
        max_length=100,
        initial="50, 75, 90",
        label="Warn at (% of the target)",
        help_text="Comma-separated percentages, e.g. 50, 75, 90.",
    )

    def __init__(
        self,
        data: Any = None,
        *,
        initial: dict[str, Any] | None = None,
        teams: list[tuple[int, str]] = (),
        vendors: list[tuple[int, str]] = (),
        calendars: list[tuple[int, str]] = (),
        services: list[tuple[int, str]] = (),
        conditions: int = 0,
        escalations: int = 0,
    ) -> None:
        super().__init__(data, initial=initial)
        #: Errors of the actions about the grids and rows (not single form fields).
        self.extra_errors: dict[str, str] = dict.fromkeys(
            ("response_minutes", "resolution_minutes", "conditions", "escalations"), ""
        )
        self.fields["team"].choices = [("", "—"), *teams]
        self.fields["vendor"].choices = [("", "—"), *vendors]
        self.fields["calendar"].choices = [
            ("", "The ticket's country calendar / default"),
            *calendars,
        ]
        self.fields["services"].choices = list(services)
        tokens = token_choices()
        for name, label, help_text in TOKEN_FIELDS:
            self.fields[name] = forms.MultipleChoiceField(
                required=False,
                choices=tokens,
                widget=forms.CheckboxSelectMultiple,
                label=label,
                help_text=help_text,
            )
        for p in PRIORITIES:
            for metric, _ in METRICS:
                for unit, top in (("h", 100_000), ("m", 59)):
                    self.fields[f"{metric}_{p}_{unit}"] = forms.IntegerField(
                        required=False, min_value=0, max_value=top, label=f"P{p} {metric} {unit}"
                    )
        self.condition_count = _rows(data, "cond", conditions)
        for i in range(self.condition_count):
            self.fields[f"cond-{i}-field"] = forms.ChoiceField(
                required=False,
                widget=forms.Select(attrs={"aria-label": f"Condition {i + 1} field"}),
                choices=[("", "—"), *((f, f.replace("_", " ")) for f in CONDITION_FIELDS)],
                label="Field",
            )
            self.fields[f"cond-{i}-op"] = forms.ChoiceField(
                required=False,
                widget=forms.Select(attrs={"aria-label": f"Condition {i + 1} is"}),
                choices=[(o, o.replace("_", " ")) for o in CONDITION_OPS],
                label="Is",
            )
            self.fields[f"cond-{i}-value"] = forms.CharField(
                required=False,
                max_length=200,
                label="Value",
                widget=forms.TextInput(attrs={"aria-label": f"Condition {i + 1} value"}),
            )
        self.escalation_count = _rows(data, "esc", escalations)
        for i in range(self.escalation_count):
            self.fields[f"esc-{i}-at"] = forms.IntegerField(
                required=False,
                min_value=1,
                max_value=100,
                label="At %",
                widget=forms.NumberInput(attrs={"aria-label": f"Escalation {i + 1} at %"}),
            )
            self.fields[f"esc-{i}-action"] = forms.ChoiceField(
                required=False,
                widget=forms.Select(attrs={"aria-label": f"Escalation {i + 1} action"}),
                choices=[("", "—"), *EscalationAction.choices],
                label="Action",
            )
            self.fields[f"esc-{i}-to"] = forms.ChoiceField(
                required=False,
                widget=forms.Select(attrs={"aria-label": f"Escalation {i + 1} notifies"}),
                choices=[("", "—"), *((t, t.replace("_", " ")) for t in NOTIFY_TARGETS)],
                label="Notify",
            )
            self.fields[f"esc-{i}-team"] = forms.TypedChoiceField(
                required=False,
                widget=forms.Select(attrs={"aria-label": f"Escalation {i + 1} reassigns to"}),
                coerce=int,
                empty_value=None,
                choices=[("", "—"), *teams],
                label="Reassign to",
            )

    # --- what the template walks ---------------------------------------------------------

    def target_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "priority": p,
                "cells": [
                    (self[f"{metric}_{p}_h"], self[f"{metric}_{p}_m"]) for metric, _ in METRICS
                ],
            }
            for p in PRIORITIES
        ]

    def token_fields(self) -> list[Any]:
        return [self[name] for name, _, _ in TOKEN_FIELDS]

    def condition_rows(self) -> list[tuple[Any, Any, Any]]:
        return [
            (self[f"cond-{i}-field"], self[f"cond-{i}-op"], self[f"cond-{i}-value"])
            for i in range(self.condition_count)
        ]

    def escalation_rows(self) -> list[tuple[Any, Any, Any, Any]]:
        return [
            (
                self[f"esc-{i}-at"],
                self[f"esc-{i}-action"],
                self[f"esc-{i}-to"],
                self[f"esc-{i}-team"],
            )
            for i in range(self.escalation_count)
        ]

    # --- out -----------------------------------------------------------------------------

    def action_fields(self) -> dict[str, Any]:
        """The cleaned form as action keywords (ids for team, vendor, calendar, services)."""
        d = self.cleaned_data
        out: dict[str, Any] = {
            name: d.get(name)
            for name in ("name", "kind", "description", "is_active", "customer", "reset_when")
        }
        out["team_id"], out["vendor_id"], out["calendar_id"] = (
            d.get("team"),
            d.get("vendor"),
            d.get("calendar"),
        )
        out["service_ids"] = list(d.get("services") or [])
        out["priorities"] = sorted(d.get("priorities") or [])
        for name, _, _ in TOKEN_FIELDS:
            out[name] = list(d.get(name) or [])
        for metric, _ in METRICS:
            targets: dict[str, int] = {}
            for p in PRIORITIES:
                hours, minutes = d.get(f"{metric}_{p}_h"), d.get(f"{metric}_{p}_m")
                if hours is None and minutes is None:
                    continue
                total = (hours or 0) * 60 + (minutes or 0)
                targets[str(p)] = total if total > 0 else -1  # zero: refused by the action
            out[f"{metric}_minutes"] = targets
        words = [w.strip() for w in (d.get("warning_thresholds") or "").split(",") if w.strip()]
        out["warning_thresholds"] = [int(w) if w.isdigit() and len(w) < 6 else w for w in words]
        conditions = []
        for i in range(self.condition_count):
            fld = d.get(f"cond-{i}-field")
            if not fld:
                continue
            op = d.get(f"cond-{i}-op") or "eq"
            value: Any = (d.get(f"cond-{i}-value") or "").strip()
            if op in ("in", "not_in"):
                value = [v.strip() for v in value.split(",") if v.strip()]
            conditions.append({"field": fld, "op": op, "value": value})
        out["conditions"] = conditions
        escalations = []
        for i in range(self.escalation_count):
            action = d.get(f"esc-{i}-action")
            if not action:
                continue
            row: dict[str, Any] = {"at": d.get(f"esc-{i}-at"), "action": action}
            if action == EscalationAction.NOTIFY:
                row["to"] = d.get(f"esc-{i}-to")
            elif action == EscalationAction.REASSIGN:
                row["team"] = d.get(f"esc-{i}-team")
            escalations.append(row)
        out["escalations"] = escalations
        return out


def initial_from(definition: Any) -> tuple[dict[str, Any], int, int]:
    """(initial data, condition rows, escalation rows) of a stored definition."""
    initial: dict[str, Any] = {
        name: getattr(definition, name)
        for name in ("name", "kind", "description", "is_active", "customer", "reset_when")
    }
    initial["team"], initial["vendor"], initial["calendar"] = (
        definition.team_id,
        definition.vendor_id,
        definition.calendar_id,
    )
    initial["services"] = (
        list(definition.services.values_list("pk", flat=True)) if definition.pk else []
    )
    initial["priorities"] = list(definition.priorities or [])
    for name, _, _ in TOKEN_FIELDS:
        initial[name] = list(getattr(definition, name) or [])
    for metric, _ in METRICS:
        targets = getattr(definition, f"{metric}_minutes") or {}
        for p in PRIORITIES:
            hours, minutes = minutes_split(targets.get(str(p)))
            initial[f"{metric}_{p}_h"], initial[f"{metric}_{p}_m"] = hours, minutes
    initial["warning_thresholds"] = ", ".join(str(t) for t in definition.warning_thresholds or [])
    for i, c in enumerate(definition.conditions or []):
        value = c.get("value")
        initial[f"cond-{i}-field"] = c.get("field")
        initial[f"cond-{i}-op"] = c.get("op")
        initial[f"cond-{i}-value"] = (
            ", ".join(map(str, value)) if isinstance(value, list) else value
        )
    for i, e in enumerate(definition.escalations or []):
        initial[f"esc-{i}-at"] = e.get("at")
        initial[f"esc-{i}-action"] = e.get("action")
        initial[f"esc-{i}-to"] = e.get("to")
        initial[f"esc-{i}-team"] = e.get("team")
    return initial, len(definition.conditions or []), len(definition.escalations or [])


class PreviewForm(forms.Form):
    """The editor's preview: an existing incident, or a priority and when it was opened."""

    preview_incident = forms.CharField(required=False, max_length=40, label="Incident")
    preview_priority = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(p, f"P{p}") for p in PRIORITIES],
        initial=2,
        label="Priority",
    )
    preview_opened_at = forms.DateTimeField(
        required=False,
        label="Opened at",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    preview_service = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Service"
    )
    preview_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Assignment group"
    )

    def __init__(
        self,
        data: Any = None,
        *,
        initial: dict[str, Any] | None = None,
        teams: list[tuple[int, str]] = (),
        services: list[tuple[int, str]] = (),
    ) -> None:
        super().__init__(data, initial=initial)
        self.fields["preview_service"].choices = [("", "—"), *services]
        self.fields["preview_group"].choices = [("", "—"), *teams]
