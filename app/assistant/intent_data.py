"""The governed intent data: one JSON document, versioned as a draft and immutable releases.

Shape (``schema`` 1)::

    {"schema": 1,
     "intents": {
        "<item code>": {"add_phrases": [...], "remove_phrases": [...], "add_keywords": [...],
                        "remove_keywords": [...], "answer_template": "..."},
        "<custom id>": {"custom": true, "name": "...", "items": ["<code>", ...], "phrases": [...],
                        "keywords": [...], "answer_template": "..."}},
     "synonyms": {"<word people use>": ["<official word>", ...]},
     "families": [{"id", "name", "question", "options": [{"label", "code", "words": [...]}]}],
     "dictionary": ["<word the tokenizer keeps whole>", ...]}

Every catalog item is an intent; the catalog keeps its own phrases and keywords, and the
console's changes to them are kept as additions and removals, so loading a new catalog
does not undo them and they do not freeze the catalog. Custom intents lead to one or
more items: their phrases and keywords count for every item they lead to. Synonyms, the
families and the tokenizer's user dictionary start as copies of ``intents/data/*.yaml``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from app.core.errors import NotFound, ValidationFailed
from intents.build import DATA_DIR as INTENT_DATA_DIR
from intents.build import TEMPLATE_FIELDS, load_yaml
from intents.dialog import Family
from intents.text import normalise

SCHEMA = 1
MAX_PHRASES = 500
MAX_PHRASE = 100
MAX_KEYWORD = 30
MAX_TEMPLATE = 600
MAX_SYNONYMS = 5000
MAX_DICTIONARY = 5000
_CUSTOM_ID = re.compile(r"^[a-z][a-z0-9-]{1,47}$")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def seed() -> dict[str, Any]:
    """The first release: the synonyms and families of the files, no changes to the catalog's phrases."""
    synonyms_raw = load_yaml(INTENT_DATA_DIR / "synonyms.yaml") or {}
    families_raw = (load_yaml(INTENT_DATA_DIR / "families.yaml") or {}).get("families", [])
    synonyms = {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in synonyms_raw.items()}
    families = [
        {
            "id": str(f["id"]),
            "name": str(f["name"]),
            "question": str(f["question"]),
            "options": [
                {"label": str(o["label"]), "code": str(o["code"]), "words": [str(w) for w in o.get("words", ())]}
                for o in f["options"]
            ],
        }
        for f in families_raw
    ]
    return {"schema": SCHEMA, "intents": {}, "synonyms": synonyms, "families": families, "dictionary": []}


def checksum(data: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        seen.setdefault(value, None)
    return list(seen)


# -- reading ------------------------------------------------------------------


def intent_view(data: Mapping[str, Any], intent_id: str, items: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One intent as staff see it: effective phrases and keywords, and where each comes from."""
    record = data["intents"].get(intent_id) or {}
    if record.get("custom"):
        return {
            "id": intent_id,
            "kind": "custom",
            "name": record["name"],
            "items": list(record["items"]),
            "phrases": list(record.get("phrases", ())),
            "keywords": list(record.get("keywords", ())),
            "catalog_phrases": [],
            "catalog_keywords": [],
            "answer_template": record.get("answer_template", ""),
        }
    item = items.get(intent_id)
    if item is None:
        raise NotFound("No such intent", code="intent_not_found")
    catalog_phrases = [str(p) for p in item.get("training_phrases") or ()]
    catalog_keywords = [str(k) for k in item.get("keywords") or ()]
    return {
        "id": intent_id,
        "kind": "item",
        "name": str(item["name"]),
        "items": [intent_id],
        "phrases": _effective(catalog_phrases, record.get("add_phrases", ()), record.get("remove_phrases", ())),
        "keywords": _effective(catalog_keywords, record.get("add_keywords", ()), record.get("remove_keywords", ())),
        "catalog_phrases": catalog_phrases,
        "catalog_keywords": catalog_keywords,
        "answer_template": record.get("answer_template", ""),
    }


def _effective(base: Sequence[str], added: Iterable[str], removed: Iterable[str]) -> list[str]:
    gone = set(removed)
    return _unique([p for p in base if p not in gone] + [p for p in added if p not in gone])


def intent_list(data: Mapping[str, Any], items: Mapping[str, Mapping[str, Any]], query: str = "") -> list[dict]:
    """Every intent (catalog items first, then custom ones) with counts, filtered by ``query``."""
    out = []
    ids = [*items, *(k for k, v in data["intents"].items() if v.get("custom"))]
    needle = normalise(query).replace(" ", "") if query else ""
    for intent_id in ids:
        view = intent_view(data, intent_id, items)
        if needle:
            haystack = normalise(" ".join([view["id"], view["name"], *view["phrases"], *view["keywords"]]))
            if needle not in haystack.replace(" ", ""):
                continue
        out.append(
            {
                "id": view["id"],
                "kind": view["kind"],
                "name": view["name"],
                "items": view["items"],
                "phrases": len(view["phrases"]),
                "keywords": len(view["keywords"]),
                "edited": intent_id in data["intents"],
                "answer_template": bool(view["answer_template"]),
            }
        )
    return out


# -- checking what staff type ---------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool = True) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", details={"field": field})
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} is empty", details={"field": field})
    if len(value) > limit:
        raise ValidationFailed(f"{field} is longer than {limit} characters", details={"field": field})
    return value


def _texts(value: Any, field: str, limit: int, most: int) -> list[str]:
    if not isinstance(value, list):
        raise ValidationFailed(f"{field} must be a list of texts", details={"field": field})
    if len(value) > most:
        raise ValidationFailed(f"{field} has more than {most} entries", details={"field": field})
    return _unique(_text(v, field, limit) for v in value)


def _template(value: Any) -> str:
    template = _text(value, "answer_template", MAX_TEMPLATE, required=False)
    unknown = sorted({m for m in _PLACEHOLDER.findall(template) if m not in TEMPLATE_FIELDS})
    if unknown:
        raise ValidationFailed(
            "answer_template uses unknown placeholders: " + ", ".join("{" + u + "}" for u in unknown),
            details={"field": "answer_template", "allowed": list(TEMPLATE_FIELDS)},
        )
    return template


def _codes(value: Any, known: Mapping[str, Any]) -> list[str]:
    codes = _texts(value, "items", 32, 20)
    if not codes:
        raise ValidationFailed("an intent leads to at least one item", details={"field": "items"})
    missing = [c for c in codes if c not in known]
    if missing:
        raise ValidationFailed("unknown item codes: " + ", ".join(missing), details={"field": "items"})
    return codes


# -- editing (each returns a new document; the caller stores it as the draft) -------


def update_intent(
    data: Mapping[str, Any], intent_id: str, changes: Mapping[str, Any], items: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """Apply ``changes`` (name, items, phrases, keywords, answer_template) to one intent."""
    new = copy.deepcopy(dict(data))
    current = intent_view(new, intent_id, items)
    record = new["intents"].get(intent_id)
    if current["kind"] == "custom":
        assert record is not None
        if "name" in changes:
            record["name"] = _text(changes["name"], "name", 60)
        if "items" in changes:
            record["items"] = _codes(changes["items"], items)
        if "phrases" in changes:
            record["phrases"] = _texts(changes["phrases"], "phrases", MAX_PHRASE, MAX_PHRASES)
        if "keywords" in changes:
            record["keywords"] = _texts(changes["keywords"], "keywords", MAX_KEYWORD, 100)
        if "answer_template" in changes:
            record["answer_template"] = _template(changes["answer_template"])
        return new
    if "name" in changes or "items" in changes:
        raise ValidationFailed(
            "a catalog item's name and item are edited in the catalog", details={"field": "name/items"}
        )
    record = dict(record or {})
    for field, base in (("phrases", current["catalog_phrases"]), ("keywords", current["catalog_keywords"])):
        if field in changes:
            limit, most = (MAX_PHRASE, MAX_PHRASES) if field == "phrases" else (MAX_KEYWORD, 100)
            wanted = _texts(changes[field], field, limit, most)
            record[f"add_{field}"] = [p for p in wanted if p not in base]
            record[f"remove_{field}"] = [p for p in base if p not in wanted]
    if "answer_template" in changes:
        record["answer_template"] = _template(changes["answer_template"])
    record = {k: v for k, v in record.items() if v}
    if record:
        new["intents"][intent_id] = record
    else:
        new["intents"].pop(intent_id, None)
    return new


def add_phrases(
    data: Mapping[str, Any], intent_id: str, phrases: Sequence[str], items: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    current = intent_view(data, intent_id, items)
    return update_intent(data, intent_id, {"phrases": [*current["phrases"], *phrases]}, items)


def create_intent(
    data: Mapping[str, Any], body: Mapping[str, Any], items: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], str]:
    """A new custom intent (id given or made from a counter); answers the document and the id."""
    new = copy.deepcopy(dict(data))
    intent_id = body.get("id")
    if intent_id is None:
        number = 1
        while f"custom-{number}" in new["intents"]:
            number += 1
        intent_id = f"custom-{number}"
    if not isinstance(intent_id, str) or not _CUSTOM_ID.match(intent_id):
        raise ValidationFailed("id must be lower-case letters, digits and dashes", details={"field": "id"})
    if intent_id in new["intents"] or intent_id in items:
        raise ValidationFailed("an intent with this id exists", code="duplicate", details={"field": "id"})
    new["intents"][intent_id] = {
        "custom": True,
        "name": _text(body.get("name"), "name", 60),
        "items": _codes(body.get("items"), items),
        "phrases": _texts(body.get("phrases", []), "phrases", MAX_PHRASE, MAX_PHRASES),
        "keywords": _texts(body.get("keywords", []), "keywords", MAX_KEYWORD, 100),
        "answer_template": _template(body.get("answer_template", "")),
    }
    return new, intent_id


def delete_intent(data: Mapping[str, Any], intent_id: str) -> dict[str, Any]:
    new = copy.deepcopy(dict(data))
    record = new["intents"].get(intent_id)
    if record is None or not record.get("custom"):
        raise NotFound("No such custom intent (catalog items are removed in the catalog)", code="intent_not_found")
    del new["intents"][intent_id]
    return new


def set_synonym(data: Mapping[str, Any], word: Any, values: Any) -> dict[str, Any]:
    new = copy.deepcopy(dict(data))
    word = _text(word, "word", 20)
    targets = [v for v in _texts(values, "values", 20, 10) if v != word]
    if not targets:
        raise ValidationFailed("a synonym needs at least one other word", details={"field": "values"})
    if word not in new["synonyms"] and len(new["synonyms"]) >= MAX_SYNONYMS:
        raise ValidationFailed("too many synonyms", details={"field": "word"})
    new["synonyms"][word] = targets
    return new


def delete_synonym(data: Mapping[str, Any], word: str) -> dict[str, Any]:
    new = copy.deepcopy(dict(data))
    if word not in new["synonyms"]:
        raise NotFound("No such synonym", code="synonym_not_found")
    del new["synonyms"][word]
    return new


def set_dictionary(data: Mapping[str, Any], words: Any) -> dict[str, Any]:
    new = copy.deepcopy(dict(data))
    cleaned = _texts(words, "words", 12, MAX_DICTIONARY)
    short = [w for w in cleaned if len(w) < 2]
    if short:
        raise ValidationFailed("dictionary words have 2 to 12 characters", details={"field": "words"})
    new["dictionary"] = cleaned
    return new


def set_family(
    data: Mapping[str, Any], family_id: str, body: Mapping[str, Any], items: Mapping[str, Any]
) -> dict[str, Any]:
    """Create or replace a family: its name, its question and at least two options, each naming an item."""
    new = copy.deepcopy(dict(data))
    if not _CUSTOM_ID.match(family_id):
        raise ValidationFailed("family id must be lower-case letters, digits and dashes", details={"field": "id"})
    options_raw = body.get("options")
    if not isinstance(options_raw, list) or not 2 <= len(options_raw) <= 12:
        raise ValidationFailed("a family has 2 to 12 options", details={"field": "options"})
    options: list[dict[str, Any]] = []
    for option in options_raw:
        if not isinstance(option, dict):
            raise ValidationFailed("each option is an object", details={"field": "options"})
        code = _text(option.get("code"), "options.code", 32)
        if code not in items:
            raise ValidationFailed(f"unknown item code {code}", details={"field": "options.code"})
        options.append(
            {
                "label": _text(option.get("label"), "options.label", 30),
                "code": code,
                "words": _texts(option.get("words", []), "options.words", 20, 30),
            }
        )
    if len({o["code"] for o in options}) != len(options):
        raise ValidationFailed("each option leads to a different item", details={"field": "options"})
    family = {
        "id": family_id,
        "name": _text(body.get("name"), "name", 60),
        "question": _text(body.get("question"), "question", 100),
        "options": options,
    }
    families = [f for f in new["families"] if f["id"] != family_id]
    taken = {o["code"]: f["id"] for f in families for o in f["options"]}
    clash = [str(o["code"]) for o in options if o["code"] in taken]
    if clash:
        raise ValidationFailed(
            f"items already in another family: {', '.join(clash)}", details={"field": "options.code"}
        )
    position = next((i for i, f in enumerate(new["families"]) if f["id"] == family_id), len(families))
    families.insert(position, family)
    new["families"] = families
    return new


def delete_family(data: Mapping[str, Any], family_id: str) -> dict[str, Any]:
    new = copy.deepcopy(dict(data))
    kept = [f for f in new["families"] if f["id"] != family_id]
    if len(kept) == len(new["families"]):
        raise NotFound("No such family", code="family_not_found")
    new["families"] = kept
    return new


# -- building the engine ---------------------------------------------------------


def compile_data(data: Mapping[str, Any], items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The catalog items with the console's changes applied, and the other arguments of ``build_assistant``."""
    records = data.get("intents", {})
    compiled_items = []
    for item in items:
        record = records.get(str(item["code"]))
        if record and not record.get("custom"):
            item = {
                **item,
                "training_phrases": _effective(
                    [str(p) for p in item.get("training_phrases") or ()],
                    record.get("add_phrases", ()),
                    record.get("remove_phrases", ()),
                ),
                "keywords": _effective(
                    [str(k) for k in item.get("keywords") or ()],
                    record.get("add_keywords", ()),
                    record.get("remove_keywords", ()),
                ),
            }
        compiled_items.append(item)
    known = {str(item["code"]) for item in items}
    extra_phrases: dict[str, list[str]] = {}
    extra_keywords: dict[str, list[str]] = {}
    templates: dict[str, str] = {}
    for intent_id, record in records.items():
        if record.get("custom"):
            for code in record.get("items", ()):
                if code in known:
                    extra_phrases.setdefault(code, []).extend(record.get("phrases", ()))
                    extra_keywords.setdefault(code, []).extend(record.get("keywords", ()))
                    if record.get("answer_template") and len(record["items"]) == 1:
                        templates.setdefault(code, record["answer_template"])
        elif record.get("answer_template") and intent_id in known:
            # The item's own template wins over a custom intent's.
            templates[intent_id] = record["answer_template"]
    return {
        "items": compiled_items,
        "families": [Family.from_dict(f) for f in data.get("families", ())],
        "synonyms": {k: list(v) for k, v in data.get("synonyms", {}).items()},
        "extra_phrases": extra_phrases,
        "extra_keywords": extra_keywords,
        "extra_words": list(data.get("dictionary", ())),
        "answer_templates": templates,
    }


# -- comparing -------------------------------------------------------------------


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from ``old`` to ``new``: intents, synonyms, families, dictionary words."""
    intents = []
    old_intents, new_intents = old.get("intents", {}), new.get("intents", {})
    for intent_id in sorted(set(old_intents) | set(new_intents)):
        before, after = old_intents.get(intent_id, {}), new_intents.get(intent_id, {})
        if before == after:
            continue
        change: dict[str, Any] = {"id": intent_id, "status": _status(before, after)}
        for key in sorted(set(before) | set(after)):
            b, a = before.get(key), after.get(key)
            if b == a:
                continue
            if isinstance(a, list) or isinstance(b, list):
                b_list, a_list = list(b or ()), list(a or ())
                change[key] = {
                    "added": [x for x in a_list if x not in b_list],
                    "removed": [x for x in b_list if x not in a_list],
                }
            else:
                change[key] = {"before": b, "after": a}
        intents.append(change)
    old_syn, new_syn = old.get("synonyms", {}), new.get("synonyms", {})
    synonyms = [
        {"word": w, "before": old_syn.get(w), "after": new_syn.get(w)}
        for w in sorted(set(old_syn) | set(new_syn))
        if old_syn.get(w) != new_syn.get(w)
    ]
    old_fam = {f["id"]: f for f in old.get("families", ())}
    new_fam = {f["id"]: f for f in new.get("families", ())}
    families = [
        {"id": f, "before": old_fam.get(f), "after": new_fam.get(f)}
        for f in sorted(set(old_fam) | set(new_fam))
        if old_fam.get(f) != new_fam.get(f)
    ]
    old_words, new_words = set(old.get("dictionary", ())), set(new.get("dictionary", ()))
    dictionary = {"added": sorted(new_words - old_words), "removed": sorted(old_words - new_words)}
    changed = bool(intents or synonyms or families or dictionary["added"] or dictionary["removed"])
    return {"changed": changed, "intents": intents, "synonyms": synonyms, "families": families,
            "dictionary": dictionary}  # fmt: skip


def _status(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    if not before:
        return "added"
    if not after:
        return "removed"
    return "changed"
