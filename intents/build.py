"""Build an assistant snapshot from catalog items and the intent data files."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from intents.dialog import OUT_OF_SCOPE_PREFIX, Assistant, Family, Thresholds
from intents.engine import Analyzer, Intent, IntentIndex, vocabulary_of
from intents.triage import TriageRules

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_yaml(path: Path) -> Any:
    if not path.exists():
        return None
    # Parsed once per version of the file: every rebuild of the engine (a catalog import) reads them.
    return _parsed_yaml(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _parsed_yaml(path: Path, mtime_ns: int) -> Any:
    # libyaml when PyYAML has it: the intent files are large enough for the pure-Python parser to show.
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def load_families(path: Path = DATA_DIR / "families.yaml") -> list[Family]:
    data = load_yaml(path) or {}
    return [Family.from_dict(f) for f in data.get("families", [])]


def load_synonyms(path: Path = DATA_DIR / "synonyms.yaml") -> dict[str, list[str]]:
    data = load_yaml(path) or {}
    return {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in data.items()}


def load_out_of_scope(path: Path = DATA_DIR / "out_of_scope.yaml") -> list[Intent]:
    """Negative intents: topics that are not government services (see the data file)."""
    data = load_yaml(path) or {}
    return [
        Intent(id=OUT_OF_SCOPE_PREFIX + str(t["id"]), name=str(t["id"]), phrases=tuple(str(p) for p in t["phrases"]))
        for t in data.get("topics", [])
    ]


def load_triage(path: Path = DATA_DIR / "triage.yaml") -> TriageRules:
    """Triage markers, channels, word senses and life-event words (see the data file)."""
    return TriageRules(load_yaml(path) or {})


def build_assistant(
    items: Sequence[Mapping[str, Any]],
    *,
    families: Sequence[Family] | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    extra_phrases: Mapping[str, Iterable[str]] | None = None,
    categories: Sequence[str] = (),
    thresholds: Thresholds | None = None,
    extra_keywords: Mapping[str, Iterable[str]] | None = None,
    extra_words: Iterable[str] = (),
    answer_templates: Mapping[str, str] | None = None,
    out_of_scope: Sequence[Intent] | None = None,
    triage: TriageRules | None = None,
) -> Assistant:
    """One immutable snapshot: analyzer, index and dialog rules. Building takes well under a second.

    The optional overrides come from the operations console: phrases and keywords added to items,
    words the tokenizer keeps whole (its user dictionary), and answer templates per item code.
    """
    families = load_families() if families is None else families
    synonyms = load_synonyms() if synonyms is None else synonyms
    if extra_keywords:
        items = [
            {**item, "keywords": [*(item.get("keywords") or ()), *extra_keywords.get(str(item["code"]), ())]}
            for item in items
        ]
    known = {str(item["code"]) for item in items}
    families = [f for f in families if f.codes <= known]
    vocabulary = vocabulary_of(items) | {w for vs in synonyms.values() for w in vs} | set(extra_words)
    analyzer = Analyzer(vocabulary, synonyms)
    extra = extra_phrases or {}
    intents = [Intent.from_item(item, extra.get(str(item["code"]), ())) for item in items]
    intents += load_out_of_scope() if out_of_scope is None else out_of_scope
    index = IntentIndex(intents, analyzer)
    triage = load_triage() if triage is None else triage
    if answer_templates:
        return TemplatedAssistant(index, families, categories, thresholds, triage, templates=answer_templates)
    return Assistant(index, families, categories, thresholds, triage)


# Placeholders an answer template may use; anything else in braces is left as typed.
TEMPLATE_FIELDS = ("name", "department", "days", "visits", "fee", "materials")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def render_answer_template(template: str, item: Mapping[str, Any]) -> str:
    """Fill ``{name}``, ``{department}``, ``{days}``, ``{visits}``, ``{fee}``, ``{materials}`` from the item."""
    values = {
        "name": str(item.get("name") or ""),
        "department": str(item.get("department") or ""),
        "days": str(item.get("promised_time_limit_days") if item.get("promised_time_limit_days") is not None else ""),
        "visits": str(item.get("max_visits") if item.get("max_visits") is not None else ""),
        "fee": str(item.get("fee") or ""),
        "materials": "、".join(
            str(m.get("name")) for m in item.get("materials") or () if isinstance(m, Mapping) and m.get("required")
        ),
    }
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class TemplatedAssistant(Assistant):
    """An assistant whose answers for some items use a template written in the console."""

    def __init__(self, *args: Any, templates: Mapping[str, str], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.templates = dict(templates)

    def _answer(self, result: Any, code: str) -> Any:
        reply = super()._answer(result, code)
        template = self.templates.get(code)
        if template:
            reply.reply = render_answer_template(template, self.index.by_id[code].payload)
        return reply
