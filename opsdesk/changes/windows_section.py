"""The change page's "Conflicts and windows" section (registered at import)."""

from __future__ import annotations

from typing import Any

from opsdesk.changes import selectors_windows
from opsdesk.changes.models import Change
from opsdesk.changes.sections import Section, register_section

KIND_LABELS = {
    "same_ci": "Same CI",
    "dependent_ci": "Dependent CI",
    "freeze": "Freeze",
    "outside_maintenance": "Outside maintenance",
}


@register_section
def conflicts_section(user: Any, change: Change) -> Section | None:
    has_plan = change.planned_start is not None and change.planned_end is not None
    context: dict[str, Any] = {"has_plan": has_plan, "change": change}
    if has_plan:
        report = selectors_windows.change_windows_report(change)
        zone = report["zone"]
        context.update(
            conflicts=[
                {**c, "label": KIND_LABELS.get(c["kind"], c["kind"])} for c in report["conflicts"]
            ],
            freezes=[
                {
                    **f,
                    "starts_at": f["starts_at"].astimezone(zone),
                    "ends_at": f["ends_at"].astimezone(zone),
                }
                for f in report["freezes"]
            ],
            maintenance=[
                {
                    **m,
                    "starts_at": m["starts_at"].astimezone(zone),
                    "ends_at": m["ends_at"].astimezone(zone),
                }
                for m in report["maintenance"]
            ],
            in_maintenance=report["in_maintenance"],
            zone=zone,
            week=change.planned_start.astimezone(zone).date().isoformat(),
        )
    count = len(context.get("conflicts", []))
    return Section(
        title="Conflicts and windows" + (f" ({count})" if count else ""),
        template="changes/calendar/_section.html",
        context=context,
        order=30,
        column="main",
    )
