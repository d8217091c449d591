"""Text normalisation: what people type, brought to one form before matching.

Traditional → Simplified (zhconv), full-width → half-width (NFKC), common
Cantonese colloquial words → Mandarin, lower-case Latin, punctuation and emoji
removed. Pure functions; no I/O.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from functools import lru_cache

import zhconv
from zhconv import zhconv as zhconv_tables

MAX_TEXT_LENGTH = 500

# Cantonese colloquial → Mandarin. Longer keys first at use time, so phrases win over their parts.
CANTONESE = {
    "点样": "怎么",
    "點樣": "怎么",
    "点解": "为什么",
    "唔见咗": "丢了",
    "唔見咗": "丢了",
    "唔见左": "丢了",
    "跌咗": "丢了",
    "冇咗": "没了",
    "睇病": "看病",
    "睇医生": "看医生",
    "睇": "看",
    "咩": "什么",
    "乜嘢": "什么",
    "乜": "什么",
    "边度": "哪里",
    "邊度": "哪里",
    "喺边": "在哪",
    "喺": "在",
    "几时": "什么时候",
    "幾時": "什么时候",
    "攞": "拿",
    "搞掂": "办好",
    "搞": "办",
    "冇": "没有",
    "唔该": "谢谢",
    "多谢": "谢谢",
    "唔": "不",
    "嘅": "的",
    "咗": "了",
    "左": "了",
    "系": "是",
    "係": "是",
    "佢": "他",
    "俾": "给",
    "畀": "给",
    "啲": "些",
    "嗰": "那",
    "呢个": "这个",
    "而家": "现在",
    "屋企": "家里",
    "老豆": "父亲",
    "老母": "母亲",
    "细路": "小孩",
    "BB": "宝宝",
    "bb": "宝宝",
    "过咗身": "去世",
    "过身": "去世",
    "炒鱿鱼": "被辞退",
    "返工": "上班",
    "揾工": "找工作",
    "搵工": "找工作",
    "揾": "找",
    "搵": "找",
    "去边": "去哪",
    "要唔要": "要不要",
    "使唔使": "需不需要",
    "几钱": "多少钱",
    "幾錢": "多少钱",
    "点办": "怎么办",
    "啱啱": "刚刚",
    "咁": "这样",
    "嘢": "东西",
}
_CANTONESE_KEYS = sorted(CANTONESE, key=len, reverse=True)
_CANTONESE_RE = re.compile("|".join(re.escape(k) for k in _CANTONESE_KEYS))
# Keep CJK ideographs, Latin letters and digits; everything else (punctuation, emoji, symbols) becomes a space.
_KEEP = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebefa-z0-9]+")
_LATIN_WITH_MARKS = re.compile("[\u00c0-\u02af]")
# "左" and "系" are ordinary Mandarin characters as well; only map them right after a verb-like particle context.
_AMBIGUOUS = {"左", "系"}


def _cantonese(text: str) -> str:
    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        if word in _AMBIGUOUS:
            before = text[max(match.start() - 1, 0) : match.start()]
            # 唔见左 / 办左 / 係 are Cantonese; 左边 / 系统 are not.
            if word == "左" and (not before or text[match.end() : match.end() + 1] in ("边", "右", "手")):
                return word
            if word == "系" and text[match.end() : match.end() + 1] in ("统", "列", "数", "别"):
                return word
        return CANTONESE[word]

    return _CANTONESE_RE.sub(swap, text)


def _conversions() -> tuple[frozenset[str], frozenset[str]]:
    """What zhconv's zh-cn table would change: single characters, and how longer entries begin."""
    table = zhconv_tables.getdict("zh-cn")
    singles = frozenset(k for k, v in table.items() if len(k) == 1 and v != k)
    starts = frozenset(k[:2] for k, v in table.items() if len(k) > 1 and v != k)
    return singles, starts


_CHANGED_CHARS, _CHANGED_STARTS = _conversions()


def to_simplified(text: str) -> str:
    """zhconv's zh-cn conversion (Traditional characters, and Taiwan/Hong Kong words like 身分證).

    Most questions are already Simplified and would come back unchanged: when no character and no
    two-character start of a changing table entry occurs, zhconv's slower scan is skipped.
    """
    if _CHANGED_CHARS.isdisjoint(text) and _CHANGED_STARTS.isdisjoint(map(operator.add, text, text[1:])):
        return text
    return zhconv.convert(text, "zh-cn")


@lru_cache(maxsize=8192)
def normalise(text: str) -> str:
    """One canonical form of ``text`` for matching (may be empty when nothing meaningful is left)."""
    if not text:
        return ""
    text = text[:MAX_TEXT_LENGTH]
    # The quick check costs a tenth of normalize(), which scans even a text it leaves unchanged.
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    if _LATIN_WITH_MARKS.search(text):
        # Tone marks typed with pinyin (hùzhào, lǜ) go; the letters stay.
        text = "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
    text = to_simplified(text)
    text = text.lower()
    text = _cantonese(text)
    return " ".join(_KEEP.sub(" ", text).split())


def has_cjk(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in text)
