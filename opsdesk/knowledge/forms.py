"""Forms of the knowledge pages. They check the shape of input only; the actions hold the rules."""

from __future__ import annotations

from typing import Any

from django import forms

from opsdesk.knowledge.choices import ArticleKind, ArticleState, Visibility

BLANK = [("", "Any")]


class SearchForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    kind = forms.ChoiceField(required=False, choices=BLANK + list(ArticleKind.choices))
    state = forms.ChoiceField(required=False, choices=BLANK + list(ArticleState.choices))
    tag = forms.CharField(required=False, max_length=50)


class ArticleForm(forms.Form):
    title = forms.CharField(max_length=255)
    kind = forms.ChoiceField(choices=ArticleKind.choices)
    summary = forms.CharField(
        max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    body = forms.CharField(
        required=False,
        max_length=200_000,
        widget=forms.Textarea(attrs={"rows": 18, "class": "kb-editor"}),
        help_text="Markdown: # headings, **bold**, `code`, lists, tables, [links](https://…).",
    )
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    review_date = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Review date"
    )
    tags = forms.CharField(required=False, max_length=1000, help_text="Separated by commas.")
    service = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Service or CI"
    )
    visibility = forms.ChoiceField(choices=Visibility.choices)

    def __init__(self, *args: Any, owners: list[Any], services: list[Any], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Nobody")] + [
            (u.pk, u.full_name or u.email) for u in owners
        ]
        self.fields["service"].choices = [("", "None")] + [(c.pk, c.name) for c in services]

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [t.strip() for t in raw.split(",") if t.strip()]


class TransitionForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)
    note = forms.CharField(required=False, max_length=500)


class FeedbackForm(forms.Form):
    helpful = forms.TypedChoiceField(
        choices=[("yes", "Yes"), ("no", "No")], coerce=lambda v: v == "yes"
    )
    comment = forms.CharField(required=False, max_length=2000)
