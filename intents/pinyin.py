"""Pinyin features: homophone typos (户照 → 护照) and Latin-letter input (gongjijin tiqu) still match."""

from __future__ import annotations

from functools import lru_cache

from pypinyin.phrases_dict import phrases_dict
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


# pypinyin's phrase dictionary fixes the readings of polyphonic characters in context (银行 → yin hang);
# longer entries are rare and add nothing for matching.
_MAX_PHRASE = 4


def _reading(reading: str) -> str:
    return reading.translate(_TONE_MARKS)


@lru_cache(maxsize=65536)
def hanzi_syllables(text: str) -> tuple[str, ...]:
    """Tone-less syllables of Chinese characters, like pypinyin's ``lazy_pinyin`` (style NORMAL).

    Its data, looked up directly: the longest phrase-dictionary entry at each position, else the
    character's most common reading. ``lazy_pinyin`` costs about 0.1 ms a call in its generic
    pipeline, and building the index calls it for thousands of words.
    """
    syllables: list[str] = []
    i, n = 0, len(text)
    while i < n:
        for length in range(min(_MAX_PHRASE, n - i), 1, -1):
            phrase = phrases_dict.get(text[i : i + length])
            if phrase:
                syllables.extend(_reading(readings[0]) for readings in phrase)
                i += length
                break
        else:
            readings = pinyin_dict.get(ord(text[i]))
            if readings:
                syllables.append(_reading(readings.split(",")[0]))
            i += 1
    return tuple(syllables)
