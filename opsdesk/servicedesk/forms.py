"""Forms of the agent pages. They check the shape of input and resolve names to rows of the
current organisation; the actions hold the rules (workflow, assignment, permissions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models import Q
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from opsdesk.accounts.models import Membership, Team, User
from opsdesk.cmdb.models import ConfigurationItem
from opsdesk.core.errors import Conflict, FieldError
from opsdesk.core.permissions import Role
from opsdesk.servicedesk.choices import (
    OPEN_STATES,
    Channel,
    HoldReason,
    Impact,
    IncidentState,
    Priority,
    Urgency,
)
from opsdesk.servicedesk.models import Category

ANY = [("", "Any")]
NONE = [("", "—")]
#: Roles that work tickets (may be assignees, appear in the assignee filter).
WORKER_ROLES = (Role.AGENT, Role.MANAGER, Role.ADMIN)


def teams_of(org_id: int) -> list[Team]:
    return list(Team.objects.filter(organization_id=org_id).order_by("name"))


@dataclass(frozen=True)
class Person:
    """A name to pick from a list: loading hundreds of full User rows (each with its audit
    snapshot) for a select costs more than the queue's queries together."""

    pk: int
    full_name: str
    email: str

    def __str__(self) -> str:
        return self.full_name or self.email


def workers_of(org_id: int) -> list[Person]:
    """People who may work incidents in the organisation (the assignee filter)."""
    return [
        Person(*row)
        for row in User.objects.filter(
            memberships__organization_id=org_id,
            memberships__role__in=WORKER_ROLES,
            is_active=True,
        )
        .order_by("full_name", "email")
        .values_list("pk", "full_name", "email")
    ]


def team_members(team: Team | None) -> list[User]:
    if team is None:
        return []
    return list(team.members.filter(is_active=True).order_by("full_name", "email"))


def services_of(org_id: int) -> list[ConfigurationItem]:
    return list(
        ConfigurationItem.objects.filter(organization_id=org_id, ci_class__is_service=True)
        .only("id", "name")
        .order_by("name")[:500]
    )


def top_categories(org_id: int) -> list[Category]:
    return list(
        Category.objects.filter(organization_id=org_id, parent__isnull=True, is_active=True)
    )


def subcategories(org_id: int, parent_id: Any) -> list[Category]:
    if not str(parent_id or "").isdigit():
        return []
    return list(
        Category.objects.filter(organization_id=org_id, parent_id=int(parent_id), is_active=True)
    )


def _choices(rows: list[Any], blank: list[tuple[str, str]] = NONE) -> list[tuple[Any, str]]:
    return blank + [(row.pk, str(row)) for row in rows]


def person_label(user: User) -> str:
    return f"{user.full_name} <{user.email}>" if user.full_name else user.email


class ActionErrorsMixin:
    """Put an action's FieldError / Conflict on the form's fields."""

    #: action field name -> form field name
    field_map: dict[str, str] = {}

    def add_action_error(self, exc: Exception) -> None:
        form: Any = self
        if isinstance(exc, FieldError):
            for name, message in exc.errors.items():
                target = self.field_map.get(name, name.removesuffix("_id"))
                form.add_error(target if target in form.fields else None, message)
        elif isinstance(exc, Conflict):
            form.add_error(None, exc.detail)


# --- Queue ---------------------------------------------------------------------------------


class FastSelect(forms.Select):
    """A select rendered in one pass instead of one template per option: the queue's
    assignee filter lists every agent of the organisation (hundreds), and Django's
    per-option templates cost more than all the page's queries together."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> str:
        chosen = {str(v) for v in (value if isinstance(value, (list, tuple)) else [value])}
        final = self.build_attrs(self.attrs, attrs)
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            (
                (v, mark_safe(" selected") if str(v) in chosen else "", label)
                for v, label in self.choices
            ),
        )
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(final), options)


class QueueFilterForm(forms.Form):
    """The filter words of the queue (the same as ``GET /api/v1/incidents`` where they exist)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    state = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), ("open", "Open (new, in progress, on hold)"), *IncidentState.choices],
    )
    priority = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, choices=ANY + list(Priority.choices)
    )
    group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Group", widget=FastSelect
    )
    assignee = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Assignee", widget=FastSelect
    )
    service = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, widget=FastSelect
    )
    category = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, widget=FastSelect
    )
    channel = forms.ChoiceField(required=False, choices=ANY + list(Channel.choices))
    major = forms.ChoiceField(
        required=False, choices=[("", "Any"), ("yes", "Major only"), ("no", "Not major")]
    )

    def __init__(
        self,
        *args: Any,
        teams: list[Team],
        workers: list[Person],
        services: list[ConfigurationItem],
        categories: list[Category],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = _choices(teams, ANY)
        self.fields["assignee"].choices = _choices(workers, ANY)
        self.fields["service"].choices = _choices(services, ANY)
        self.fields["category"].choices = _choices(categories, ANY)


BULK_OPERATIONS = [
    ("assign", "Assign"),
    ("start", "Start work"),
    ("hold", "Put on hold"),
    ("resolve", "Resolve"),
]


class BulkForm(forms.Form):
    operation = forms.ChoiceField(choices=BULK_OPERATIONS)
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=[], label="Incidents")
    assignment_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Group"
    )
    assignee = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    hold_reason = forms.ChoiceField(required=False, choices=NONE + list(HoldReason.choices))
    resolution_code = forms.ChoiceField(required=False, label="Resolution code")
    resolution_notes = forms.CharField(required=False, max_length=4000)

    def __init__(
        self, *args: Any, teams: list[Team], workers: list[Person], codes: list[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        ids = self.data.getlist("ids") if hasattr(self.data, "getlist") else []
        self.fields["ids"].choices = [(i, i) for i in ids if str(i).isdigit()]
        self.fields["assignment_group"].choices = _choices(teams)
        self.fields["assignee"].choices = _choices(workers)
        self.fields["resolution_code"].choices = NONE + [(c, code_label(c)) for c in codes]


def code_label(code: str) -> str:
    return code.replace("_", " ").capitalize()


# --- Incident form -------------------------------------------------------------------------


class IncidentFieldsForm(ActionErrorsMixin, forms.Form):
    """Descriptive fields of an incident (create and edit). Requester and CI are typed (with
    suggestions) and resolved within the organisation, so the page scales to large
    organisations and CMDBs."""

    field_map = {"requester_id": "requester", "service_id": "service", "ci_id": "ci"}

    title = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    requester = forms.CharField(
        required=False,
        max_length=254,
        help_text="Email of a member of the organisation.",
        widget=forms.TextInput(attrs={"list": "people-list", "autocomplete": "off"}),
    )
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE)
    service = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    ci = forms.CharField(
        required=False,
        max_length=255,
        label="Configuration item",
        widget=forms.TextInput(attrs={"list": "ci-list", "autocomplete": "off"}),
    )
    category = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    subcategory = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    impact = forms.TypedChoiceField(coerce=int, choices=Impact.choices, initial=Impact.LOW)
    urgency = forms.TypedChoiceField(coerce=int, choices=Urgency.choices, initial=Urgency.LOW)
    location = forms.CharField(required=False, max_length=200)

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization
        org_id = organization.pk
        self.fields["service"].choices = _choices(services_of(org_id))
        self.fields["category"].choices = _choices(top_categories(org_id))
        parent = self.data.get("category") if self.is_bound else self.initial.get("category")
        self.fields["subcategory"].choices = _choices(subcategories(org_id, parent))

    def clean_requester(self) -> User | None:
        value = (self.cleaned_data.get("requester") or "").strip()
        if not value:
            return None
        email = value.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in value else value
        found = User.objects.filter(
            email__iexact=email, memberships__organization_id=self.organization.pk
        ).first()
        if found is None:
            raise forms.ValidationError(f"No member of {self.organization.name} has this email.")
        return found

    def clean_ci(self) -> ConfigurationItem | None:
        name = (self.cleaned_data.get("ci") or "").strip()
        if not name:
            return None
        found = list(
            ConfigurationItem.objects.filter(
                organization_id=self.organization.pk, name__iexact=name
            ).select_related("ci_class")[:2]
        )
        if not found:
            raise forms.ValidationError(f"No configuration item named “{name}”.")
        if len(found) > 1:
            raise forms.ValidationError(f"Several configuration items are named “{name}”.")
        return found[0]

    def clean_service(self) -> ConfigurationItem | None:
        pk = self.cleaned_data.get("service")
        if pk is None:
            return None
        return ConfigurationItem.objects.select_related("ci_class").get(pk=pk)

    def clean_category(self) -> Category | None:
        pk = self.cleaned_data.get("category")
        return None if pk is None else Category.objects.get(pk=pk)

    def clean_subcategory(self) -> Category | None:
        pk = self.cleaned_data.get("subcategory")
        return None if pk is None else Category.objects.get(pk=pk)

    def action_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "title": data["title"].strip(),
            "description": data.get("description") or "",
            "requester": data.get("requester"),
            "channel": data["channel"],
            "service": data.get("service"),
            "ci": data.get("ci"),
            "category": data.get("category"),
            "subcategory": data.get("subcategory"),
            "impact": data["impact"],
            "urgency": data["urgency"],
            "location": data.get("location") or "",
        }

    @staticmethod
    def initial_for(incident: Any) -> dict[str, Any]:
        return {
            "title": incident.title,
            "description": incident.description,
            "requester": incident.requester.email if incident.requester else "",
            "channel": incident.channel,
            "service": incident.service_id,
            "ci": incident.ci.name if incident.ci else "",
            "category": incident.category_id,
            "subcategory": incident.subcategory_id,
            "impact": incident.impact,
            "urgency": incident.urgency,
            "location": incident.location,
        }


class NewIncidentForm(IncidentFieldsForm):
    """An agent logs an incident (phone, walk-in, ...) and may route it at once."""

    field_map = {
        **IncidentFieldsForm.field_map,
        "assignment_group_id": "assignment_group",
        "assignee_id": "assignee",
    }

    assignment_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Assignment group"
    )
    assignee = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, organization: Any, **kwargs: Any) -> None:
        super().__init__(*args, organization=organization, **kwargs)
        self.fields["assignment_group"].choices = _choices(teams_of(organization.pk))
        group_id = (
            self.data.get("assignment_group")
            if self.is_bound
            else self.initial.get("assignment_group")
        )
        team = (
            Team.objects.filter(organization_id=organization.pk, pk=group_id).first()
            if str(group_id or "").isdigit()
            else None
        )
        self.fields["assignee"].choices = _choices(team_members(team))

    def clean_assignment_group(self) -> Team | None:
        pk = self.cleaned_data.get("assignment_group")
        return None if pk is None else Team.objects.get(pk=pk)

    def clean_assignee(self) -> User | None:
        pk = self.cleaned_data.get("assignee")
        return None if pk is None else User.objects.get(pk=pk)

    def action_fields(self) -> dict[str, Any]:
        return {
            **super().action_fields(),
            "assignment_group": self.cleaned_data.get("assignment_group"),
            "assignee": self.cleaned_data.get("assignee"),
        }


# --- Incident page forms --------------------------------------------------------------------


class AssignForm(ActionErrorsMixin, forms.Form):
    field_map = {"assignment_group_id": "assignment_group", "assignee_id": "assignee"}

    assignment_group = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Group"
    )
    assignee = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)

    def __init__(self, *args: Any, organization: Any, group: Team | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignment_group"].choices = _choices(teams_of(organization.pk))
        self.fields["assignee"].choices = _choices(team_members(group))


class CommentForm(forms.Form):
    body = forms.CharField(max_length=20000, widget=forms.Textarea(attrs={"rows": 3}))
    kind = forms.ChoiceField(
        choices=[("comment", "Comment (requester sees it)"), ("work_note", "Work note (internal)")],
        initial="comment",
        widget=forms.RadioSelect,
    )


class TransitionForm(forms.Form):
    hold_reason = forms.ChoiceField(required=False, choices=NONE + list(HoldReason.choices))
    resolution_code = forms.CharField(required=False, max_length=60)
    resolution_notes = forms.CharField(required=False, max_length=20000)
    reason = forms.CharField(required=False, max_length=2000)


class AttachmentForm(forms.Form):
    file = forms.FileField()
    internal = forms.BooleanField(required=False, label="Internal (requester does not see it)")


class LinkForm(forms.Form):
    number = forms.CharField(max_length=20, label="Problem or known error number")
    unlink = forms.BooleanField(required=False)


class WatcherForm(forms.Form):
    user = forms.CharField(max_length=254, required=False)
    watching = forms.BooleanField(required=False)


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=100, label="View name")
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    shared = forms.BooleanField(required=False, label="Share with the organisation")


def is_open_state(state: str) -> bool:
    return state in OPEN_STATES


def member_by_email(org_id: int, email: str) -> User | None:
    email = (email or "").strip()
    if "<" in email:
        email = email.rsplit("<", 1)[-1].rstrip(">").strip()
    if not email:
        return None
    return User.objects.filter(Q(email__iexact=email), memberships__organization_id=org_id).first()


def is_member(org_id: int, user_id: int) -> bool:
    return Membership.objects.filter(organization_id=org_id, user_id=user_id).exists()
