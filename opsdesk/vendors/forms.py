"""Forms of the vendor pages."""

from __future__ import annotations

from django import forms


class VendorForm(forms.Form):
    name = forms.CharField(max_length=200)
    website = forms.URLField(required=False, assume_scheme="https")
    email = forms.EmailField(required=False, label="Support e-mail")
    phone = forms.CharField(max_length=50, required=False)
    country = forms.CharField(
        max_length=2, required=False, help_text="Two-letter ISO code, e.g. ZA."
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
