"""Forms of the notification pages. They check the shape of input only; the actions hold
the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from opsdesk.core.errors import Conflict, FieldError
from opsdesk.notify.choices import Event, InboundStatus, NotificationStatus, WebhookKind

BLANK = [("", "Any")]


def add_action_error(form: forms.Form, exc: FieldError | Conflict) -> None:
    """Show an action's error on the form field it names."""
    items = {exc.field or "__all__": exc.detail} if isinstance(exc, Conflict) else exc.errors
    for key, message in items.items():
        name = key.removesuffix("_id")
        form.add_error(name if name in form.fields else None, message)


class WebhookForm(forms.Form):
    name = forms.CharField(max_length=100)
    kind = forms.ChoiceField(choices=WebhookKind.choices, label="Chat")
    url = forms.CharField(
        max_length=500,
        required=False,
        label="Incoming-webhook URL",
        help_text="A secret: shown masked once saved. Leave empty to keep the current one.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    events = forms.MultipleChoiceField(
        choices=Event.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every event.",
    )
    team = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Only tickets of team"
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, teams: list[Any], creating: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "Every team")] + [(t.pk, t.name) for t in teams]
        self.teams = {t.pk: t for t in teams}
        if creating:
            self.fields["url"].required = True
            self.fields["url"].help_text = "A secret: shown masked once saved."

    def action_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["team"] = self.teams.get(data.get("team"))
        data["events"] = list(data.get("events") or [])
        if not data.get("url"):
            data.pop("url", None)
        return data


class TemplateForm(forms.Form):
    subject = forms.CharField(max_length=300, required=False)
    body = forms.CharField(max_length=20_000, widget=forms.Textarea(attrs={"rows": 12}))


class OutboxFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=BLANK + list(NotificationStatus.choices))
    event = forms.ChoiceField(required=False, choices=BLANK + list(Event.choices))


class InboundFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=BLANK + list(InboundStatus.choices))
