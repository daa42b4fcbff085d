"""Forms of the CMDB pages. They check the shape of input only; the actions hold the rules."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from opsdesk.cmdb.choices import (
    CIStatus,
    Criticality,
    DataClassification,
    Environment,
    ImportFormat,
)
from opsdesk.cmdb.models import CIClass, RelationshipType
from opsdesk.core.errors import Conflict, FieldError

MAX_IMPORT_BYTES = 50 * 1024 * 1024
BLANK = [("", "Any")]


def _split(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace("\n", ",").split(",") if part.strip()]


class CIFilterForm(forms.Form):
    """The filter words of ``GET /api/v1/cis`` (``class`` is added in ``__init__``)."""

    q = forms.CharField(required=False, max_length=200, label="Search")
    status = forms.ChoiceField(required=False, choices=BLANK + list(CIStatus.choices))
    environment = forms.ChoiceField(required=False, choices=BLANK + list(Environment.choices))
    criticality = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=BLANK + [(v, f"Tier {v}") for v in Criticality.values],
    )
    tag = forms.CharField(required=False, max_length=100)
    country = forms.CharField(required=False, max_length=2)
    owner_team = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Owner team"
    )
    attribute = forms.CharField(
        required=False,
        max_length=300,
        help_text="key=value, e.g. os=Ubuntu",
    )

    def __init__(self, *args: Any, classes: list[CIClass], teams: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["class"] = forms.ChoiceField(
            required=False, label="Class", choices=BLANK + [(c.key, c.label) for c in classes]
        )
        self.fields["owner_team"].choices = BLANK + [(t.pk, t.name) for t in teams]
        self.order_fields(["q", "class"])

    def clean_country(self) -> str:
        return (self.cleaned_data.get("country") or "").strip().upper()

    def clean_attribute(self) -> str:
        value = (self.cleaned_data.get("attribute") or "").strip()
        if value and ("=" not in value or not value.partition("=")[0].strip()):
            raise forms.ValidationError("Write the attribute filter as key=value.")
        if value and not value.partition("=")[0].strip().replace("_", "").isalnum():
            raise forms.ValidationError("An attribute key has letters, digits and _ only.")
        return value

    def filters(self) -> dict[str, Any]:
        """Keyword arguments of ``selectors.filter_cis`` from the valid fields."""
        data = self.cleaned_data if self.is_bound else {}
        return {
            "ci_class": data.get("class") or None,
            "status": data.get("status") or None,
            "environment": data.get("environment") or None,
            "tag": (data.get("tag") or "").strip() or None,
            "criticality": data.get("criticality"),
            "country": data.get("country") or None,
            "owner_team": data.get("owner_team"),
            "q": (data.get("q") or "").strip() or None,
            "attribute": data.get("attribute") or None,
        }


class SavedFilterForm(forms.Form):
    name = forms.CharField(max_length=100, label="Filter name")
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)
    shared = forms.BooleanField(required=False, label="Share with the organisation")


class CIForm(forms.Form):
    """Create or edit a CI. Teams are chosen among the organisation's teams."""

    name = forms.CharField(max_length=255)
    ci_class = forms.ModelChoiceField(queryset=CIClass.objects.none(), label="Class")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    status = forms.ChoiceField(choices=CIStatus.choices, initial=CIStatus.OPERATIONAL)
    environment = forms.ChoiceField(choices=Environment.choices, initial=Environment.PRODUCTION)
    criticality = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "Not rated"), *Criticality.choices],
    )
    owner_team = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Owner team"
    )
    support_team = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Support team"
    )
    location = forms.CharField(required=False, max_length=200)
    country = forms.CharField(
        required=False, max_length=2, help_text="ISO code, e.g. ZA", label="Country"
    )
    tags = forms.CharField(required=False, max_length=2000, help_text="Comma-separated")
    data_classification = forms.ChoiceField(
        choices=DataClassification.choices, initial=DataClassification.INTERNAL
    )
    holds_personal_data = forms.BooleanField(required=False, label="Holds personal data")
    allowed_residency = forms.CharField(
        required=False,
        max_length=500,
        help_text="Countries or regions, comma-separated, e.g. ZA, EU",
    )
    attributes = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        help_text="Class-specific attributes as a JSON object.",
    )

    #: action error key -> form field
    FIELD_OF = {"owner_team_id": "owner_team", "support_team_id": "support_team"}

    def __init__(
        self, *args: Any, classes: Any, teams: list[Any], editing: bool = False, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.fields["ci_class"].queryset = classes
        team_choices = [("", "None")] + [(t.pk, t.name) for t in teams]
        self.fields["owner_team"].choices = team_choices
        self.fields["support_team"].choices = team_choices
        if editing:
            self.fields["ci_class"].disabled = True
            self.fields["ci_class"].help_text = "The class of an existing CI does not change."

    def clean_attributes(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("attributes") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError('Attributes must be a JSON object, e.g. {"os": "Linux"}.')
        return value

    def action_fields(self) -> dict[str, Any]:
        """The keyword arguments of ``create_ci``/``update_ci`` (without name and class)."""
        d = self.cleaned_data
        return {
            "description": d["description"],
            "status": d["status"],
            "environment": d["environment"],
            "criticality": d["criticality"],
            "owner_team_id": d["owner_team"],
            "support_team_id": d["support_team"],
            "location": d["location"],
            "country": (d["country"] or "").strip().upper(),
            "tags": _split(d["tags"]),
            "data_classification": d["data_classification"],
            "holds_personal_data": d["holds_personal_data"],
            "allowed_residency": [r.upper() for r in _split(d["allowed_residency"])],
            "attributes": d["attributes"],
        }

    @staticmethod
    def initial_for(ci: Any) -> dict[str, Any]:
        return {
            "name": ci.name,
            "ci_class": ci.ci_class_id,
            "description": ci.description,
            "status": ci.status,
            "environment": ci.environment,
            "criticality": ci.criticality,
            "owner_team": ci.owner_team_id,
            "support_team": ci.support_team_id,
            "location": ci.location,
            "country": ci.country,
            "tags": ", ".join(ci.tags or []),
            "data_classification": ci.data_classification,
            "holds_personal_data": ci.holds_personal_data,
            "allowed_residency": ", ".join(ci.allowed_residency or []),
            "attributes": json.dumps(ci.attributes or {}, indent=2, sort_keys=True),
        }

    def add_action_error(self, exc: FieldError | Conflict) -> None:
        add_action_error(self, exc, self.FIELD_OF)


class RelationshipForm(forms.Form):
    """“This CI <type> <other CI>”, in either direction."""

    relation = forms.ChoiceField(label="Relationship")
    target = forms.CharField(
        max_length=255,
        label="Other CI",
        help_text="The exact name of a CI of this organisation.",
    )

    FIELD_OF = {"target_id": "target", "type": "relation"}

    def __init__(self, *args: Any, types: list[RelationshipType], **kwargs: Any):
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, str]] = []
        for t in types:
            choices.append((f"out:{t.key}", f"this CI {t.label} …"))
        for t in types:
            choices.append((f"in:{t.key}", f"this CI {t.reverse_label} …"))
        self.fields["relation"].choices = choices
        self.fields["relation"].initial = "out:depends_on"

    def direction_and_type(self) -> tuple[str, str]:
        direction, _, key = self.cleaned_data["relation"].partition(":")
        return direction, key

    def add_action_error(self, exc: FieldError | Conflict) -> None:
        add_action_error(self, exc, self.FIELD_OF)


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV, XLSX, or a JSON/YAML export (Azure Resource Graph, AWS Config, "
        "Google Cloud Asset Inventory, kubectl get -o json)."
    )
    format = forms.ChoiceField(choices=ImportFormat.choices)
    source = forms.SlugField(
        max_length=100,
        initial="manual-import",
        help_text="The discovery source, e.g. azure-prod; it decides which values win.",
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError("The file is larger than 50 MB.")
        if upload.size == 0:
            raise forms.ValidationError("The file is empty.")
        return upload


class ImportRunForm(forms.Form):
    partial = forms.BooleanField(
        required=False,
        label="Partial: import the valid rows even if some fail",
    )


class StaleForm(forms.Form):
    days = forms.TypedChoiceField(
        coerce=int,
        choices=[(7, "7 days"), (14, "14 days"), (30, "30 days"), (60, "60 days"), (90, "90 days")],
        initial=30,
        required=False,
        empty_value=30,
    )
    source = forms.CharField(required=False, max_length=100)


def add_action_error(
    form: forms.Form, exc: FieldError | Conflict, field_of: dict[str, str]
) -> None:
    """Show an action's error on the form field it names (``attributes.os`` on attributes)."""
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for key, message in items.items():
        name = field_of.get(key, key)
        prefix = ""
        if name.startswith("attributes."):
            prefix = f"{name.removeprefix('attributes.')}: "
            name = "attributes"
        if name not in form.fields:
            name = None  # type: ignore[assignment]
        form.add_error(name, f"{prefix}{message}")
