"""Pinyin features: homophone typos (户照 → 护照) and Latin-letter input (gongjijin tiqu) still match."""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin
from pypinyin.pinyin_dict import pinyin_dict

_TONE_MARKS = str.maketrans(
    "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ",
    "aaaaeeeeiiiioooouuuuvvvvvnnnm",
)


def _all_syllables() -> frozenset[str]:
    syllables: set[str] = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            syllables.add(reading.strip().translate(_TONE_MARKS))
    # "v" stands for ü on keyboards, and people type "lv"/"nv" or "lu"/"nu".
    return frozenset(s for s in syllables if s.isalpha())


SYLLABLES = _all_syllables()
_MAX_SYLLABLE = max(len(s) for s in SYLLABLES)


@lru_cache(maxsize=16384)
def split_latin(word: str) -> tuple[str, ...]:
    """Split a run of Latin letters into pinyin syllables (fewest syllables wins); () if it is not pinyin."""
    n = len(word)
    if n == 0 or n > 60:
        return ()
    best: list[tuple[str, ...] | None] = [None] * (n + 1)
    best[0] = ()
    for end in range(1, n + 1):
        for start in range(max(0, end - _MAX_SYLLABLE), end):
            head = best[start]
            piece = word[start:end]
            if head is not None and piece in SYLLABLES:
                candidate = (*head, piece)
                current = best[end]
                if current is None or len(candidate) < len(current):
                    best[end] = candidate
    return best[n] or ()


@lru_cache(maxsize=65536)
def hanzi_syllables(text: str) -> tuple[str, ...]:
    """Tone-less syllables of Chinese characters (the most common reading of each)."""
    return tuple(lazy_pinyin(text, style=Style.NORMAL, errors="ignore", v_to_u=False))
