"""Catalogue items and requests for tests."""

from __future__ import annotations

from typing import Any

from opsdesk.catalog import actions
from opsdesk.catalog.models import CatalogItem, ServiceRequest
from opsdesk.core.context import acting_as

LAPTOP_FORM: list[dict[str, Any]] = [
    {
        "name": "model",
        "label": "Model",
        "type": "choice",
        "required": True,
        "choices": ["Standard", "Developer"],
    },
    {"name": "start_date", "label": "Needed from", "type": "date", "required": True},
    {"name": "reason", "label": "Why", "type": "textarea"},
]


def catalog_item(org: Any, name: str = "New laptop", **fields: Any) -> CatalogItem:
    """A catalogue item written directly (tests of the flow, not of the catalogue admin)."""
    fields.setdefault("category", "Hardware")
    fields.setdefault("form", LAPTOP_FORM)
    with acting_as(None):
        return CatalogItem.objects.create(organization=org, name=name, **fields)


def order(
    user: Any, item: CatalogItem, answers: dict | None = None, **kwargs: Any
) -> ServiceRequest:
    return actions.submit_request(
        acting_user=user,
        organization=item.organization,
        items=[
            {
                "catalog_item": item,
                "answers": answers
                if answers is not None
                else {"model": "Standard", "start_date": "2030-01-02"},
                "quantity": kwargs.pop("quantity", 1),
            }
        ],
        **kwargs,
    )
