"""The engine's fast paths give exactly what jieba and pypinyin give: the same words, the same readings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.catalog import SEED_DIR, catalog_files, validate_sources
from intents.build import build_assistant
from intents.engine import Analyzer, rjieba
from intents.text import normalise

DEV_SET = Path(__file__).parent.parent / "intents" / "data" / "assistant_dev.jsonl"
EDGE_CASES = [
    "iphone15手机坏了",
    "a1b2c3",
    "gongjijin tiqu",
    "x-ray检查报告",
    "3.5级伤残",
    "100%满意",
    "c++培训补贴",
    "深圳社保卡丢了",
    "㐀㐁生僻字改名",  # CJK extension A: outside jieba's block pattern, so jieba itself is used
    "二〇二四年",
]


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    items = validate_sources(catalog_files(SEED_DIR))
    return build_assistant(items).index.analyzer


@pytest.fixture(scope="module")
def chunks() -> list[str]:
    items = validate_sources(catalog_files(SEED_DIR))
    texts = [str(json.loads(line)["text"]) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    for item in items:
        texts += [item["name"], *item.get("aliases", ()), *item.get("training_phrases", ())]
        texts += [*item.get("conditions", ()), *item.get("steps", ())]
        texts += [m["name"] for m in item.get("materials", ())]
    texts += EDGE_CASES
    return [chunk for text in texts for chunk in normalise(text).split()]


def test_the_corpus_is_large(chunks: list[str]) -> None:
    assert len(chunks) > 5_000


def test_python_fallback_matches_jieba(analyzer: Analyzer, chunks: list[str]) -> None:
    differing = [c for c in chunks if analyzer.segment_python(c) != analyzer.tokenizer.lcut(c, HMM=False)]
    assert differing == []


def test_compiled_segmentation_matches_jieba(analyzer: Analyzer, chunks: list[str]) -> None:
    assert rjieba is not None, "rjieba (jieba-rs) is a project dependency: pip install -e ."
    assert analyzer.compiled is not None
    differing = [c for c in chunks if analyzer.segment(c) != analyzer.tokenizer.lcut(c, HMM=False)]
    assert differing == []


def test_user_dictionary_keeps_government_words_whole(analyzer: Analyzer) -> None:
    assert analyzer.words(normalise("我的港澳通行证在哪里补办")) == ["港澳通行证", "补办"]
    assert analyzer.words(normalise("居住证明年到期")) == ["居住证", "到期"]


def test_pinyin_readings_match_pypinyin(analyzer: Analyzer, chunks: list[str]) -> None:
    from pypinyin import Style, lazy_pinyin

    from intents.pinyin import hanzi_syllables

    words = {w for chunk in chunks for w in analyzer.segment(chunk) if not w.isascii()}
    assert len(words) > 2_000
    differing = [
        w
        for w in words
        if hanzi_syllables(w) != tuple(lazy_pinyin(w, style=Style.NORMAL, errors="ignore", v_to_u=False))
    ]
    assert differing == []
    assert hanzi_syllables("户照") == hanzi_syllables("护照") == ("hu", "zhao")
    assert hanzi_syllables("银行") == ("yin", "hang")


def test_simplified_fast_path_matches_zhconv() -> None:
    import zhconv

    from intents.text import to_simplified

    items = validate_sources(catalog_files(SEED_DIR))
    texts = [str(json.loads(line)["text"]) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]
    texts += [p for item in items for p in (item["name"], *item.get("training_phrases", ()))]
    texts += ["身分證遺失了怎麼補", "身分证掉了", "護照", "乾隆", "电脑软件"]
    assert [to_simplified(t) for t in texts] == [zhconv.convert(t, "zh-cn") for t in texts]
    assert to_simplified("身分证掉了") == "身份证掉了"
