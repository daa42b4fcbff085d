"""Forms of the event pages: they check the shape of input; the actions check the rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

from opsdesk.accounts.models import Team
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.events.choices import Severity, Source

MATCHER_OPS = (("=", "="), ("!=", "!="), ("=~", "=~ (regex)"), ("!~", "!~ (not regex)"))
MAX_MATCHERS = 20
DURATIONS = (
    ("", "— or set an end below —"),
    ("30m", "30 minutes"),
    ("1h", "1 hour"),
    ("2h", "2 hours"),
    ("4h", "4 hours"),
    ("8h", "8 hours"),
    ("1d", "1 day"),
    ("7d", "7 days"),
)
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def services_of(org_id: int) -> Any:
    return (
        ConfigurationItem.objects.filter(organization_id=org_id, ci_class__is_service=True)
        .select_related("ci_class")
        .order_by("name")
    )


class ServiceChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: ConfigurationItem) -> str:
        return obj.name


class GroupFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    severity = forms.ChoiceField(required=False, choices=[("", "Any"), *Severity.choices])
    service = ServiceChoice(required=False, queryset=ConfigurationItem.objects.none())

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["service"].queryset = services_of(organization.pk)
        self.fields["service"].empty_label = "Any"

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        return {k: v for k, v in data.items() if v not in (None, "")}


class AlertFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    severity = forms.ChoiceField(required=False, choices=[("", "Any"), *Severity.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any"), *Source.choices])

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class SilenceForm(forms.Form):
    """The matchers come as parallel lists ``matcher_name`` / ``matcher_op`` /
    ``matcher_value`` (one row each); blank rows are ignored."""

    duration = forms.ChoiceField(required=False, choices=DURATIONS)
    ends_at = forms.DateTimeField(
        required=False,
        label="Or until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
    )
    comment = forms.CharField(
        max_length=2000, widget=forms.Textarea(attrs={"rows": 2}), label="Why"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rows: list[dict[str, str]] = []
        if self.is_bound:
            names = self.data.getlist("matcher_name")
            ops = self.data.getlist("matcher_op")
            values = self.data.getlist("matcher_value")
            for i, name in enumerate(names[: MAX_MATCHERS + 1]):
                row = {
                    "name": (name or "").strip(),
                    "op": (ops[i] if i < len(ops) else "=") or "=",
                    "value": (values[i] if i < len(values) else "").strip(),
                }
                if row["name"] or row["value"]:
                    self.rows.append(row)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not self.rows:
            self.add_error(None, "Add at least one matcher (a label name and a value).")
        elif len(self.rows) > MAX_MATCHERS:
            self.add_error(None, f"At most {MAX_MATCHERS} matchers.")
        for row in self.rows:
            if not row["name"]:
                self.add_error(None, f"Matcher on {row['value']!r}: give the label name.")
            if row["op"] not in dict(MATCHER_OPS):
                self.add_error(
                    None, f"Matcher {row['name']}: the operator is one of =, !=, =~, !~."
                )
        duration = data.get("duration") or ""
        ends_at = data.get("ends_at")
        if duration:
            data["ends"] = timezone.now() + timedelta(
                seconds=int(duration[:-1]) * _UNITS[duration[-1]]
            )
        elif ends_at:
            data["ends"] = ends_at
        elif "ends_at" not in self.errors:
            self.add_error("duration", "Choose a duration or an end time.")
        return data

    def matchers(self) -> list[dict[str, str]]:
        return [{"name": r["name"], "op": r["op"], "value": r["value"]} for r in self.rows]


class IntegrationForm(forms.Form):
    name = forms.CharField(max_length=200)
    source = forms.ChoiceField(choices=Source.choices, initial=Source.ALERTMANAGER)
    default_service = ServiceChoice(
        required=False,
        queryset=ConfigurationItem.objects.none(),
        help_text="Events whose CI cannot be found are bound to this service.",
    )
    with_secret = forms.BooleanField(
        required=False, label="Sign deliveries with an HMAC secret (shown once)"
    )

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_service"].queryset = services_of(organization.pk)
        self.fields["default_service"].empty_label = "None"


class SettingsForm(forms.Form):
    window_seconds = forms.IntegerField(
        label="Time window (seconds)",
        help_text="Events further apart than this never join the same group.",
    )
    topology_hops = forms.IntegerField(
        label="Topology hops", help_text="Alerts on CIs within this many CMDB hops correlate."
    )
    group_by = forms.CharField(
        required=False,
        max_length=1000,
        label="Group by labels",
        help_text="Comma-separated label names (e.g. alertname, cluster); empty turns time "
        "and attribute correlation off.",
    )
    text_similarity = forms.FloatField(
        label="Text similarity (0 to 1)",
        help_text="Template similarity above which alerts correlate by their text.",
    )
    flap_transitions = forms.IntegerField(
        label="Flapping: status changes",
        help_text="This many status changes inside the flap window mark an alert flapping.",
    )
    propagation_seconds = forms.IntegerField(
        label="Propagation (seconds)",
        help_text="A topology join needs an alert on the connecting CI that started at most "
        "this long before or after the new one.",
    )
    flap_window_seconds = forms.IntegerField(label="Flap window (seconds)")
    open_incidents = forms.BooleanField(
        required=False, label="Alert groups open, update and resolve incidents"
    )
    incident_min_severity = forms.ChoiceField(
        choices=Severity.choices,
        label="Lowest severity that opens an incident",
    )
    incident_team = forms.ModelChoiceField(
        required=False, queryset=Team.objects.none(), label="Assign incidents to"
    )
    resolve_after_seconds = forms.IntegerField(
        label="Resolve after (seconds)",
        help_text="A group whose alerts all resolved stays open this long.",
    )
    reopen_seconds = forms.IntegerField(
        label="Reopen within (seconds)",
        help_text="A group firing again this soon after its incident was resolved reopens it; "
        "later it opens a new incident.",
    )

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["incident_team"].queryset = Team.objects.filter(
            organization_id=organization.pk
        ).order_by("name")
        self.fields["incident_team"].empty_label = "Nobody (the desk triages)"
        for name in (
            "window_seconds",
            "topology_hops",
            "flap_transitions",
            "propagation_seconds",
            "reopen_seconds",
        ):
            self.fields[name].widget.attrs["min"] = 0
        self.fields["text_similarity"].widget.attrs.update({"step": "0.05", "min": 0, "max": 1})

    def values(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["incident_team"] = data["incident_team"].pk if data.get("incident_team") else None
        return data


class MergeForm(forms.Form):
    other = forms.IntegerField(min_value=1, max_value=2**62, label="Merge into this group")
    note = forms.CharField(required=False, max_length=2000)


class SplitForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)

    def alert_ids(self) -> list[int]:
        ids = self.data.getlist("alert") if self.is_bound else []
        return [int(v) for v in ids if str(v).isdigit() and len(str(v)) < 18]


class NoteForm(forms.Form):
    note = forms.CharField(required=False, max_length=2000)
