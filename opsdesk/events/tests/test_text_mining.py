"""The template miner's memory of texts (`text.mine`): the same templates, and the same
miner state, as Drain3 on its own."""

from __future__ import annotations

import random

from drain3 import TemplateMiner
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.events.correlation import text as textmod

WORDS = ["disk", "full", "on", "db-07", "<NUM>", "latency", "high", "pod", "evicted", "node"]


def _plain(texts: list[str]) -> tuple[list[str], TemplateMiner]:
    tm = TemplateMiner(config=textmod._config())
    out = []
    for t in texts:
        result = tm.add_log_message(t)
        out.append(str(result.get("template_mined") or t))
    return out, tm


def _state(tm: TemplateMiner) -> list[tuple[int, int, str]]:
    # The LRU order too: it decides which cluster goes first when the limit is reached.
    return [(c.cluster_id, c.size, c.get_template()) for c in tm.drain.id_to_cluster.values()]


def _check(texts: list[str]) -> None:
    textmod.forget(-1)
    try:
        remembered = [textmod.mine(-1, t) for t in texts]
        expected, plain = _plain(texts)
        assert remembered == expected
        assert _state(textmod.miner(-1)) == _state(plain)
    finally:
        textmod.forget(-1)


def test_repeated_texts_give_drains_templates_and_state() -> None:
    rng = random.Random(7)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) for _ in range(40)]
    stream = [rng.choice(texts) for _ in range(2000)]
    _check(stream)


def test_repeats_are_answered_from_memory() -> None:
    textmod.forget(-1)
    try:
        drain = textmod.miner(-1).drain
        calls = []
        real = drain.add_log_message
        drain.add_log_message = lambda content: calls.append(content) or real(content)
        for _ in range(50):
            textmod.mine(-1, "disk full on db-07")
            textmod.mine(-1, "pod evicted from node <NUM>")
        # Each text creates its cluster; the second creation drops the memory, so the first
        # text goes to Drain once more; then neither again.
        assert len(calls) == 3
    finally:
        textmod.forget(-1)


def test_memory_is_dropped_when_a_template_changes() -> None:
    textmod.forget(-1)
    try:
        assert textmod.mine(-1, "disk full on db-07") == "disk full on db-07"
        assert "disk full on db-07" in textmod._memo[-1]
        # A similar text generalises the cluster: the remembered answer would be stale.
        assert textmod.mine(-1, "disk full on db-08") == "disk full on <*>"
        assert "disk full on db-07" not in textmod._memo[-1]
        assert textmod.mine(-1, "disk full on db-07") == "disk full on <*>"
    finally:
        textmod.forget(-1)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=4), min_size=1, max_size=8),
    st.lists(st.integers(min_value=0, max_value=7), max_size=60),
)
def test_any_stream_gives_drains_answers(pool: list[list[str]], picks: list[int]) -> None:
    """A few texts, repeated in any order (alerts repeat their texts)."""
    _check([" ".join(pool[i % len(pool)]) for i in picks])
