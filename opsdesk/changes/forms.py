"""Forms of the change pages and the template catalogue: they check the shape of input; the
rules (workflow, tenants, plan lock, freeze windows) stay in the actions."""

from __future__ import annotations

from typing import Any

from django import forms

from opsdesk.accounts.models import Team, User
from opsdesk.changes.choices import ChangeType, CloseCode, RiskClass
from opsdesk.cmdb.models import ConfigurationItem

#: What a browser's datetime-local input sends (taken in the viewer's time zone).
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]


def _datetime_field(label: str) -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


def _text(label: str, rows: int = 4, **kwargs: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=50_000,
        widget=forms.Textarea(attrs={"rows": rows}),
        **kwargs,
    )


class _ChoiceModel(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        if isinstance(obj, User):
            return obj.full_name or obj.email
        return str(getattr(obj, "name", obj))


def cis_of_org(organization_id: int) -> Any:
    return ConfigurationItem.objects.filter(organization_id=organization_id).select_related(
        "ci_class"
    )


def services_of_org(organization_id: int) -> Any:
    return ConfigurationItem.objects.filter(
        organization_id=organization_id, ci_class__is_service=True
    ).order_by("name")


def members_of_org(organization_id: int) -> Any:
    return (
        User.objects.filter(memberships__organization_id=organization_id, is_active=True)
        .distinct()
        .order_by("full_name", "email")
    )


class _CiSearch(forms.Form):
    """A CI name typed in the picker's search box (no JavaScript) joins the chosen CIs."""

    organization: Any

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        name = (data.get("ci_search") or "").strip()
        if name:
            found = list(cis_of_org(self.organization.pk).filter(name__iexact=name)[:2])
            if len(found) == 1:
                data["cis"] = list(dict.fromkeys([*(data.get("cis") or []), found[0]]))
            else:
                self.add_error("ci_search", f"No single configuration item is named “{name}”.")
        return data


class ChangeForm(_CiSearch):
    """Raise or edit a change. The type is chosen only when raising a normal or emergency
    change; a standard change takes it from its template."""

    change_type = forms.ChoiceField(
        label="Type",
        choices=[
            (ChangeType.NORMAL, "Normal — assessed and authorised (CAB if the policy says so)"),
            (ChangeType.EMERGENCY, "Emergency — authorised by the emergency CAB, reviewed after"),
        ],
        initial=ChangeType.NORMAL,
        widget=forms.RadioSelect,
    )
    title = forms.CharField(max_length=255)
    description = _text("Description")
    justification = _text("Justification", rows=3, help_text="Why this change, why now.")
    implementation_plan = _text("Implementation plan")
    backout_plan = _text("Back-out plan", help_text="How to return to the state before.")
    test_plan = _text("Test plan", rows=3)
    service = _ChoiceModel(queryset=ConfigurationItem.objects.none(), required=False)
    planned_start = _datetime_field("Planned start")
    planned_end = _datetime_field("Planned end")
    assignment_group = _ChoiceModel(queryset=Team.objects.none(), required=False, label="Team")
    assignee = _ChoiceModel(queryset=User.objects.none(), required=False)
    change_manager = _ChoiceModel(queryset=User.objects.none(), required=False)
    cis = forms.ModelMultipleChoiceField(
        queryset=ConfigurationItem.objects.none(), required=False, label="Affected CIs"
    )
    #: The search box of the CI picker: a name typed without JavaScript is added too.
    ci_search = forms.CharField(required=False, max_length=255, label="Find a CI in the CMDB")
    freeze_justification = _text(
        "Freeze justification",
        rows=2,
        help_text="Only if the change must go ahead inside a freeze window.",
    )

    def __init__(
        self, *args: Any, organization: Any, with_type: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        org_id = organization.pk
        self.organization = organization
        self.fields["service"].queryset = services_of_org(org_id)
        self.fields["assignment_group"].queryset = Team.objects.filter(
            organization_id=org_id
        ).order_by("name")
        self.fields["assignee"].queryset = members_of_org(org_id)
        self.fields["change_manager"].queryset = members_of_org(org_id)
        self.fields["cis"].queryset = cis_of_org(org_id)
        if not with_type:
            del self.fields["change_type"]

    def change_fields(self) -> dict[str, Any]:
        """The cleaned data as keyword arguments of `create_change` / `update_change`."""
        data = self.cleaned_data
        return {
            name: data.get(name) if data.get(name) is not None else ""
            for name in (
                "description",
                "justification",
                "implementation_plan",
                "backout_plan",
                "test_plan",
                "freeze_justification",
            )
        } | {
            name: data.get(name)
            for name in (
                "service",
                "planned_start",
                "planned_end",
                "assignment_group",
                "assignee",
                "change_manager",
            )
        }


class StandardChangeForm(_CiSearch):
    """A standard change from a template: the plan comes from the template; the person says
    when, and may add a description, CIs or another team."""

    title = forms.CharField(max_length=255, required=False, help_text="Default: the template's.")
    description = _text("Description", rows=3)
    planned_start = _datetime_field("Planned start")
    planned_end = _datetime_field("Planned end")
    assignment_group = _ChoiceModel(queryset=Team.objects.none(), required=False, label="Team")
    cis = forms.ModelMultipleChoiceField(
        queryset=ConfigurationItem.objects.none(), required=False, label="Affected CIs"
    )
    ci_search = forms.CharField(required=False, max_length=255, label="Find a CI in the CMDB")

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["assignment_group"].queryset = Team.objects.filter(
            organization_id=organization.pk
        ).order_by("name")
        self.fields["cis"].queryset = cis_of_org(organization.pk)


class TransitionForm(forms.Form):
    """The input a transition may take; which of it is required is the workflow's call."""

    reason = forms.CharField(required=False, max_length=5_000)
    close_code = forms.ChoiceField(required=False, choices=[("", "—"), *CloseCode.choices])
    close_notes = forms.CharField(required=False, max_length=50_000)
    freeze_justification = forms.CharField(required=False, max_length=50_000)

    def values(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class NoteForm(forms.Form):
    body = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 3}))


class ChangeFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    change_type = forms.ChoiceField(
        required=False, label="Type", choices=[("", "Any type"), *ChangeType.choices]
    )
    risk_class = forms.ChoiceField(
        required=False, label="Risk", choices=[("", "Any risk"), *RiskClass.choices]
    )
    assignment_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Team"
    )

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        teams = Team.objects.filter(organization_id=organization.pk).order_by("name")
        self.fields["assignment_group"].choices = [("", "Any team")] + [
            (t.pk, t.name) for t in teams
        ]

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        out: dict[str, Any] = {}
        if data.get("q"):
            out["q"] = data["q"]
        if data.get("change_type"):
            out["change_type"] = [data["change_type"]]
        if data.get("risk_class"):
            out["risk_class"] = [data["risk_class"]]
        if data.get("assignment_group"):
            out["assignment_group_id"] = data["assignment_group"]
        return out


class TemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    category = forms.CharField(max_length=100, required=False)
    description = _text("Description", rows=3)
    implementation_plan = _text("Implementation plan")
    backout_plan = _text("Back-out plan")
    test_plan = _text("Test plan", rows=3)
    risk_class = forms.ChoiceField(choices=RiskClass.choices, initial=RiskClass.LOW, label="Risk")
    assignment_group = _ChoiceModel(queryset=Team.objects.none(), required=False, label="Team")
    default_duration_minutes = forms.IntegerField(
        min_value=1, max_value=40_320, initial=60, label="Usual duration (minutes)"
    )
    cis = forms.ModelMultipleChoiceField(
        queryset=ConfigurationItem.objects.none(), required=False, label="Usual CIs"
    )
    match_cis = forms.ModelMultipleChoiceField(
        queryset=ConfigurationItem.objects.none(),
        required=False,
        label="Deployments to these services or CIs become a change from this template",
    )
    match_environments = forms.CharField(
        required=False,
        max_length=2_000,
        label="Deployment environments it covers",
        help_text="Comma-separated, e.g. production, staging; empty: any.",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active (in the catalogue)")

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.fields["assignment_group"].queryset = Team.objects.filter(
            organization_id=organization.pk
        ).order_by("name")
        cis = cis_of_org(organization.pk).order_by("name")
        self.fields["cis"].queryset = cis
        self.fields["match_cis"].queryset = cis

    def clean_match_environments(self) -> list[str]:
        raw = self.cleaned_data.get("match_environments") or ""
        return [part.strip() for part in raw.replace("\n", ",").split(",") if part.strip()]

    def template_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        for name in ("category", "description", "implementation_plan", "backout_plan", "test_plan"):
            data[name] = data.get(name) or ""
        return data
