"""Suppliers: the minimal record that underpinning contracts (UCs) name.

Full vendor management (contracts, scorecards, risk) builds on this model later.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models

from opsdesk.core.models import ChangeLogged, ChangeLoggedQuerySet, TenantOwned
from opsdesk.core.permissions import Action, Role

VENDOR_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.AGENT: frozenset({Action.VIEW}),
    Role.MANAGER: frozenset({Action.VIEW, Action.ADD, Action.CHANGE}),
    Role.AUDITOR: frozenset({Action.VIEW, Action.AUDIT}),
    Role.ADMIN: frozenset({Action.VIEW, Action.ADD, Action.CHANGE, Action.DELETE, Action.AUDIT}),
}


class Vendor(TenantOwned, ChangeLogged):
    """A supplier of services or products to the organisation."""

    name = models.CharField(max_length=200)
    website = models.URLField(blank=True)
    email = models.EmailField(blank=True, help_text="Support or escalation contact.")
    phone = models.CharField(max_length=50, blank=True)
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2")
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)

    objects = ChangeLoggedQuerySet.as_manager()
    role_actions: ClassVar[dict[str, frozenset[str]]] = VENDOR_ROLE_ACTIONS

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="vendor_name_per_org")
        ]

    def __str__(self) -> str:
        return self.name
