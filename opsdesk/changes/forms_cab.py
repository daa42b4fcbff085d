"""Forms of the CAB pages and the approval-policy editor: they check the shape of input;
the rules are in the actions."""

from __future__ import annotations

from typing import Any

from django import forms

from opsdesk.changes.choices import ApproverKind, CabKind, RiskClass

POLICY_TYPE_CHOICES = [("normal", "Normal"), ("emergency", "Emergency")]


class MeetingForm(forms.Form):
    title = forms.CharField(max_length=255)
    kind = forms.ChoiceField(choices=CabKind.choices, initial=CabKind.CAB, label="Kind")
    starts_at = forms.DateTimeField(
        label="Starts", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    ends_at = forms.DateTimeField(
        label="Ends", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    location = forms.CharField(max_length=255, required=False)
    chair = forms.ModelChoiceField(queryset=None, required=False, label="Chair")
    members = forms.ModelMultipleChoiceField(queryset=None, required=False, label="Members")

    def __init__(self, *args: Any, people: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["chair"].queryset = people
        self.fields["members"].queryset = people
        self.fields["members"].widget.attrs["size"] = 5


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approved", "Approved"), ("rejected", "Rejected"), ("deferred", "Deferred")]
    )
    notes = forms.CharField(max_length=10_000, required=False)


class CommentForm(forms.Form):
    comment = forms.CharField(max_length=10_000, required=False)


class NotesForm(forms.Form):
    notes = forms.CharField(max_length=10_000, required=False, widget=forms.Textarea)


class PolicyForm(forms.Form):
    name = forms.CharField(max_length=200)
    order = forms.IntegerField(min_value=0, max_value=100_000, initial=100)
    change_types = forms.MultipleChoiceField(
        choices=POLICY_TYPE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Change types (none: any)",
    )
    risk_classes = forms.MultipleChoiceField(
        choices=RiskClass.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Risk classes (none: any)",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")


class StepForm(forms.Form):
    approver_kind = forms.ChoiceField(choices=ApproverKind.choices, label="Approvers")
    name = forms.CharField(max_length=200, required=False, label="Step name")
    team = forms.ModelChoiceField(queryset=None, required=False, label="Team")
    users = forms.ModelMultipleChoiceField(queryset=None, required=False, label="People")
    quorum = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Quorum")

    def __init__(self, *args: Any, teams: Any = None, people: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams
        self.fields["users"].queryset = people
        self.fields["users"].widget.attrs["size"] = 4

    def step(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "approver_kind": data["approver_kind"],
            "name": data["name"],
            "team": data["team"],
            "users": list(data["users"] or []),
            "quorum": data["quorum"],
        }
