"""The service catalog: validate, load, import and export standard-coded service items.

"同一事项、同一标准、同一编码": each item has one code (scheme in ``docs/catalog.md``)
and one description. A load validates every file first and writes nothing
unless everything is valid; then it upserts in one transaction, recording a
change history. Loading the same data twice changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SEED_DIR = Path(__file__).resolve().parent / "data" / "catalog"
# libyaml's parser when PyYAML was built with it (it is, from wheels): the seed loads several times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

CATEGORIES = {
    "出入境": "CRJ",
    "户籍户政": "HJ",
    "社会保障": "SB",
    "医疗保障": "YB",
    "就业创业": "JY",
    "住房": "ZF",
    "教育": "JYU",
    "卫生健康": "WS",
    "婚姻与民政": "MZ",
    "公安交管": "JG",
    "企业": "QY",
    "税务": "SW",
    "交通运输": "JT",
    "法律服务及其他": "FL",
}
LIFE_EVENTS = (
    "出生", "上学", "就业", "失业", "结婚", "生育", "购房", "租房", "开办企业", "退休",
    "身后事", "出行", "就医", "驾车", "养老", "残疾", "退役", "纳税", "维权",
)  # fmt: skip
LEVELS = ("province", "city", "county")
APPLICANT_TYPES = ("个人", "法人")
ONLINE_LEVELS = ("全程网办", "网上预审+现场", "现场")
CODE_PATTERN = re.compile(r"^440000-(?P<cat>[A-Z]{2,3})-(?P<main>\d{3})-(?P<sub>\d{2})$")

# Field order is the export order.
FIELDS = (
    "code", "name", "aliases", "department", "level", "category", "life_events", "applicant_type",
    "conditions", "materials", "steps", "legal_time_limit_days", "promised_time_limit_days", "fee",
    "online_level", "max_visits", "offline_locations", "legal_basis", "keywords", "training_phrases",
)  # fmt: skip
LIST_FIELDS = (
    "aliases", "life_events", "conditions", "materials", "steps", "offline_locations",
    "legal_basis", "keywords", "training_phrases",
)  # fmt: skip
INT_FIELDS = ("legal_time_limit_days", "promised_time_limit_days", "max_visits")
MATERIAL_FIELDS = ("name", "required", "copies", "electronic_licence", "note")


class CatalogError(Exception):
    """The data is not a valid catalog; ``problems`` each name the file, item and field."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s): " + "; ".join(problems[:5]))


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)


# -- reading files ------------------------------------------------------------


def catalog_files(path: Path) -> list[Path]:
    """The data files at ``path`` (a file, or a folder read in name order)."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in (".yaml", ".yml", ".json", ".csv"))
        if not files:
            raise CatalogError([f"{path}: no .yaml, .json or .csv file in this folder"])
        return files
    if not path.exists():
        raise CatalogError([f"{path}: no such file or folder"])
    return [path]


def read_file(path: Path) -> list[tuple[str, Any]]:
    """Raw items of one file, each with a label naming where it came from."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{path.name}: cannot be read as UTF-8 text ({type(exc).__name__})"]) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return [(f"{path.name} row {n}", row) for n, row in enumerate(_csv_rows(text), start=2)]
        data = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except (ValueError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0][:200]
        raise CatalogError([f"{path.name}: malformed {suffix.lstrip('.').upper()} ({detail})"]) from None
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise CatalogError([f"{path.name}: expected a mapping with an 'items' list"])
    shared_category = data.get("category")
    out = []
    for n, item in enumerate(data["items"], start=1):
        if isinstance(item, dict) and shared_category is not None and "category" not in item:
            item = {**item, "category": shared_category}
        out.append((f"{path.name} item {n}", item))
    return out


def _csv_rows(text: str) -> Iterable[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    for row in reader:
        item: dict[str, Any] = {}
        for name in FIELDS:
            cell = row.get(name)
            if name in LIST_FIELDS:
                item[name] = json.loads(cell) if cell else []
            elif name in INT_FIELDS:
                item[name] = int(cell) if cell not in (None, "") and cell.lstrip("-").isdigit() else cell
            else:
                item[name] = cell
        yield item


# -- validation ----------------------------------------------------------------


def _strings(value: Any, minimum: int) -> bool:
    return isinstance(value, list) and len(value) >= minimum and all(isinstance(v, str) and v.strip() for v in value)


def validate_item(label: str, raw: Any) -> tuple[dict[str, Any], list[str]]:
    """Answer the canonical item and the problems found, each naming ``label``, the code and the field."""
    if not isinstance(raw, dict):
        return {}, [f"{label}: an item must be a mapping"]
    code = raw.get("code")
    where = f"{label} ({code})" if isinstance(code, str) else label
    problems: list[str] = []

    def bad(field_name: str, why: str) -> None:
        problems.append(f"{where}: field '{field_name}' {why}")

    unknown = sorted(set(raw) - set(FIELDS))
    for name in unknown:
        bad(name, "is not a catalog field")
    for name in FIELDS:
        if name not in raw or raw[name] is None:
            bad(name, "is missing")
    if problems:
        return {}, problems

    item = {name: raw[name] for name in FIELDS}
    for name in ("code", "name", "department", "fee", "category", "level", "applicant_type", "online_level"):
        if not isinstance(item[name], str) or not item[name].strip():
            bad(name, "must be non-empty text")
        else:
            item[name] = item[name].strip()
    for name in INT_FIELDS:
        if not isinstance(item[name], int) or isinstance(item[name], bool) or item[name] < 0:
            bad(name, "must be a whole number of 0 or more")
    minimums = {"aliases": 2, "conditions": 1, "steps": 2, "legal_basis": 1, "keywords": 1}
    for name in ("aliases", "life_events", "conditions", "steps", "offline_locations", "legal_basis", "keywords",
                 "training_phrases"):  # fmt: skip
        if not _strings(item[name], minimums.get(name, 0)):
            need = minimums.get(name, 0)
            bad(name, f"must be a list of {need}+ non-empty texts" if need else "must be a list of non-empty texts")
    if problems:
        return item, problems

    match = CODE_PATTERN.match(item["code"])
    if not match:
        bad("code", "must look like 440000-CAT-NNN-NN")
    elif item["category"] in CATEGORIES and match["cat"] != CATEGORIES[item["category"]]:
        expected = CATEGORIES[item["category"]]
        bad("code", f"has category code {match['cat']}, but category {item['category']} uses {expected}")
    if item["category"] not in CATEGORIES:
        bad("category", f"has unknown value {item['category']!r} (one of {', '.join(CATEGORIES)})")
    for name, allowed in (("level", LEVELS), ("applicant_type", APPLICANT_TYPES), ("online_level", ONLINE_LEVELS)):
        if item[name] not in allowed:
            bad(name, f"has unknown value {item[name]!r} (one of {', '.join(allowed)})")
    for event in item["life_events"]:
        if event not in LIFE_EVENTS:
            bad("life_events", f"has unknown value {event!r}")
    if item["name"] in item["aliases"]:
        bad("aliases", "repeats the name")
    if item["max_visits"] not in (0, 1, 2):
        bad("max_visits", "must be 0, 1 or 2")
    elif item["online_level"] == "全程网办" and item["max_visits"] != 0:
        bad("max_visits", "must be 0 for 全程网办")
    elif item["online_level"] != "全程网办" and item["max_visits"] == 0:
        bad("max_visits", "must be 1 or 2 unless the item is 全程网办")
    if item["promised_time_limit_days"] > item["legal_time_limit_days"]:
        bad("promised_time_limit_days", "must not exceed legal_time_limit_days")
    materials = []
    if not isinstance(item["materials"], list) or not item["materials"]:
        bad("materials", "must be a list of 1+ materials")
    else:
        for n, material in enumerate(item["materials"], start=1):
            checked, issues = _validate_material(material)
            for issue in issues:
                bad(f"materials[{n}].{issue[0]}", issue[1])
            materials.append(checked)
    item["materials"] = materials
    for name in LIST_FIELDS:
        if name != "materials":
            item[name] = [v.strip() for v in item[name]]
    return item, problems


def _validate_material(raw: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    if not isinstance(raw, dict):
        return {}, [("", "must be a mapping")]
    issues = [(k, "is not a material field") for k in sorted(set(raw) - set(MATERIAL_FIELDS))]
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        issues.append(("name", "must be non-empty text"))
    for flag in ("required", "electronic_licence"):
        if not isinstance(raw.get(flag), bool):
            issues.append((flag, "must be true or false"))
    copies = raw.get("copies")
    if not isinstance(copies, int) or isinstance(copies, bool) or copies < 0:
        issues.append(("copies", "must be a whole number of 0 or more"))
    note = raw.get("note")
    if note is not None and not isinstance(note, str):
        issues.append(("note", "must be text"))
    material = {
        "name": name.strip() if isinstance(name, str) else name,
        "required": raw.get("required"),
        "copies": copies,
        "electronic_licence": raw.get("electronic_licence"),
    }
    if note:
        material["note"] = note.strip()
    return material, issues


def validate_sources(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Read and validate every file; answer the items, or raise one error listing every problem."""
    problems: list[str] = []
    items: list[dict[str, Any]] = []
    seen_codes: dict[str, str] = {}
    seen_names: dict[str, str] = {}
    for path in paths:
        try:
            raw_items = read_file(path)
        except CatalogError as exc:
            problems.extend(exc.problems)
            continue
        for label, raw in raw_items:
            item, issues = validate_item(label, raw)
            problems.extend(issues)
            if issues:
                continue
            for key, seen, what in (("code", seen_codes, "code"), ("name", seen_names, "name")):
                if item[key] in seen:
                    problems.append(
                        f"{label} ({item['code']}): field '{key}' duplicates the {what} of {seen[item[key]]}"
                    )
                seen[item[key]] = label
            items.append(item)
    if problems:
        raise CatalogError(problems)
    names = {item["name"] for item in items}
    for item in items:
        clash = [alias for alias in item["aliases"] if alias in names]
        if clash:
            problems.append(f"({item['code']}): field 'aliases' names another item: {', '.join(clash)}")
    if problems:
        raise CatalogError(problems)
    return sorted(items, key=lambda i: i["code"])


def content_hash(item: dict[str, Any]) -> str:
    canonical = json.dumps({k: item[k] for k in FIELDS}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def derived_columns(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "search_text": "\n".join([item["name"], *item["aliases"], *item["keywords"], item["department"]]).lower(),
        "life_events_text": "|" + "|".join(item["life_events"]) + "|",
        "content_hash": content_hash(item),
    }


# -- database ------------------------------------------------------------------


async def load_items(
    items: list[dict[str, Any]], source: str, progress: Callable[[int, int], None] | None = None
) -> LoadReport:
    """Upsert validated items in one transaction, recording each change."""
    from tortoise.transactions import in_transaction

    from models import ServiceItem, ServiceItemChange

    report = LoadReport()
    async with in_transaction():
        existing = {row.code: row for row in await ServiceItem.all()}
        for n, item in enumerate(items, start=1):
            derived = derived_columns(item)
            row = existing.get(item["code"])
            if row is None:
                await ServiceItem.create(**item, **derived, version=1)
                await ServiceItemChange.create(
                    code=item["code"], version=1, action="created", changed_fields=list(FIELDS), source=source
                )
                report.created.append(item["code"])
            elif row.content_hash != derived["content_hash"]:
                changed = [k for k in FIELDS if getattr(row, k) != item[k]]
                for key, value in {**item, **derived}.items():
                    setattr(row, key, value)
                row.version += 1
                await row.save()
                await ServiceItemChange.create(
                    code=item["code"], version=row.version, action="updated", changed_fields=changed, source=source
                )
                report.updated.append(item["code"])
            else:
                report.unchanged += 1
            if progress:
                progress(n, len(items))
    return report


def item_dict(row: Any) -> dict[str, Any]:
    """A stored item in the data-file shape (field order as in FIELDS)."""
    return {name: getattr(row, name) for name in FIELDS}


async def export_items() -> list[dict[str, Any]]:
    from models import ServiceItem

    return [item_dict(row) for row in await ServiceItem.all().order_by("code")]


def dump_json(items: list[dict[str, Any]]) -> str:
    return json.dumps({"items": items}, ensure_ascii=False, indent=2) + "\n"


def dump_csv(items: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(FIELDS), lineterminator="\n")
    writer.writeheader()
    for item in items:
        writer.writerow({k: json.dumps(v, ensure_ascii=False) if k in LIST_FIELDS else v for k, v in item.items()})
    return buffer.getvalue()
