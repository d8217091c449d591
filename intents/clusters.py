"""Group similar questions: TF-IDF over character bigrams, cosine similarity, leader clustering.

Pure Python, for the operations console's "what did the assistant fail to understand".
Texts arrive normalised (:func:`intents.text.normalise`) with how often each was asked.
The most asked text of a group leads it; each next text joins the leader it is most
similar to when the cosine reaches ``threshold``, else it leads a new group. An inverted
index over the features keeps this near-linear: a text is compared only with leaders
that share a feature with it.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DEFAULT_THRESHOLD = 0.3
# Characters that make bigrams about asking, not about what is asked ("怎么", "我的", "可以").
_NOISE = frozenset("我你他的了吗呢吧啊怎么样如何什哪里儿要想请问一下个这那在是有去办理能可以还")


def features(text: str) -> dict[str, float]:
    """Character bigrams and (at half weight) single characters of the CJK runs, and whole Latin words."""
    counts: dict[str, float] = defaultdict(float)
    for chunk in text.split():
        if chunk.isascii():
            if len(chunk) > 1:
                counts["w:" + chunk.lower()] += 1
            continue
        cjk = "".join(ch for ch in chunk if ch >= "\u3400")
        # Single characters too, at half weight: 狗证 and 养狗 share only 狗.
        for ch in cjk:
            if ch not in _NOISE:
                counts["c:" + ch] += 0.5
        for i in range(len(cjk) - 1):
            pair = cjk[i : i + 2]
            if pair[0] in _NOISE or pair[1] in _NOISE:
                continue
            counts["b:" + pair] += 1
    return counts


@dataclass
class Cluster:
    """A group of similar questions; ``leader`` is its most asked text."""

    leader: str
    members: list[tuple[str, int]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return hashlib.sha1(self.leader.encode()).hexdigest()[:12]  # noqa: S324 - a label, not security

    @property
    def count(self) -> int:
        return sum(n for _, n in self.members)

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "leader": self.leader,
            "count": self.count,
            "size": len(self.members),
            "texts": [{"text": t, "count": n} for t, n in self.members],
        }


def _vectors(texts: list[str]) -> list[dict[str, float]]:
    raw = [features(t) for t in texts]
    df: Counter[str] = Counter()
    for counts in raw:
        df.update(counts.keys())
    n = len(texts)
    vectors = []
    for counts in raw:
        vector = {f: (c if c < 1 else 1 + math.log(c)) * math.log(1 + n / df[f]) for f, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
        vectors.append({f: v / norm for f, v in vector.items()})
    return vectors


def cluster(
    counts: Mapping[str, int] | Iterable[tuple[str, int]], threshold: float = DEFAULT_THRESHOLD
) -> list[Cluster]:
    """Group ``text → times asked``; answers clusters, the most asked first."""
    pairs = list(counts.items()) if isinstance(counts, Mapping) else list(counts)
    merged: Counter[str] = Counter()
    for text, n in pairs:
        if text.strip():
            merged[text.strip()] += int(n)
    ordered = sorted(merged.items(), key=lambda p: (-p[1], p[0]))
    texts = [t for t, _ in ordered]
    vectors = _vectors(texts)
    clusters: list[Cluster] = []
    leader_vectors: list[dict[str, float]] = []
    postings: dict[str, list[int]] = defaultdict(list)
    for (text, n), vector in zip(ordered, vectors, strict=True):
        scores: dict[int, float] = defaultdict(float)
        for feature, weight in vector.items():
            for leader in postings.get(feature, ()):
                scores[leader] += weight * leader_vectors[leader][feature]
        best = max(scores.items(), key=lambda kv: (kv[1], -kv[0]), default=None)
        if best is not None and best[1] >= threshold:
            clusters[best[0]].members.append((text, n))
            continue
        index = len(clusters)
        clusters.append(Cluster(text, [(text, n)]))
        leader_vectors.append(vector)
        for feature in vector:
            postings[feature].append(index)
    return sorted(clusters, key=lambda c: (-c.count, c.leader))
