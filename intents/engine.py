"""The intent index: BM25-style scoring over words, character bigrams and pinyin bigrams.

An :class:`IntentIndex` is built once from intents (every catalog item is one,
with its name, aliases, keywords, training phrases and materials) and is
immutable afterwards: a new release builds a new index and swaps it in whole.

Scoring. Each intent is one document whose fields carry weights
(name > aliases and training phrases > keywords > materials). A text yields
three kinds of features: jieba words (with a user dictionary of government
vocabulary), character bigrams (robust to segmentation) and pinyin syllable
bigrams (homophone typos and Latin-letter input). Per feature and intent the
BM25 contribution is precomputed at build time, so a match is a sum over
postings. Synonyms expand query words before lookup.

Confidence. ``coverage`` is the share of the query's IDF-weighted features
found in the best intent (unknown words count as rare ones), so a question
about the weather scores low however its few words happen to match; ``margin``
compares the best two intents.
"""

from __future__ import annotations

import math
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise, repeat
from typing import Any

import jieba
import numpy as np

try:
    import rjieba
except ImportError:  # pragma: no cover - an optional accelerator; the Python path gives the same words
    rjieba = None  # type: ignore[assignment]

from intents.pinyin import hanzi_syllables, split_latin
from intents.scoring import MAX_COUNT, best_intents
from intents.text import normalise

FIELD_WEIGHTS = {"name": 3.0, "alias": 2.0, "phrase": 1.0, "keyword": 1.5, "material": 0.3}
KIND_WEIGHTS = {"w": 1.0, "c": 0.6, "p": 0.7}
BM25_K1 = 2.0
BM25_B = 0.6
# Texts longer than this (normalised characters) are matched without pinyin bigrams.
PINYIN_UP_TO = 80
# A synonym found in the question counts this much of a word typed.
SYNONYM_WEIGHT = 0.8
# A question that is exactly an item's name (normalised) ranks that item first, this far ahead of the
# next one: variants named with a suffix ("…（终止）") share every word and would otherwise tie.
EXACT_NAME_LEAD = 1.2
_EXACT_SEED = 1e6

# Words that carry no meaning about which service is wanted.
_STOPWORD_TEXT = """
我 你 他 她 我们 的 了 吗 呢 吧 啊 呀 么 嘛 哦 和 与 及 或 是 在 有 要 想
需要 应该 可以 能 能不能 可不可以 怎么 怎么样 怎样 如何 什么 哪里 哪儿 哪 哪个 去哪
在哪 哪些 多少 几 请问 请 一下 一个 个 这个 那个 办 办理 弄 搞 做 申请 咨询 问
问下 问问 下 上 去 来 到 给 帮 帮我 麻烦 还 就 都 也 又 再 才 得 地 着 吗 么
呢 啦 喔 嗯 是不是 有没有 要不要 需不需要 现在 时候 什么时候 手续 流程 材料 东西 事
事情 情况 谁 自己 别人 一台 一张 一次 一点 一些 这样 那样 然后 但是 但 因为 所以
如果 的话 才能 已经 还是 或者 今天 明天 昨天 今年 明年 去年 几点 几号 多久 怎么弄
怎么办 好 很 太 最 比较 知道 告诉 看看 说 讲
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Intent:
    """One thing a person can want: usually one catalog item."""

    id: str
    name: str
    aliases: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    materials: tuple[str, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: Mapping[str, Any], extra_phrases: Iterable[str] = ()) -> Intent:
        return cls(
            id=str(item["code"]),
            name=str(item["name"]),
            aliases=tuple(item.get("aliases") or ()),
            phrases=tuple(item.get("training_phrases") or ()) + tuple(extra_phrases),
            keywords=tuple(item.get("keywords") or ()),
            materials=tuple(m["name"] if isinstance(m, Mapping) else str(m) for m in item.get("materials") or ()),
            payload=dict(item),
        )


class QueryEvidence:
    """What a question brings to coverage: each found feature's weight (kind × count × IDF) and the
    weight of all its features, unknown ones included. Worked out when a candidate's measures are
    first read, once for all the candidates of one search."""

    def __init__(self, query: Mapping[str, float], rows: np.ndarray, index: IntentIndex):
        self._inputs = (query, rows, index)  # rows: each feature's postings row, -1 when unknown

    @cached_property
    def _rows(self) -> list[int]:
        return self._inputs[1].tolist()  # type: ignore[no-any-return]

    @cached_property
    def weights(self) -> dict[str, float]:
        """Found feature → its weight, in the question's order."""
        query, _, index = self._inputs
        return {
            feature: float(index._weights[row]) * min(count, MAX_COUNT)
            for (feature, count), row in zip(query.items(), self._rows, strict=True)
            if row >= 0
        }

    @cached_property
    def total(self) -> float:
        query, _, index = self._inputs
        unknown = index._unknown_weight
        missing = sum(
            unknown[feature[0]] * min(count, MAX_COUNT)
            for (feature, count), row in zip(query.items(), self._rows, strict=True)
            if row < 0
        )
        return missing + sum(self.weights.values())


class Candidate:
    """One ranked intent. Its measures are worked out when first read: the dialog reads the best
    candidate's, the console all of them, and a plain search none."""

    def __init__(
        self, intent: Intent, score: float, features: frozenset[str], query: QueryEvidence, core: frozenset[str]
    ):
        self.intent = intent
        self.score = score
        self._features = features  # every feature of the intent
        self._query = query
        self._core = core  # the intent's features from its name, aliases and keywords

    @cached_property
    def _found(self) -> frozenset[str]:
        """The question's features this intent has."""
        return self._features.intersection(self._query.weights)

    @cached_property
    def coverage(self) -> float:
        """The IDF-weighted share of the question found in this intent."""
        return sum(map(self._query.weights.__getitem__, self._found)) / self._query.total

    @cached_property
    def core_coverage(self) -> float:
        """The share found in the intent's name, aliases and keywords alone: colloquial training
        phrases share everyday words ("明天", "买") with anything, official terms do not."""
        weights = self._query.weights
        return sum(map(weights.__getitem__, self._core.intersection(self._found))) / self._query.total

    @property
    def matched(self) -> tuple[str, ...]:
        """The question's words found in this intent, in the question's order."""
        return tuple(f[2:] for f in self._query.weights if f[0] == "w" and f in self._found)

    def __repr__(self) -> str:
        return f"Candidate({self.intent.id!r}, score={self.score:.2f})"


@dataclass(frozen=True)
class MatchResult:
    """Ranked candidates (best first) with the measures the dialog decides on."""

    text: str
    normalised: str
    candidates: tuple[Candidate, ...]

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def margin(self) -> float:
        """1.0 when the best stands alone, near 0 when the second is as good."""
        if len(self.candidates) < 2 or self.candidates[0].score <= 0:
            return 1.0
        return 1.0 - self.candidates[1].score / self.candidates[0].score


class Analyzer:
    """Text → weighted features. Holds a jieba tokenizer with the government vocabulary."""

    def __init__(self, vocabulary: Iterable[str] = (), synonyms: Mapping[str, Sequence[str]] | None = None):
        user_words: list[str] = []
        for word in vocabulary:
            word = normalise(word).replace(" ", "")
            if 2 <= len(word) <= 12:
                user_words.append(word)
        self.synonyms = {
            normalise(k).replace(" ", ""): [normalise(v) for v in vs] for k, vs in (synonyms or {}).items()
        }
        user_words.extend(key for key in self.synonyms if len(key) >= 2)
        self.user_words = tuple(user_words)
        self._tokenizer: jieba.Tokenizer | None = None
        self._tokenizer_lock = threading.Lock()
        self._log_freq: dict[str, float] = {}
        # jieba-rs (rjieba) runs jieba's algorithm on jieba's dictionary in compiled code; it segments
        # exactly as jieba does here (tests/test_segmentation.py checks it) at a fraction of the cost.
        # With it, jieba itself is loaded only if a text needs it (characters outside its blocks).
        self.compiled = rjieba.Jieba() if rjieba is not None else None
        if self.compiled is not None:
            for word in self.user_words:
                self.compiled.add_word(word, 2000, None)
        else:
            _ = self.tokenizer
        # The dictionary is final now: expand synonyms into words once, not on every question.
        self.synonym_words = {key: [w for v in vs for w in self.words(v)] for key, vs in self.synonyms.items()}

    @property
    def tokenizer(self) -> jieba.Tokenizer:
        """jieba's own tokenizer with the same user dictionary, loaded on first use."""
        if self._tokenizer is None:
            with self._tokenizer_lock:
                if self._tokenizer is None:
                    tokenizer = jieba.Tokenizer()
                    tokenizer.initialize()
                    for word in self.user_words:
                        tokenizer.add_word(word, freq=2000)
                    self._log_total = math.log(tokenizer.total)
                    self._tokenizer = tokenizer
        return self._tokenizer

    def segment(self, chunk: str) -> list[str]:
        """jieba's precise mode without HMM: the words of one chunk of normalised text.

        The Python fallback is one backward pass that builds the DAG and the route together, with the
        word log-probabilities memoised, instead of jieba's generator pipeline: the same words (same
        dictionary, DAG, best route and ties) at about half the cost.
        """
        if not _JIEBA_BLOCK.fullmatch(chunk):
            return self.tokenizer.lcut(chunk, HMM=False)
        if self.compiled is not None:
            return self.compiled.cut(chunk, False)
        return self.segment_python(chunk)

    def segment_python(self, chunk: str) -> list[str]:
        """The same segmentation in Python, for when jieba-rs is not installed."""
        freq, log_freq = self.tokenizer.FREQ, self._log_freq
        log_total = self._log_total
        n = len(chunk)
        score = [0.0] * (n + 1)
        end = [0] * (n + 1)
        for start in range(n - 1, -1, -1):
            best_score, best_end = -math.inf, start
            stop = start
            frag = chunk[start]
            found = False
            while stop < n and frag in freq:
                if freq[frag]:
                    found = True
                    lp = log_freq.get(frag)
                    if lp is None:
                        lp = log_freq[frag] = math.log(freq[frag]) - log_total
                    candidate = lp + score[stop + 1]
                    if candidate >= best_score:
                        best_score, best_end = candidate, stop
                stop += 1
                frag = chunk[start : stop + 1]
            if not found:
                best_score, best_end = -log_total + score[start + 1], start
            score[start], end[start] = best_score, best_end
        words: list[str] = []
        latin = ""
        i = 0
        while i < n:
            j = end[i] + 1
            word = chunk[i:j]
            if j - i == 1 and word.isascii() and word.isalnum():
                latin += word  # jieba glues single Latin letters and digits into one word
            else:
                if latin:
                    words.append(latin)
                    latin = ""
                words.append(word)
            i = j
        if latin:
            words.append(latin)
        return words

    def words(self, normalised: str) -> list[str]:
        return [token for chunk in normalised.split() for token in self.segment(chunk) if token not in STOPWORDS]

    def features(self, text: str, *, expand: bool = False) -> dict[str, float]:
        """Feature → count (floats: expanded synonyms count half)."""
        return self.features_of(normalise(text), expand=expand)

    def features_of(self, normalised: str, *, expand: bool = False, pinyin: bool = True) -> dict[str, float]:
        """``features`` of a text already normalised; ``pinyin`` off leaves out the pinyin bigrams."""
        # Plain dict and get(): a few microseconds less than defaultdict per question, same counts.
        counts: dict[str, float] = {}
        count = counts.get
        words = self.words(normalised)
        if expand:
            synonym_words = self.synonym_words
            for word in words:
                for extra in synonym_words.get(word, ()):
                    key = "w:" + extra
                    counts[key] = count(key, 0.0) + SYNONYM_WEIGHT
        syllables: list[str] = []
        for word in words:
            if word.isascii():
                if word.isalpha():
                    pieces = split_latin(word)
                    if pieces:
                        # Pinyin typed in Latin letters: only its syllables can match, and question words go.
                        if "".join(pieces) not in _PINYIN_STOPWORDS:
                            syllables.extend(pieces)
                        continue
            elif pinyin:
                syllables.extend(hanzi_syllables(word))
            key = "w:" + word
            counts[key] = count(key, 0.0) + 1.0
        for chunk in normalised.split():
            cjk = _NOT_CJK.sub("", chunk)
            for start in range(len(cjk) - 1):
                pair = cjk[start : start + 2]
                if pair not in _SKIPPED_BIGRAMS:
                    key = "c:" + pair
                    counts[key] = count(key, 0.0) + 1.0
        for first, second in pairwise(syllables):
            key = "p:" + first + second
            counts[key] = count(key, 0.0) + 1.0
        return counts


_NOT_CJK = re.compile(r"[^\u3400-\U0002ffff]+")
# What jieba treats as one block in precise mode; other characters go through jieba itself.
_JIEBA_BLOCK = re.compile(r"[\u4E00-\u9FD5a-zA-Z0-9+#&._%\-]+")
_PINYIN_STOPWORDS = frozenset("".join(hanzi_syllables(w)) for w in STOPWORDS)

# Bigrams made only of these characters are noise ("怎么", "我的").
_BIGRAM_SKIP = frozenset("我你他的了吗呢吧啊怎么样如何什哪里儿要想请问一下个这那在是有去办理能可以")
_SKIPPED_BIGRAMS = frozenset(first + second for first in _BIGRAM_SKIP for second in _BIGRAM_SKIP)


class IntentIndex:
    """Immutable inverted index over intents."""

    def __init__(self, intents: Sequence[Intent], analyzer: Analyzer):
        self.intents = tuple(intents)
        self.analyzer = analyzer
        self.by_id = {intent.id: intent for intent in self.intents}
        doc_features: list[dict[str, float]] = []
        core: list[frozenset[str]] = []
        # The same standard item exists in many regions with the same texts: each distinct text is
        # tokenised once, and each distinct document's features are worked out (and kept) once.
        text_features: dict[str, dict[str, float]] = {}
        documents: dict[tuple[Any, ...], tuple[dict[str, float], frozenset[str], frozenset[str]]] = {}
        frozen: list[frozenset[str]] = []
        for intent in self.intents:
            key = (intent.name, intent.aliases, intent.phrases, intent.keywords, intent.materials)
            known = documents.get(key)
            if known is None:
                weighted: dict[str, float] = defaultdict(float)
                core_features: set[str] = set()
                for field_name, texts in (
                    ("name", (intent.name,)),
                    ("alias", intent.aliases),
                    ("phrase", intent.phrases),
                    ("keyword", intent.keywords),
                    ("material", intent.materials),
                ):
                    for text in texts:
                        found = text_features.get(text)
                        if found is None:
                            found = text_features[text] = analyzer.features(text)
                        for feature, count in found.items():
                            weighted[feature] += FIELD_WEIGHTS[field_name] * count
                            if field_name in ("name", "alias", "keyword"):
                                core_features.add(feature)
                known = documents[key] = (dict(weighted), frozenset(core_features), frozenset(weighted))
            doc_features.append(known[0])
            core.append(known[1])
            frozen.append(known[2])
        self.core = tuple(core)
        n_docs = max(len(self.intents), 1)
        lengths = [sum(f.values()) for f in doc_features]
        average = (sum(lengths) / n_docs) or 1.0
        document_frequency: dict[str, int] = defaultdict(int)
        for features in doc_features:
            for feature in features:
                document_frequency[feature] += 1
        self.idf = {f: math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) for f, df in document_frequency.items()}
        self.max_idf = math.log(1 + (n_docs + 0.5) / 0.5)
        postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for doc_id, features in enumerate(doc_features):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[doc_id] / average)
            for feature, tf in features.items():
                bm25 = self.idf[feature] * tf * (BM25_K1 + 1) / (tf + norm)
                postings[feature].append((doc_id, KIND_WEIGHTS[feature[0]] * bm25))
        self._build_table(postings)
        self._unknown_weight = {kind: weight * self.max_idf for kind, weight in KIND_WEIGHTS.items()}
        self.doc_features = tuple(frozen)
        self.position = {intent.id: i for i, intent in enumerate(self.intents)}
        self._exact: dict[str, list[int]] = defaultdict(list)
        for i, intent in enumerate(self.intents):
            self._exact[normalise(intent.name).replace(" ", "")].append(i)
        # Masks of large restrictions (a region's items), built once per restriction and index.
        self._masks: dict[frozenset[str], np.ndarray] = {}

    def _build_table(self, postings: Mapping[str, Sequence[tuple[int, float]]]) -> None:
        """Lay the postings out for :func:`intents.scoring.best_intents`.

        Each feature has a row: where its postings start in two flat arrays (intent positions and
        kind-weighted BM25) and how many there are. A question's features find their rows with one
        C-level ``map`` over a dict; everything after that is one compiled call.
        """
        features = list(postings)
        self._rows = {feature: row for row, feature in enumerate(features)}
        self._lengths = np.fromiter((len(postings[f]) for f in features), np.intp, len(features))
        self._starts = np.cumsum(self._lengths) - self._lengths
        self._weights = np.fromiter((KIND_WEIGHTS[f[0]] * self.idf[f] for f in features), np.float64, len(features))
        flat = [entry for f in features for entry in postings[f]]
        self._posting_intents = np.fromiter((d for d, _ in flat), np.intp, len(flat))
        self._posting_scores = np.fromiter((c for _, c in flat), np.float64, len(flat))
        self._everyone = np.zeros(0, np.bool_)
        # Compiles best_intents, or loads it from numba's cache, now rather than on the first question.
        self._best(np.zeros(0, np.intp), np.zeros(0), self._everyone, 1)

    def _best(
        self, rows: np.ndarray, counts: np.ndarray, allowed: np.ndarray, limit: int, exact: Sequence[int] = ()
    ) -> tuple[list[int], list[float]]:
        positions, scores = np.empty(limit, np.intp), np.empty(limit)
        start = np.zeros(len(self.intents))
        if exact:
            # Seeded far ahead so the compiled loop keeps them among the best; taken off again below.
            start[list(exact)] = _EXACT_SEED
        found = best_intents(
            self._starts,
            self._lengths,
            self._posting_intents,
            self._posting_scores,
            rows,
            counts,
            allowed,
            start,
            positions,
            scores,
        )
        if not exact:
            return positions.tolist()[:found], scores.tolist()[:found]
        ranked = list(zip(positions.tolist()[:found], scores.tolist()[:found], strict=True))
        exact_set = set(exact)
        others = [(p, s) for p, s in ranked if p not in exact_set]
        floor = others[0][1] * EXACT_NAME_LEAD if others else 0.0
        leading = [(p, max(s - _EXACT_SEED, floor)) for p, s in ranked if p in exact_set]
        return [p for p, _ in leading + others], [s for _, s in leading + others]

    @property
    def feature_count(self) -> int:
        return len(self._rows)

    @property
    def posting_count(self) -> int:
        return len(self._posting_intents)

    def search(
        self, text: str, limit: int = 5, restrict: frozenset[str] | None = None, *, normalised: str | None = None
    ) -> MatchResult:
        """Rank intents for ``text``; ``restrict`` limits the answer to some intent ids; ``normalised``:
        ``normalise(text)`` when the caller already has it."""
        if normalised is None:
            normalised = normalise(text)
        # A long message is typed, not spelt out in pinyin or full of homophone typos: its pinyin
        # bigrams would add a third of the features (and of the time) for nothing.
        query = self.analyzer.features_of(normalised, expand=True, pinyin=len(normalised) <= PINYIN_UP_TO)
        if not query or limit < 1:
            return MatchResult(text, normalised, ())
        rows = np.fromiter(map(self._rows.get, query, repeat(-1)), np.intp, len(query))
        counts = np.fromiter(query.values(), np.float64, len(query))
        allowed = self._everyone
        if restrict is not None:
            allowed = self._masks.get(restrict)  # type: ignore[assignment]
            if allowed is None:
                allowed = np.zeros(len(self.intents), np.bool_)
                allowed[[self.position[i] for i in restrict if i in self.position]] = True
                if len(restrict) >= 32 and len(self._masks) < 64:
                    self._masks[restrict] = allowed
        exact = self._exact.get(normalised.replace(" ", ""), ())
        positions, scores = self._best(rows, counts, allowed, limit, exact)
        evidence = QueryEvidence(query, rows, self)
        candidates = [
            Candidate(self.intents[i], score, self.doc_features[i], evidence, self.core[i])
            for i, score in zip(positions, scores, strict=True)
        ]
        return MatchResult(text, normalised, tuple(candidates))


_SPLIT = re.compile(r"[\s,，、/]+")


def vocabulary_of(items: Iterable[Mapping[str, Any]]) -> set[str]:
    """Words jieba should keep whole: item names' parts, aliases, keywords, material names."""
    words: set[str] = set()
    for item in items:
        for text in [*(item.get("aliases") or ()), *(item.get("keywords") or ())]:
            words.update(p for p in _SPLIT.split(str(text)) if p)
        for material in item.get("materials") or ():
            name = material["name"] if isinstance(material, Mapping) else str(material)
            words.add(name)
        name = re.sub(r"（.*?）|\(.*?\)", "", str(item.get("name", "")))
        words.add(name)
    return words
