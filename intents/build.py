"""Build an assistant snapshot from catalog items and the intent data files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from intents.dialog import Assistant, Family, Thresholds
from intents.engine import Analyzer, Intent, IntentIndex, vocabulary_of

DATA_DIR = Path(__file__).resolve().parent / "data"


def load_yaml(path: Path) -> Any:
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_families(path: Path = DATA_DIR / "families.yaml") -> list[Family]:
    data = load_yaml(path) or {}
    return [Family.from_dict(f) for f in data.get("families", [])]


def load_synonyms(path: Path = DATA_DIR / "synonyms.yaml") -> dict[str, list[str]]:
    data = load_yaml(path) or {}
    return {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in data.items()}


def build_assistant(
    items: Sequence[Mapping[str, Any]],
    *,
    families: Sequence[Family] | None = None,
    synonyms: Mapping[str, Sequence[str]] | None = None,
    extra_phrases: Mapping[str, Iterable[str]] | None = None,
    categories: Sequence[str] = (),
    thresholds: Thresholds | None = None,
) -> Assistant:
    """One immutable snapshot: analyzer, index and dialog rules. Building takes well under a second."""
    families = load_families() if families is None else families
    synonyms = load_synonyms() if synonyms is None else synonyms
    known = {str(item["code"]) for item in items}
    families = [f for f in families if f.codes <= known]
    vocabulary = vocabulary_of(items) | {w for vs in synonyms.values() for w in vs}
    analyzer = Analyzer(vocabulary, synonyms)
    extra = extra_phrases or {}
    intents = [Intent.from_item(item, extra.get(str(item["code"]), ())) for item in items]
    return Assistant(IntentIndex(intents, analyzer), families, categories, thresholds)
