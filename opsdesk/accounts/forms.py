from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from opsdesk.accounts.backends import is_locked_out


class EmailLoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email",
        max_length=254,
        widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "That email and password do not match an account.",
        "locked": "Too many failed attempts: this account is locked for a while. Try again later.",
    }

    def clean(self) -> dict[str, Any]:
        email = self.cleaned_data.get("username")
        if email and is_locked_out(email):
            raise forms.ValidationError(self.error_messages["locked"], code="locked")
        try:
            return super().clean()
        except forms.ValidationError:
            if email and is_locked_out(email):
                raise forms.ValidationError(self.error_messages["locked"], code="locked") from None
            raise


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100)
    expires_in_days = forms.TypedChoiceField(
        choices=[(30, "30 days"), (90, "90 days"), (365, "1 year")], coerce=int, initial=90
    )
