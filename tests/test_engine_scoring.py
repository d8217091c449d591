"""The index's search adds up exactly the postings of the question's features, ranks ties by catalog order,
and reports coverage from the same weights, whatever the postings' layout in memory."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from app.catalog import SEED_DIR, catalog_files, validate_sources
from intents.build import build_assistant
from intents.engine import Analyzer, Intent, IntentIndex

DEV_SET = Path(__file__).parent / "data" / "assistant_dev.jsonl"


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
        start, length = (int(v) for v in index._spans[row])
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
