"""The lifecycle of a hardware asset: a declared transition table, never an if-tree."""

from __future__ import annotations

from opsdesk.cmdb.choices import AssetLifecycle as L

#: state -> states it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    L.ORDERED: frozenset({L.IN_STOCK, L.IN_USE, L.DISPOSED}),  # disposed: order cancelled / DOA
    L.IN_STOCK: frozenset({L.IN_USE, L.IN_REPAIR, L.RETIRED}),
    L.IN_USE: frozenset({L.IN_STOCK, L.IN_REPAIR, L.RETIRED}),
    L.IN_REPAIR: frozenset({L.IN_USE, L.IN_STOCK, L.RETIRED}),
    L.RETIRED: frozenset({L.IN_STOCK, L.DISPOSED}),  # back to stock: redeployed spare
    L.DISPOSED: frozenset(),  # final: the asset is read-only
}

#: States an asset may be created in (it cannot be born retired or disposed).
INITIAL_STATES: frozenset[str] = frozenset({L.ORDERED, L.IN_STOCK, L.IN_USE, L.IN_REPAIR})

#: Fields a lifecycle change to this state must carry.
REQUIRED_ON_ENTRY: dict[str, tuple[str, ...]] = {
    L.DISPOSED: ("disposed_on", "disposal_method"),
}

#: States in which the asset may no longer be edited.
READ_ONLY_STATES: frozenset[str] = frozenset({L.DISPOSED})

#: States whose warranties no longer matter for the expiring report.
OUT_OF_SERVICE: frozenset[str] = frozenset({L.RETIRED, L.DISPOSED})


def allowed_transitions(state: str) -> list[str]:
    """Target states reachable from `state`, in lifecycle order."""
    order = list(L.values)
    return sorted(TRANSITIONS.get(state, frozenset()), key=order.index)


def can_transition(source: str, target: str) -> bool:
    return target in TRANSITIONS.get(source, frozenset())
