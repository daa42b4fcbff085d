"""Text templates of alerts: Drain3 template mining, one miner per organisation kept in
memory (the templates are stored on each alert, so a restarted worker loses nothing it
needs: groups compare the stored templates), and a token similarity between templates.

Similarity of two templates (0-1): the better of
- positional: tokens compared position by position over the longer length, a ``<*>``
  on either side counting half (Drain generalises short messages eagerly: "Pod
  evicted" and "Pod restarting" become "Pod <*>", which must not make them alike);
- Jaccard of the sets of non-wildcard tokens (texts that differ in word order or length),
  each wildcard adding half a token to the union.
"""

from __future__ import annotations

import functools
import logging
import re
import threading

from drain3 import TemplateMiner
from drain3.drain import LogCluster
from drain3.template_miner_config import TemplateMinerConfig

WILDCARD = "<*>"
#: Volatile tokens masked before mining when the dedup stage left no normalised text.
_MASKS = [
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<ID>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<IP>"),
    (re.compile(r"\b0x[0-9a-f]+\b", re.I), "<HEX>"),
    (re.compile(r"\b\d+(?:[.,]\d+)*%?"), "<NUM>"),
]
_SPLIT = re.compile(r"[\s,;:=()\[\]{}\"']+")
MAX_MINERS = 1000
#: Texts remembered per miner (`mine`); past this the memory starts again.
MAX_MEMO = 20_000

_lock = threading.Lock()
_miners: dict[int, TemplateMiner] = {}
#: Per organisation: text -> the Drain cluster it went to and that cluster's template, valid
#: while the miner's clusters stay as they were (`mine`).
_memo: dict[int, dict[str, tuple[LogCluster, str]]] = {}

logging.getLogger("drain3").setLevel(logging.WARNING)


def _config() -> TemplateMinerConfig:
    config = TemplateMinerConfig()
    config.drain_sim_th = 0.5
    config.drain_depth = 4
    config.drain_max_clusters = 5000
    config.profiling_enabled = False
    config.parametrize_numeric_tokens = True
    return config


def miner(organization_id: int) -> TemplateMiner:
    with _lock:
        found = _miners.get(organization_id)
        if found is None:
            if len(_miners) >= MAX_MINERS:
                _memo.pop(next(iter(_miners)), None)
                _miners.pop(next(iter(_miners)))
            found = _miners[organization_id] = TemplateMiner(config=_config())
            _memo[organization_id] = {}
        return found


def forget(organization_id: int | None = None) -> None:
    """Drop the in-memory miners (tests, a settings change)."""
    with _lock:
        if organization_id is None:
            _miners.clear()
            _memo.clear()
        else:
            _miners.pop(organization_id, None)
            _memo.pop(organization_id, None)


def mask(text: str) -> str:
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return text


def text_of(normalised_text: str, title: str) -> str:
    return (normalised_text or "").strip() or mask(title or "")


def mine(organization_id: int, text: str) -> str:
    """The template of `text` (learning from it).

    Alerts repeat their texts, and Drain's answer for a text depends only on its clusters:
    while no cluster was created and no template changed, a text seen before goes to the
    same cluster and leaves it as it is. So the miner's answers are remembered per text and
    the memory is dropped whenever Drain reports a change; a remembered answer does what
    Drain does for it (the cluster's size and its place in the LRU order), so the miner ends
    in the state it would have without the memory. Measured with the pipeline benchmark:
    under cProfile and line_profiler, mining was 13-16 % of the correlation stage."""
    if not text.strip():
        return ""
    tm = miner(organization_id)
    memo = _memo.setdefault(organization_id, {})
    found = memo.get(text)
    if found is not None:
        cluster, template = found
        cluster.size += 1
        tm.drain.id_to_cluster[cluster.cluster_id]  # touched, as Drain does
        return template
    cluster, change = tm.drain.add_log_message(tm.masker.mask(text))
    template = cluster.get_template()
    if change != "none" or len(memo) >= MAX_MEMO:
        memo.clear()
    memo[text] = (cluster, template or text)
    return template or text


@functools.lru_cache(maxsize=65_536)
def tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in _SPLIT.split(text.lower()) if t)


@functools.lru_cache(maxsize=262_144)
def similarity(a: str, b: str) -> float:
    """Templates recur across a batch and across groups: the tokens and the score of a pair
    are computed once (cached)."""
    ta, tb = tokens(a), tokens(b)
    if not ta or not tb:
        return 0.0
    equal = sum(
        0.5 if WILDCARD in (x, y) else 1.0 if x == y else 0.0 for x, y in zip(ta, tb, strict=False)
    )
    positional = equal / max(len(ta), len(tb))
    sa = {t for t in ta if t != WILDCARD}
    sb = {t for t in tb if t != WILDCARD}
    unknown = 0.5 * max(ta.count(WILDCARD), tb.count(WILDCARD))
    jaccard = len(sa & sb) / (len(sa | sb) + unknown) if sa | sb else 0.0
    return max(positional, jaccard)
