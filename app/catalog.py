"""The service catalog: validate, load, import and export standard-coded service items.

"同一事项、同一标准、同一编码": each item has one code (scheme in ``docs/catalog.md``)
and one description. A code starts with its GB/T 2260 region; names are unique
within a region. A load validates every file first, then checks the items against
the database (names within a region, aliases), and writes nothing unless
everything is valid; then it upserts in one transaction, recording a change
history and raising the catalog version. Loading the same data twice changes nothing.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import yaml

SEED_DIR = Path(__file__).resolve().parent / "data" / "catalog"
REGIONS_FILE = Path(__file__).resolve().parent / "data" / "regions.yaml"
NATIONWIDE = "000000"
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
CODE_PATTERN = re.compile(r"^(?P<region>\d{6})-(?P<cat>[A-Z]{2,3})-(?P<main>\d{3})-(?P<sub>\d{2})$")
CODE_SHAPE = "RRRRRR-CAT-NNN-NN (RRRRRR: the GB/T 2260 region, e.g. 440000-CRJ-001-01)"
REGION_PATTERN = re.compile(r"^\d{6}$")

# Field order is the export order.
FIELDS = (
    "code", "name", "aliases", "department", "level", "category", "life_events", "applicant_type",
    "conditions", "materials", "steps", "legal_time_limit_days", "promised_time_limit_days", "fee",
    "online_level", "max_visits", "offline_locations", "legal_basis", "keywords", "training_phrases",
    "task_type", "guide_url",
)  # fmt: skip
# Fields an item may leave out, with their value then (public data has a task type and a guide's address).
OPTIONAL_FIELDS = {"task_type": "", "guide_url": ""}
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


# -- regions ------------------------------------------------------------------


@dataclass(frozen=True)
class RegionInfo:
    """A GB/T 2260 region: ``parent`` is the next level up (None only for 000000, 全国)."""

    code: str
    name: str
    parent: str | None


def region_problem(raw: Any) -> tuple[RegionInfo | None, str | None]:
    """A declared region (``{code, name, parent?}``), or why it is not one."""
    if not isinstance(raw, dict):
        return None, "a region must be a mapping of code, name and parent"
    code, name, parent = raw.get("code"), raw.get("name"), raw.get("parent")
    if not isinstance(code, str) or not REGION_PATTERN.match(code):
        return None, f"region code {code!r} must be six digits (GB/T 2260)"
    if not isinstance(name, str) or not name.strip():
        return None, f"region {code} needs a name"
    if parent is None and code != NATIONWIDE:
        # The next level up by the code's own structure: county → city → province → 全国.
        parent = code[:4] + "00" if code[4:] != "00" else (code[:2] + "0000" if code[2:4] != "00" else NATIONWIDE)
    if parent is not None and (not isinstance(parent, str) or not REGION_PATTERN.match(parent) or parent == code):
        return None, f"region {code} has parent {parent!r}, which is not another six-digit code"
    return RegionInfo(code, name.strip(), parent), None


@functools.cache
def seed_regions() -> dict[str, RegionInfo]:
    """The regions of ``app/data/regions.yaml``."""
    data = yaml.load(REGIONS_FILE.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    out: dict[str, RegionInfo] = {}
    for raw in data["regions"]:
        region, problem = region_problem(raw)
        if region is None:
            raise CatalogError([f"{REGIONS_FILE.name}: {problem}"])
        out[region.code] = region
    return out


def region_chain(code: str, regions: Mapping[str, RegionInfo]) -> list[str]:
    """``code`` and every region above it, nearest first, ending at 000000."""
    chain = [code]
    while (region := regions.get(chain[-1])) is not None and region.parent and region.parent not in chain:
        chain.append(region.parent)
    if chain[-1] != NATIONWIDE:
        chain.append(NATIONWIDE)
    return chain


def region_label(code: str, regions: Mapping[str, RegionInfo]) -> str:
    region = regions.get(code)
    return f"{code} {region.name}" if region else code


# -- reading files ------------------------------------------------------------


@dataclass
class SourceFile:
    """One data file's raw items (each with a label naming where it came from) and what it declares."""

    items: list[tuple[str, Any]]
    region: Any = None
    regions: list[Any] = field(default_factory=list)


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
    return read_source(path).items


def read_source(path: Path) -> SourceFile:
    """One file: its raw items, the region it declares (``region:``) and any regions it adds (``regions:``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([f"{path.name}: cannot be read as UTF-8 text ({type(exc).__name__})"]) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return SourceFile([(f"{path.name} row {n}", row) for n, row in enumerate(_csv_rows(text), start=2)])
        data = json.loads(text) if suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 (a safe loader)
    except (ValueError, yaml.YAMLError) as exc:
        detail = str(exc).splitlines()[0][:200]
        raise CatalogError([f"{path.name}: malformed {suffix.lstrip('.').upper()} ({detail})"]) from None
    return parse_document(path.name, data)


def parse_document(name: str, data: Any) -> SourceFile:
    """A parsed JSON or YAML document (``{region?, regions?, category?, items}``) as one source named ``name``."""
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise CatalogError([f"{name}: expected a mapping with an 'items' list"])
    shared_category = data.get("category")
    out = []
    for n, item in enumerate(data["items"], start=1):
        if isinstance(item, dict) and shared_category is not None and "category" not in item:
            item = {**item, "category": shared_category}
        out.append((f"{name} item {n}", item))
    regions = data.get("regions") or []
    return SourceFile(out, data.get("region"), regions if isinstance(regions, list) else [regions])


def parse_csv(name: str, text: str) -> SourceFile:
    """CSV text (one row per item, list fields as JSON) as one source named ``name``."""
    try:
        return SourceFile([(f"{name} row {n}", row) for n, row in enumerate(_csv_rows(text), start=2)])
    except ValueError as exc:
        raise CatalogError([f"{name}: malformed CSV ({str(exc).splitlines()[0][:200]})"]) from None


def _csv_rows(text: str) -> Iterable[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [f for f in FIELDS if f not in (reader.fieldnames or []) and f not in OPTIONAL_FIELDS]
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
            elif name in OPTIONAL_FIELDS and cell is None:
                continue
            else:
                item[name] = cell
        yield item


# -- validation ----------------------------------------------------------------


def _strings(value: Any, minimum: int) -> bool:
    return isinstance(value, list) and len(value) >= minimum and all(isinstance(v, str) and v.strip() for v in value)


def validate_item(
    label: str, raw: Any, regions: Mapping[str, RegionInfo] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Answer the canonical item and the problems found, each naming ``label``, the code and the field.

    ``regions`` are the known regions (default: ``app/data/regions.yaml``); a code's region must be one.
    """
    if not isinstance(raw, dict):
        return {}, [f"{label}: an item must be a mapping"]
    regions = seed_regions() if regions is None else regions
    code = raw.get("code")
    where = f"{label} ({code})" if isinstance(code, str) else label
    problems: list[str] = []

    def bad(field_name: str, why: str) -> None:
        problems.append(f"{where}: field '{field_name}' {why}")

    unknown = sorted(set(raw) - set(FIELDS))
    for name in unknown:
        bad(name, "is not a catalog field")
    for name in FIELDS:
        if (name not in raw or raw[name] is None) and name not in OPTIONAL_FIELDS:
            bad(name, "is missing")
    if problems:
        return {}, problems

    item: dict[str, Any] = {
        name: raw[name] if raw.get(name) is not None else OPTIONAL_FIELDS.get(name) for name in FIELDS
    }
    for name in ("code", "name", "department", "fee", "category", "level", "applicant_type", "online_level"):
        if not isinstance(item[name], str) or not item[name].strip():
            bad(name, "must be non-empty text")
        else:
            item[name] = item[name].strip()
    for name in OPTIONAL_FIELDS:
        if not isinstance(item[name], str):
            bad(name, "must be text")
        else:
            item[name] = item[name].strip()
    if (
        isinstance(item["guide_url"], str)
        and item["guide_url"]
        and not item["guide_url"].startswith(("https://", "http://"))
    ):
        bad("guide_url", "must be an http(s) address")
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
        bad("code", f"must look like {CODE_SHAPE}")
    elif match["region"] not in regions:
        bad("code", f"has region {match['region']}, which is not a known GB/T 2260 region: declare it in the "
                    "file's 'regions' list (code, name, parent) or correct the code's first six digits")  # fmt: skip
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


def item_region(item: Mapping[str, Any]) -> str:
    """The region an item's code starts with."""
    return str(item["code"])[:6]


@dataclass
class Catalog:
    """Validated files: the valid items (by code), where each came from, the regions declared, and every problem."""

    items: list[dict[str, Any]]
    labels: dict[str, str]
    regions: dict[str, RegionInfo]
    problems: list[str]
    refused: int = 0


def read_catalog(
    paths: Iterable[Path],
    known: Mapping[str, RegionInfo] | None = None,
    documents: Iterable[tuple[PurePath, SourceFile]] = (),
) -> Catalog:
    """Read and validate every file (and any ``documents`` already parsed), collecting every problem
    (nothing raises for bad data).

    ``known`` are the regions already known (default: ``app/data/regions.yaml``); a file adds its own.
    """
    problems: list[str] = []
    items: list[dict[str, Any]] = []
    labels: dict[str, str] = {}
    regions = dict(seed_regions() if known is None else known)
    declared: dict[str, RegionInfo] = {}
    sources: list[tuple[PurePath, SourceFile]] = list(documents)
    refused: set[str] = set()
    for path in paths:
        try:
            sources.append((path, read_source(path)))
        except CatalogError as exc:
            problems.extend(exc.problems)
    for origin, source in sources:
        for raw in source.regions:
            region, problem = region_problem(raw)
            if region is None:
                problems.append(f"{origin.name}: field 'regions': {problem}")
            else:
                declared[region.code] = regions[region.code] = region
        if source.region is not None and (not isinstance(source.region, str) or source.region not in regions):
            problems.append(f"{origin.name}: field 'region' {source.region!r} is not a known GB/T 2260 region "
                            "(six digits, quoted; declare new ones under 'regions')")  # fmt: skip
    seen_codes: dict[str, str] = {}
    seen_names: dict[tuple[str, str], str] = {}
    for _path, source in sources:
        for label, raw in source.items:
            item, issues = validate_item(label, raw, regions)
            if not issues and isinstance(source.region, str) and item_region(item) != source.region:
                issues = [f"{label} ({item['code']}): field 'code' has region {item_region(item)}, "
                          f"but the file declares region {source.region}"]  # fmt: skip
            if not issues and item["code"] in seen_codes:
                issues = [f"{label} ({item['code']}): field 'code' duplicates the code of {seen_codes[item['code']]}"]
            key = (item_region(item), item["name"]) if not issues else ("", "")
            if not issues and key in seen_names:
                issues = [f"{label} ({item['code']}): field 'name' duplicates the name of {seen_names[key]} "
                          f"in region {region_label(key[0], regions)}"]  # fmt: skip
            if issues:
                problems.extend(issues)
                refused.add(label)
                continue
            seen_codes[item["code"]] = label
            seen_names[key] = label
            labels[item["code"]] = label
            items.append(item)
    names: dict[str, dict[str, str]] = {}
    for item in items:
        names.setdefault(item_region(item), {})[item["name"]] = item["code"]
    related = _related_regions(regions)
    for item in items:
        clash = [
            f"{alias} ({names[r][alias]})"
            for alias in item["aliases"]
            for r in related(item_region(item))
            if alias in names.get(r, {})
        ]
        if clash:
            label = labels[item["code"]]
            problems.append(f"{label} ({item['code']}): field 'aliases' names another item: {', '.join(clash)}")
            refused.add(label)
    return Catalog(sorted(items, key=lambda i: i["code"]), labels, declared, problems, len(refused))


def _related_regions(regions: Mapping[str, RegionInfo]) -> Callable[[str], list[str]]:
    """Regions whose items the same people see: the region, every region above it and every one below it."""
    below: dict[str, list[str]] = {}
    for code in regions:
        for upper in region_chain(code, regions)[1:]:
            below.setdefault(upper, []).append(code)

    @functools.cache
    def related(code: str) -> list[str]:
        return list(dict.fromkeys([*region_chain(code, regions), *below.get(code, [])]))

    return related


def validate_sources(paths: Iterable[Path], known: Mapping[str, RegionInfo] | None = None) -> list[dict[str, Any]]:
    """Read and validate every file; answer the items, or raise one error listing every problem."""
    catalog = read_catalog(paths, known)
    if catalog.problems:
        raise CatalogError(catalog.problems)
    return catalog.items


def content_hash(item: dict[str, Any]) -> str:
    # Optional fields left at their default stay out, so adding them changed no stored item's hash.
    kept = {k: item[k] for k in FIELDS if k not in OPTIONAL_FIELDS or item.get(k) != OPTIONAL_FIELDS[k]}
    canonical = json.dumps(kept, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def derived_columns(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "region": item_region(item),
        "search_text": "\n".join([item["name"], *item["aliases"], *item["keywords"], item["department"]]).lower(),
        "life_events_text": "|" + "|".join(item["life_events"]) + "|",
        "content_hash": content_hash(item),
    }


# -- database ------------------------------------------------------------------


async def known_regions() -> dict[str, RegionInfo]:
    """The regions file's regions and every region stored by earlier imports."""
    from models import Region

    regions = dict(seed_regions())
    for row in await Region.all():
        regions.setdefault(row.code, RegionInfo(row.code, row.name, row.parent))
    return regions


async def database_problems(catalog: Catalog, regions: Mapping[str, RegionInfo]) -> list[tuple[str, str]]:
    """Clashes of the valid items with the items already stored, as (code, problem): a name taken
    within the region by another code, an alias that is another item's name, a name that is another item's alias."""
    from models import ServiceItem

    incoming = {item["code"]: item for item in catalog.items}
    stored = [
        r for r in await ServiceItem.all().values("code", "name", "region", "aliases") if r["code"] not in incoming
    ]
    names: dict[str, dict[str, str]] = {}
    aliases: dict[str, dict[str, str]] = {}
    for row in stored:
        names.setdefault(row["region"], {})[row["name"]] = row["code"]
        for alias in row["aliases"] or ():
            aliases.setdefault(row["region"], {}).setdefault(alias, row["code"])
    related = _related_regions(regions)
    problems: list[tuple[str, str]] = []
    for code, item in incoming.items():
        region = item_region(item)
        where = f"{catalog.labels.get(code, '')} ({code})"
        taken = names.get(region, {}).get(item["name"])
        if taken:
            in_region = region_label(region, regions)
            problems.append((code, f"{where}: field 'name' {item['name']!r} is already the name of {taken} in region "
                            f"{in_region} in the database (names are unique within a region)"))  # fmt: skip
        for other in related(region):
            owner = aliases.get(other, {}).get(item["name"])
            if owner:
                problems.append((code, f"{where}: field 'name' {item['name']!r} is an alias of {owner} "
                                f"({region_label(other, regions)}) in the database"))  # fmt: skip
            for alias in item["aliases"]:
                if alias in names.get(other, {}):
                    problems.append((code, f"{where}: field 'aliases' {alias!r} is the name of {names[other][alias]} "
                                    f"({region_label(other, regions)}) in the database"))  # fmt: skip
    return problems


async def plan_items(items: list[dict[str, Any]]) -> LoadReport:
    """What a load of ``items`` would change, without writing."""
    from models import ServiceItem

    stored = dict(await ServiceItem.all().values_list("code", "content_hash"))
    report = LoadReport()
    for item in items:
        known_hash = stored.get(item["code"])
        if known_hash is None:
            report.created.append(item["code"])
        elif known_hash != content_hash(item):
            report.updated.append(item["code"])
        else:
            report.unchanged += 1
    return report


@dataclass
class ImportResult:
    """What an import did (or, dry, would do): items created, updated, unchanged, and the problems refused."""

    report: LoadReport
    problems: list[str]
    refused: int
    dry_run: bool

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "created": len(self.report.created),
            "updated": len(self.report.updated),
            "unchanged": self.report.unchanged,
            "refused": self.refused,
            "problems": self.problems,
        }


async def import_catalog(
    paths: list[Path],
    source: str,
    *,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    documents: Iterable[tuple[PurePath, SourceFile]] = (),
) -> ImportResult:
    """Validate the files and check them against the database; unless ``dry_run``, load them when no
    problem was found (raising :class:`CatalogError` naming every problem otherwise: nothing is written)."""
    regions = await known_regions()
    catalog = read_catalog(paths, regions, documents)
    regions.update(catalog.regions)
    clashes = await database_problems(catalog, regions)
    problems = [*catalog.problems, *(problem for _, problem in clashes)]
    clashing = {code for code, _ in clashes}
    if dry_run:
        accepted = [item for item in catalog.items if item["code"] not in clashing]
        return ImportResult(await plan_items(accepted), problems, catalog.refused + len(clashing), True)
    if problems:
        raise CatalogError(problems)
    report = await load_items(catalog.items, source, progress, regions=catalog.regions)
    return ImportResult(report, [], 0, False)


async def load_items(
    items: list[dict[str, Any]],
    source: str,
    progress: Callable[[int, int], None] | None = None,
    regions: Mapping[str, RegionInfo] | None = None,
) -> LoadReport:
    """Upsert validated items in one transaction, recording each change and raising the catalog version.

    The regions of ``app/data/regions.yaml`` and ``regions`` (declared by the files) are stored too. A
    constraint the database enforces (a name taken within a region) ends as a :class:`CatalogError`.
    """
    from tortoise.exceptions import IntegrityError

    try:
        return await _write_items(items, source, progress, {**seed_regions(), **(regions or {})})
    except IntegrityError as exc:
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise CatalogError([f"{source}: the database refused the load, nothing was written ({detail}); "
                            "run the import with --dry-run to see which item clashes"]) from None  # fmt: skip


async def _write_items(
    items: list[dict[str, Any]],
    source: str,
    progress: Callable[[int, int], None] | None,
    regions: Mapping[str, RegionInfo],
) -> LoadReport:
    from tortoise.expressions import F
    from tortoise.transactions import in_transaction

    from models import CatalogState, Region, ServiceItem, ServiceItemChange

    report = LoadReport()
    async with in_transaction():
        stored_regions = {r.code: r for r in await Region.all()}
        for region in regions.values():
            known = stored_regions.get(region.code)
            if known is None:
                await Region.create(code=region.code, name=region.name, parent=region.parent)
            elif (known.name, known.parent) != (region.name, region.parent):
                await Region.filter(code=region.code).update(name=region.name, parent=region.parent)
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
        if report.changed and not await CatalogState.filter(id=1).update(version=F("version") + 1):
            await CatalogState.create(id=1, version=1)
    return report


async def catalog_version() -> int:
    """The catalog's version in the database (0 before the first load): one primary-key read."""
    from models import CatalogState

    found: list[Any] = await CatalogState.filter(id=1).values_list("version", flat=True)
    return int(found[0]) if found else 0


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
