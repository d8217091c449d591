"""Baselines the intent engine is measured against.

Both train on the same text per intent as :class:`intents.engine.IntentIndex`
does for its strong fields (name, aliases, training phrases, keywords) and
answer in one shape, ``rank(text, limit=5) -> [(intent id, score), ...]`` best
first, so :func:`evaluate` and the benchmark can treat them and the engine alike.

Materials are left out: the engine gives them a weight of 0.3 because the same
documents (身份证, 户口簿) are needed by most services; as whole training
samples or whole-document terms they would only blur the baselines.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from rank_bm25 import BM25Okapi
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from intents.engine import Analyzer, Intent
from intents.text import normalise

Ranking = list[tuple[str, float]]
RankFn = Callable[[str], Sequence[tuple[str, float]]]


def training_texts(intent: Intent) -> list[str]:
    """The texts an intent is known by: its name, aliases, training phrases and keywords."""
    return [intent.name, *intent.aliases, *intent.phrases, *intent.keywords]


def _top(ids: Sequence[str], scores: np.ndarray, limit: int) -> Ranking:
    # A stable sort on the negated scores keeps ties in intent order, so runs are repeatable.
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(ids[i], float(scores[i])) for i in order]


class TfidfBaseline:
    """Character 1–3-gram TF-IDF with a linear SVM, one training sample per text of each intent.

    Character n-grams need no segmentation, which is the point of the baseline:
    it shows what the engine's jieba words and pinyin features add over plain
    surface overlap learnt discriminatively.
    """

    def __init__(self, intents: Sequence[Intent]):
        samples: list[str] = []
        labels: list[str] = []
        for intent in intents:
            for text in training_texts(intent):
                normalised = normalise(text)
                if normalised:
                    samples.append(normalised)
                    labels.append(intent.id)
        if len(set(labels)) < 2:
            raise ValueError("TfidfBaseline needs at least two intents with some text")
        # sublinear_tf: a repeated character in one short phrase should not dominate it.
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True)
        features = self.vectorizer.fit_transform(samples)
        # LinearSVC (one-vs-rest) trains in well under a second on a few thousand samples and
        # hundreds of classes, where multinomial logistic regression takes many seconds.
        self.classifier = LinearSVC(C=1.0)
        self.classifier.fit(features, labels)
        self.ids: list[str] = [str(c) for c in self.classifier.classes_]

    def rank(self, text: str, limit: int = 5) -> Ranking:
        """Intent ids by decision value, best first; [] when nothing of the text is left after normalising."""
        normalised = normalise(text)
        if not normalised:
            # An all-zero vector would rank by the intercepts alone: that is no answer.
            return []
        decision = self.classifier.decision_function(self.vectorizer.transform([normalised]))
        scores = np.asarray(decision, dtype=float).ravel()
        if len(self.ids) == 2:
            # Binary problems give one value, positive for classes_[1].
            scores = np.array([-scores[0], scores[0]])
        return _top(self.ids, scores, limit)


class RankBM25Baseline:
    """Plain Okapi BM25 (rank_bm25) over the engine's jieba words, one document per intent.

    Same tokens as the engine's word features (government vocabulary, stopwords
    removed) but no character or pinyin features, no field weights, no
    synonyms, and a scan over every document per query term instead of postings.
    """

    def __init__(self, intents: Sequence[Intent], analyzer: Analyzer):
        self.analyzer = analyzer
        self.ids: list[str] = [intent.id for intent in intents]
        corpus = [
            [token for text in training_texts(intent) for token in analyzer.words(normalise(text))]
            for intent in intents
        ]
        if not corpus:
            raise ValueError("RankBM25Baseline needs at least one intent")
        self.bm25 = BM25Okapi(corpus)

    def tokenize(self, text: str) -> list[str]:
        """The query's words, as the engine's analyzer cuts them."""
        return self.analyzer.words(normalise(text))

    def rank_tokens(self, tokens: Sequence[str], limit: int = 5) -> Ranking:
        """Rank from already tokenised text (lets the benchmark time scoring on its own)."""
        if not tokens:
            return []
        scores = self.bm25.get_scores(tokens)
        # Documents sharing no term score 0: like the engine, do not offer them as candidates.
        return [(intent_id, score) for intent_id, score in _top(self.ids, scores, limit) if score > 0]

    def rank(self, text: str, limit: int = 5) -> Ranking:
        """Intent ids by BM25 score, best first; only intents sharing a word with the text."""
        return self.rank_tokens(self.tokenize(text), limit)


def evaluate(rank_fn: RankFn, rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Top-1 and top-3 accuracy of ``rank_fn`` over the in-scope rows, overall and per kind.

    ``rank_fn(text)`` returns (intent id, score) pairs best first. A row is
    ``{"text", "expected": [ids], "kind"}``; rows with no expected id are out of
    scope and only counted (how well they are refused is a different measure). A
    prediction is a hit when its id is any of the expected ones.

    Returns ``{"n", "top1", "top3", "out_of_scope", "by_kind": {kind: {"n", "top1", "top3"}}}``
    with accuracies as fractions (0.0 when there are no rows).
    """
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # kind → [n, top-1 hits, top-3 hits]
    out_of_scope = 0
    for row in rows:
        expected = set(row.get("expected") or ())
        if not expected:
            out_of_scope += 1
            continue
        ranked = [intent_id for intent_id, _score in rank_fn(str(row["text"]))][:3]
        for kind in ("*", str(row.get("kind") or "unknown")):
            counts = hits[kind]
            counts[0] += 1
            counts[1] += bool(ranked) and ranked[0] in expected
            counts[2] += any(intent_id in expected for intent_id in ranked)

    def fractions(counts: list[int]) -> dict[str, Any]:
        n, top1, top3 = counts
        return {"n": n, "top1": top1 / n if n else 0.0, "top3": top3 / n if n else 0.0}

    overall = fractions(hits.pop("*", [0, 0, 0]))
    return {
        **overall,
        "out_of_scope": out_of_scope,
        "by_kind": {kind: fractions(counts) for kind, counts in sorted(hits.items())},
    }
