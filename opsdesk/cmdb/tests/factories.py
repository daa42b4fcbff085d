"""Factories for CMDB tests."""

from __future__ import annotations

from typing import Any

from opsdesk.cmdb.models import CIClass, ConfigurationItem, Relationship, RelationshipType
from opsdesk.core.models import Organization


def ci(
    organization: Organization, name: str, class_key: str = "server", **fields: Any
) -> ConfigurationItem:
    """A CI saved through the ORM (audited), e.g. ``ci(org, "db-07", "database", criticality=1)``."""
    return ConfigurationItem.objects.create(
        organization=organization, name=name, ci_class=CIClass.objects.get(key=class_key), **fields
    )


def relate(source: ConfigurationItem, type_key: str, target: ConfigurationItem) -> Relationship:
    """``relate(app, "runs_on", server)``."""
    return Relationship.objects.create(
        organization_id=source.organization_id,
        source=source,
        target=target,
        type=RelationshipType.objects.get(key=type_key),
    )
