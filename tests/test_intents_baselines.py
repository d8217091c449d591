"""The benchmark baselines train and rank on a tiny hand-made catalog; evaluate() counts right."""

from __future__ import annotations

import pytest

from intents.baselines import RankBM25Baseline, TfidfBaseline, evaluate, training_texts
from intents.engine import Analyzer, Intent, vocabulary_of

INTENTS = [
    Intent(
        id="passport",
        name="普通护照补发",
        aliases=("护照遗失补办", "护照丢失补发"),
        phrases=("护照丢了怎么补办", "出国前发现护照不见了", "护照被偷了要重新办"),
        keywords=("护照", "遗失", "补发"),
    ),
    Intent(
        id="sscard",
        name="社会保障卡补领",
        aliases=("社保卡补办", "社保卡挂失"),
        phrases=("社保卡丢了怎么办", "社保卡坏了要换一张", "医保卡不见了去哪补"),
        keywords=("社保卡", "挂失", "补领"),
    ),
    Intent(
        id="birth",
        name="出生登记",
        aliases=("新生儿上户口", "出生入户"),
        phrases=("孩子刚出生户口怎么上", "宝宝出生了要去派出所登记"),
        keywords=("出生", "户口", "新生儿"),
    ),
    Intent(
        id="marriage",
        name="内地居民结婚登记",
        aliases=("领结婚证", "结婚登记"),
        phrases=("我们想去领证", "结婚证在哪里办"),
        keywords=("结婚", "婚姻登记"),
    ),
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    vocabulary = vocabulary_of(
        {"name": intent.name, "aliases": list(intent.aliases), "keywords": list(intent.keywords)} for intent in INTENTS
    )
    return Analyzer(vocabulary)


@pytest.fixture(scope="module")
def tfidf() -> TfidfBaseline:
    return TfidfBaseline(INTENTS)


@pytest.fixture(scope="module")
def bm25(analyzer: Analyzer) -> RankBM25Baseline:
    return RankBM25Baseline(INTENTS, analyzer)


def test_training_texts_are_name_aliases_phrases_keywords():
    intent = Intent(id="x", name="名", aliases=("别",), phrases=("句",), keywords=("词",), materials=("材料",))
    assert training_texts(intent) == ["名", "别", "句", "词"]


@pytest.mark.parametrize("baseline", ["tfidf", "bm25"])
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("护照丢了", "passport"),
        ("社保卡不见了", "sscard"),
        ("小孩出生了怎么上户口", "birth"),
        ("想领结婚证", "marriage"),
        # Traditional characters are normalised before either baseline sees them.
        ("護照遺失了", "passport"),
    ],
)
def test_baselines_rank_the_right_intent_first(request, baseline, text, expected):
    ranker = request.getfixturevalue(baseline)
    ranked = ranker.rank(text)
    assert ranked, text
    assert ranked[0][0] == expected
    # The passport must beat the social-security card outright, not by a tie.
    if expected == "passport":
        scores = dict(ranked)
        assert scores["passport"] > scores.get("sscard", float("-inf"))


@pytest.mark.parametrize("baseline", ["tfidf", "bm25"])
def test_rank_shape_limit_and_order(request, baseline):
    ranked = request.getfixturevalue(baseline).rank("护照丢了补办", limit=2)
    assert 1 <= len(ranked) <= 2
    assert all(isinstance(intent_id, str) and isinstance(score, float) for intent_id, score in ranked)
    assert [score for _, score in ranked] == sorted((score for _, score in ranked), reverse=True)


@pytest.mark.parametrize("baseline", ["tfidf", "bm25"])
def test_nothing_left_after_normalising_ranks_nothing(request, baseline):
    assert request.getfixturevalue(baseline).rank("？！…😀") == []


def test_bm25_offers_only_intents_sharing_a_word(bm25):
    ranked = bm25.rank("护照")
    assert [intent_id for intent_id, _ in ranked] == ["passport"]


def test_tfidf_with_two_intents_ranks_both_ways():
    baseline = TfidfBaseline(INTENTS[:2])
    assert baseline.rank("护照丢了")[0][0] == "passport"
    assert baseline.rank("社保卡丢了")[0][0] == "sscard"


def test_tfidf_needs_two_intents():
    with pytest.raises(ValueError):
        TfidfBaseline(INTENTS[:1])


def test_bm25_works_without_a_vocabulary():
    baseline = RankBM25Baseline(INTENTS, Analyzer())
    assert baseline.rank("护照丢了")[0][0] == "passport"


def test_evaluate_counts_top1_top3_overall_and_per_kind():
    answers = {
        "a": [("x", 3.0), ("y", 2.0), ("z", 1.0)],  # top-1 hit
        "b": [("x", 3.0), ("y", 2.0), ("z", 1.0), ("w", 0.5)],  # top-3 hit only
        "c": [("x", 3.0), ("y", 2.0), ("z", 1.0), ("w", 0.5)],  # miss: "w" is 4th
        "d": [("x", 1.0)],  # out of scope: skipped
    }
    rows = [
        {"text": "a", "expected": ["x"], "kind": "colloquial"},
        {"text": "b", "expected": ["q", "z"], "kind": "colloquial"},
        {"text": "c", "expected": ["w"], "kind": "typo"},
        {"text": "d", "expected": [], "kind": "out_of_scope"},
    ]
    result = evaluate(lambda text: answers[text], rows)
    assert result["n"] == 3
    assert result["top1"] == pytest.approx(1 / 3)
    assert result["top3"] == pytest.approx(2 / 3)
    assert result["out_of_scope"] == 1
    assert result["by_kind"] == {
        "colloquial": {"n": 2, "top1": 0.5, "top3": 1.0},
        "typo": {"n": 1, "top1": 0.0, "top3": 0.0},
    }


def test_evaluate_with_no_answers_and_no_rows():
    assert evaluate(lambda text: [], [{"text": "a", "expected": ["x"], "kind": "k"}])["top1"] == 0.0
    assert evaluate(lambda text: [], []) == {"n": 0, "top1": 0.0, "top3": 0.0, "out_of_scope": 0, "by_kind": {}}
