"""Sections of the change page that the parts of change enablement contribute (risk,
approvals, conflicts, deployments, caused incidents, review), so the page never imports
them. Like `opsdesk.servicedesk.panels` for incidents.

A provider takes ``(user, change)`` and returns a `Section` or ``None``. The change page
renders each section's template with its context, in ``order``; ``column`` is ``"main"``
(beside the plans and timeline) or ``"side"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    title: str
    template: str
    context: dict[str, Any] = field(default_factory=dict)
    order: int = 100
    column: str = "main"


Provider = Callable[[Any, Any], Section | None]
_PROVIDERS: list[Provider] = []


def register_section(provider: Provider) -> Provider:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def sections_for(user: Any, change: Any) -> list[Section]:
    found = [s for s in (provider(user, change) for provider in _PROVIDERS) if s is not None]
    return sorted(found, key=lambda s: (s.order, s.title))
