"""The index's search adds up exactly the postings of the question's features, ranks ties by catalog order,
and reports coverage from the same weights, whatever the postings' layout in memory."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from app.catalog import SEED_DIR, catalog_files, validate_sources
from intents.build import build_assistant
from intents.engine import Analyzer, Intent, IntentIndex
from intents.scoring import best_intents

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT / "intents" / "data" / "assistant_dev.jsonl"


@pytest.fixture(scope="module")
def index() -> IntentIndex:
    return build_assistant(validate_sources(catalog_files(SEED_DIR))).index


def plain_scores(index: IntentIndex, text: str) -> dict[int, float]:
    """Score per intent position, one posting at a time, straight from the feature's slice."""
    scores: dict[int, float] = {}
    for feature, count in index.analyzer.features(text, expand=True).items():
        row = index._rows.get(feature)
        if row is None:
            continue
        start, length = int(index._starts[row]), int(index._lengths[row])
        for k in range(start, start + length):
            position = int(index._posting_intents[k])
            scores[position] = scores.get(position, 0.0) + float(index._posting_scores[k]) * min(count, 2.0)
    return scores


def test_search_ranks_as_the_plain_sum_of_postings(index: IntentIndex) -> None:
    texts = [json.loads(line)["text"] for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    assert len(texts) > 300
    for text in texts:
        expected = plain_scores(index, text)
        best = sorted(((-score, position) for position, score in expected.items() if score > 0))[:8]
        result = index.search(text, limit=8)
        got = [(candidate.intent.id, candidate.score) for candidate in result.candidates]
        assert [intent_id for intent_id, _ in got] == [index.intents[p].id for _, p in best], text
        for (_, score), (negated, _) in zip(got, best, strict=True):
            assert math.isclose(score, -negated, rel_tol=1e-9), text


def test_coverage_counts_known_and_unknown_features(index: IntentIndex) -> None:
    result = index.search("护照丢了 zzqqxx火星签证")
    best = result.best
    assert best is not None and best.intent.id.startswith("440000-CRJ")
    assert 0.0 < best.coverage < 1.0  # the made-up words count against it
    assert best.core_coverage <= best.coverage
    assert "护照丢了" in best.matched  # a word of the government dictionary, kept whole
    alone = index.search("护照丢了").best
    assert alone is not None and alone.coverage > best.coverage


def test_equal_scores_rank_the_earlier_intent_first() -> None:
    twins = [Intent(id=f"twin-{k}", name="居住证办理", phrases=("办居住证",)) for k in range(7)]
    index = IntentIndex(twins, Analyzer(["居住证"]))
    result = index.search("居住证", limit=5)
    assert [c.intent.id for c in result.candidates] == [f"twin-{k}" for k in range(5)]
    assert len({c.score for c in result.candidates}) == 1


def test_restrict_and_nothing_known(index: IntentIndex) -> None:
    code = "440000-CRJ-004-03"
    restricted = index.search("护照", restrict=frozenset({code}))
    assert [c.intent.id for c in restricted.candidates] == [code]
    assert index.search("zzqqxx").candidates == ()
    assert index.search("").candidates == ()


@pytest.mark.parametrize("seed", range(20))
def test_compiled_scoring_is_the_python_function(seed: int) -> None:
    """numba's machine code gives what the same function gives run by the interpreter: ties, unknown
    features, counts above the cap, a restriction and a limit above the matches included."""
    rng = np.random.default_rng(seed)
    n_intents, n_rows = int(rng.integers(1, 40)), int(rng.integers(1, 30))
    lengths = rng.integers(0, 6, n_rows).astype(np.intp)
    starts = (np.cumsum(lengths) - lengths).astype(np.intp)
    total = int(lengths.sum())
    posting_intents = rng.integers(0, n_intents, total).astype(np.intp)
    posting_scores = rng.choice([0.5, 1.0, 1.25], total)  # few values: equal sums happen
    rows = rng.integers(-1, n_rows, int(rng.integers(0, 12))).astype(np.intp)
    counts = rng.choice([0.8, 1.0, 2.0, 3.0], len(rows))
    allowed = rng.random(n_intents) < 0.7 if seed % 2 else np.zeros(0, np.bool_)
    limit = int(rng.integers(1, 8))

    def run(function: Callable[..., int]) -> tuple[list[int], list[float]]:
        positions, best = np.full(limit, -7, np.intp), np.full(limit, -7.0)
        found = function(
            starts,
            lengths,
            posting_intents,
            posting_scores,
            rows,
            counts,
            allowed,
            np.zeros(n_intents),
            positions,
            best,
        )
        return positions.tolist()[:found], best.tolist()[:found]

    compiled = run(best_intents)
    assert compiled == run(best_intents.py_func)
    # And both are the plain ranking: score descending, catalog order on ties, nothing at zero.
    scores = np.zeros(n_intents)
    for row, count in zip(rows.tolist(), counts.tolist(), strict=True):
        if row >= 0:
            for k in range(starts[row], starts[row] + lengths[row]):
                scores[posting_intents[k]] += posting_scores[k] * min(count, 2.0)
    if allowed.size:
        scores[~allowed] = 0.0
    expected = sorted((-s, p) for p, s in enumerate(scores.tolist()) if s > 0)[:limit]
    assert compiled == ([p for _, p in expected], [-s for s, _ in expected])


def test_scoring_compiles_without_a_writable_cache_folder() -> None:
    """A read-only install with no writable cache folder anywhere compiles in every process instead
    of failing at import (numba raises "no locator available" for ``cache=True`` there)."""
    script = (
        "import numpy as np\n"
        "from intents.scoring import best_intents\n"
        "one, top = np.zeros(1, np.intp), np.zeros(5, np.intp)\n"
        "found = best_intents(one, one + 2, np.array([1, 0]), np.array([0.5, 2.0]), one, np.ones(1),\n"
        "                     np.zeros(0, np.bool_), np.zeros(2), top, np.zeros(5))\n"
        "print(top[:found].tolist())\n"
    )
    # Only the IPython locator: for a module file it finds no folder, as when none is writable.
    env = {**os.environ, "NUMBA_CACHE_LOCATOR_CLASSES": "IPythonCacheLocator"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 1]"
