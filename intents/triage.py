"""Triage: what kind of message this is, read from its words before any item is matched.

A message to a government assistant is not always a request for a service: citizens complain
(投诉, 举报, 扰民, 拖欠 …), suggest (建议, 希望 …), ask about a life event, or write 300 characters
of background with one question at the end. :class:`TriageRules` (``intents/data/triage.yaml``)
reads, without the index:

- the sentences that ask (question words, the shape of a request), so that a long message is
  matched on its question and the rest is left aside;
- complaint and suggestion markers, and the channel a complaint belongs to (劳动保障监察, 12315,
  else 12345);
- word senses: a word read one way unless its context confirms another (生产 near 孩子 is 生育;
  入户 near 供热 is a visit, not 落户; 违法 near 车辆 is a traffic violation);
- a life event (出生, 失业 …) named with nothing more specific.

The dialog (``intents/dialog.py``) decides with this and the index's ranking.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intents.text import normalise

# Where a raw message is cut into sentences (normalising removes the punctuation, so this comes first).
_SENTENCE = re.compile(r"[。！？!?；;\n\r]+|\.{3,}|…+")
_CLAUSE = re.compile(r"[，,、：:]+")
_MARK = "\u3400"
# A message longer than this that asks nothing is read as a report, not a request.
LONG_MESSAGE = 80


def _alternation(words: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({normalise(w).replace(" ", "") for w in words if w}, key=len, reverse=True)
    cleaned = [w for w in cleaned if w]
    return re.compile("|".join(map(re.escape, cleaned))) if cleaned else None


def _count(pattern: re.Pattern[str] | None, text: str) -> int:
    return len(pattern.findall(text)) if pattern is not None else 0


@dataclass(frozen=True)
class Channel:
    """Where a complaint goes: a catalog item, the words that send it there, and what to say."""

    code: str
    reply: str
    words: re.Pattern[str] | None


@dataclass(frozen=True)
class Sense:
    """Read ``word`` as ``reading`` in a message with any ``when`` word (always, when empty) and no ``unless`` word."""

    word: str
    reading: str
    when: re.Pattern[str] | None
    unless: re.Pattern[str] | None
    always: bool

    def applies(self, compact: str) -> bool:
        if self.word not in compact:
            return False
        if self.unless is not None and self.unless.search(compact):
            return False
        return self.always or (self.when is not None and self.when.search(compact) is not None)


@dataclass(frozen=True)
class Triage:
    """What the rules read in one message."""

    text: str  # the whole message, normalised, senses applied, without spaces
    normalised: str  # the whole message normalised (what ``normalise`` gives), for the index
    request: str  # the sentence(s) that ask, else the whole message ("" when it is the text as typed)
    asks: bool  # a sentence asks something
    service_request: bool  # a sentence asks for a service (怎么办理, 需要哪些材料 …)
    complaint: int  # complaint evidence (strong markers count 2, weak ones 1)
    suggestion: int
    channel: Channel | None  # the complaint's channel
    life_event: str | None
    long: bool

    @property
    def reports(self) -> str | None:
        """``complaint`` or ``suggestion`` when the markers say so (the dialog still checks for a real request)."""
        if self.suggestion >= 2 and self.suggestion >= self.complaint:
            return "suggestion"
        if self.complaint >= 2:
            return "complaint"
        if self.long and not self.asks:
            return "complaint"
        return None


class TriageRules:
    """The triage data compiled once per snapshot; :meth:`read` is pure and cheap (a few regex scans)."""

    def __init__(self, data: Mapping[str, Any]):
        data = data or {}
        self.asking = _alternation(data.get("asking", ()))
        self.service_request = _alternation(data.get("service_request", ()))
        complaint = data.get("complaint") or {}
        self.complaint_strong = _alternation(complaint.get("strong", ()))
        self.complaint_weak = _alternation(complaint.get("weak", ()))
        self.suggestion = _alternation(data.get("suggestion", ()))
        self.channels = tuple(
            Channel(str(c["code"]), str(c.get("reply") or ""), _alternation(c.get("words") or ()))
            for c in data.get("channels") or ()
        )
        self.suggestion_reply = str(data.get("suggestion_reply") or "")
        self.senses = tuple(
            Sense(
                normalise(str(s["word"])).replace(" ", ""),
                normalise(str(s.get("as") or "")).replace(" ", ""),
                _alternation(s.get("when") or ()),
                _alternation(s.get("unless") or ()),
                not s.get("when"),
            )
            for s in data.get("senses") or ()
        )
        events: list[tuple[str, str]] = []
        for entry in data.get("life_events") or ():
            events.extend((normalise(str(w)).replace(" ", ""), str(entry["event"])) for w in entry.get("words") or ())
        events.sort(key=lambda pair: len(pair[0]), reverse=True)
        self.life_event_words = {word: event for word, event in events if word}
        self.life_event_pattern = _alternation(self.life_event_words)
        self.filler = _alternation(data.get("life_event_filler") or ())

    @property
    def suggestion_channel(self) -> Channel | None:
        return self.channels[-1] if self.channels else None

    def read_senses(self, compact: str) -> str:
        """The text with every word whose context says so read in its other sense."""
        for sense in self.senses:
            if sense.applies(compact):
                if sense.reading and sense.word in sense.reading:
                    # 违法 → 交通违法处理 must not turn an existing 交通违法 into 交通交通违法处理.
                    before = sense.reading.split(sense.word, 1)[0]
                    compact = compact.replace(sense.reading, "\0")
                    pattern = (f"(?<!{re.escape(before)})" if before else "") + re.escape(sense.word)
                    compact = re.sub(pattern, sense.reading.replace("\\", "\\\\"), compact)
                    compact = compact.replace("\0", sense.reading)
                else:
                    compact = compact.replace(sense.word, sense.reading)
        return compact

    def read(self, text: str) -> Triage:
        """Read one raw message (punctuation still in it: sentences are cut on it)."""
        # One normalising pass over the whole message, sentence ends marked with a character that survives
        # it (a CJK Extension A character no catalog text uses), then cut on the marks.
        marked = normalise(_SENTENCE.sub(_MARK, text))
        sentences = []
        changed = False
        for sentence in marked.split(_MARK):
            compact = sentence.replace(" ", "")
            if compact:
                read = self.read_senses(compact)
                changed |= read != compact
                sentences.append(read)
        whole = "".join(sentences)
        asking = [s for s in sentences if self.asking is not None and self.asking.search(s)]
        service = [s for s in sentences if self.service_request is not None and self.service_request.search(s)]
        chosen = service or asking
        if chosen and len(whole) > 30:
            parts = []
            for sentence in chosen:
                part = self._asking_part(sentence)
                if len(part) < 15:
                    # "应该如何办理" says nothing of what: the sentence before it does.
                    at = sentences.index(sentence)
                    part = (sentences[at - 1] if at else "") + part
                parts.append(part)
            request = " ".join(parts)
        else:
            # The whole message; "" when it reads as typed (the index then gets the raw text, spaces and all).
            request = whole if changed else ""
        complaint = 2 * _count(self.complaint_strong, whole) + _count(self.complaint_weak, whole)
        suggestion = 2 * _count(self.suggestion, whole)
        channel = next((c for c in self.channels if c.words is not None and c.words.search(whole)), None)
        if channel is None and self.channels:
            channel = self.channels[-1]
        return Triage(
            text=whole,
            normalised=" ".join(marked.replace(_MARK, " ").split()),
            request=request,
            asks=bool(asking),
            service_request=bool(service),
            complaint=complaint,
            suggestion=suggestion,
            channel=channel,
            life_event=self._life_event(whole),
            long=len(whole) > LONG_MESSAGE,
        )

    def _asking_part(self, sentence: str) -> str:
        """A long asking sentence cut to its asking clause and the clause before it (what it asks about)."""
        if len(sentence) <= 40:
            return sentence
        clauses = [c for c in _CLAUSE.split(sentence) if c]
        for i, clause in enumerate(clauses):
            if (self.service_request is not None and self.service_request.search(clause)) or (
                self.asking is not None and self.asking.search(clause)
            ):
                return "".join(clauses[max(0, i - 1) : i + 1])
        return sentence

    def _life_event(self, compact: str) -> str | None:
        """The life event the message names when it names nothing more specific ("孩子出生了要办什么")."""
        if self.life_event_pattern is None or len(compact) > 24:
            return None
        found = self.life_event_pattern.search(compact)
        if found is None:
            return None
        rest = self.life_event_pattern.sub("", compact)
        if self.filler is not None:
            rest = self.filler.sub("", rest)
        return self.life_event_words[found.group(0)] if len(rest) <= 1 else None


def life_event_items(payloads: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Life event → the codes of the catalog items that list it, in catalog order."""
    events: dict[str, list[str]] = {}
    for payload in payloads:
        for event in payload.get("life_events") or ():
            events.setdefault(str(event), []).append(str(payload.get("code")))
    return events
