"""Forms of the problem pages. They check the shape of input only; the actions hold the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from opsdesk.accounts.models import Team, User
from opsdesk.problems.choices import ProblemState

PRIORITIES = [
    (1, "P1 - Critical"),
    (2, "P2 - High"),
    (3, "P3 - Moderate"),
    (4, "P4 - Low"),
    (5, "P5 - Planning"),
]
ANY = [("", "Any")]


def split_words(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class ProblemFilterForm(forms.Form):
    state = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("open", "Open"), *ProblemState.choices]
    )
    priority = forms.TypedChoiceField(required=False, coerce=int, choices=ANY + PRIORITIES)
    assignment_group = forms.ModelChoiceField(
        required=False, queryset=Team.objects.none(), label="Team", empty_label="Any"
    )
    q = forms.CharField(required=False, max_length=200, label="Search")

    def __init__(self, *args: Any, teams: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignment_group"].queryset = (
            teams if teams is not None else Team.objects.none()
        )

    def filters(self) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {}
        if data.get("state"):
            out["state"] = [data["state"]]
        if data.get("priority"):
            out["priority"] = [data["priority"]]
        if data.get("assignment_group"):
            out["assignment_group"] = data["assignment_group"].pk
        if data.get("q"):
            out["q"] = data["q"]
        return out


class _AssignmentMixin(forms.Form):
    assignment_group = forms.ModelChoiceField(
        required=False, queryset=Team.objects.none(), label="Team", empty_label="—"
    )
    assignee = forms.ModelChoiceField(required=False, queryset=User.objects.none(), empty_label="—")

    def set_choices(self, teams: Any, members: Any) -> None:
        self.fields["assignment_group"].queryset = teams
        self.fields["assignee"].queryset = members


class ProblemForm(_AssignmentMixin):
    title = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    priority = forms.TypedChoiceField(coerce=int, choices=PRIORITIES, initial=3)

    field_order = ["title", "description", "priority", "assignment_group", "assignee"]


class RaiseProblemForm(ProblemForm):
    incidents = forms.CharField(
        required=False,
        max_length=2000,
        label="Incidents",
        help_text="Incident numbers, separated by commas (e.g. INC0000012, INC0000015).",
    )
    title = forms.CharField(
        max_length=255, required=False, help_text="Defaults to the first incident's title."
    )


class ProblemEditForm(ProblemForm):
    rca_notes = forms.CharField(
        required=False, label="Root-cause analysis notes", widget=forms.Textarea(attrs={"rows": 5})
    )
    root_cause = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    workaround = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class TransitionForm(forms.Form):
    root_cause = forms.CharField(required=False, max_length=50_000, widget=forms.Textarea)
    resolution_notes = forms.CharField(required=False, max_length=50_000, widget=forms.Textarea)
    reason = forms.CharField(required=False, max_length=5_000)
    resolve_incidents = forms.BooleanField(required=False)


class LinkIncidentsForm(forms.Form):
    incidents = forms.CharField(
        max_length=2000, label="Incident numbers", help_text="e.g. INC0000012, INC0000015"
    )


class KnownErrorFromProblemForm(forms.Form):
    title = forms.CharField(required=False, max_length=255)
    symptoms = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    draft = forms.BooleanField(required=False, label="Save as draft (not suggested yet)")


class KnownErrorForm(forms.Form):
    title = forms.CharField(max_length=255)
    symptoms = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What users see: error messages and words they use. Used for suggestions.",
    )
    root_cause = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    workaround = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}))
    cis = forms.CharField(
        required=False,
        max_length=5000,
        label="Configuration items",
        help_text="Exact CI names, separated by commas.",
    )


class KnownErrorCreateForm(KnownErrorForm):
    draft = forms.BooleanField(required=False, label="Save as draft (not suggested yet)")


class LinkKnownErrorForm(forms.Form):
    known_error = forms.IntegerField(min_value=1)
    unlink = forms.BooleanField(required=False)
