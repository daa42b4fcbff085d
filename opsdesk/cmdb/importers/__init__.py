"""Discovery importers: one module per file format.

Each module has ``parse(payload: bytes, *, options: dict) -> (items, relationships, report)``
producing :class:`~opsdesk.cmdb.reconcile.DiscoveredCI` and
:class:`~opsdesk.cmdb.reconcile.DiscoveredRelationship` rows and a report of malformed input
(``[{row, field, message}]``). Importers never raise on bad content; they report it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from opsdesk.cmdb.choices import ImportFormat

#: format -> module (under this package) holding its ``parse``.
MODULES = {
    ImportFormat.CSV: "csvfile",
    ImportFormat.XLSX: "xlsx",
    ImportFormat.AZURE_RESOURCE_GRAPH: "azure",
    ImportFormat.AWS_CONFIG: "aws",
    ImportFormat.GCP_ASSET_INVENTORY: "gcp",
    ImportFormat.KUBERNETES: "kubernetes",
}

ParseResult = tuple[list[Any], list[Any], list[dict[str, Any]]]


def parser_for(format: str) -> Callable[..., ParseResult]:
    """The ``parse`` function of a format; KeyError for an unknown one."""
    module = importlib.import_module(f"{__name__}.{MODULES[format]}")
    return module.parse


def parse(format: str, payload: bytes, options: dict[str, Any] | None = None) -> ParseResult:
    from opsdesk.cmdb.reconcile import paused_gc

    with paused_gc():
        return parser_for(format)(payload, options=options or {})
