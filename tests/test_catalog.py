"""The service catalog: seed coverage, all-or-nothing loads, round trips, and the API."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.catalog import (
    CATEGORIES,
    SEED_DIR,
    CatalogError,
    catalog_files,
    dump_csv,
    dump_json,
    export_items,
    load_items,
    validate_sources,
)
from models import ServiceItem, ServiceItemChange

# Every service the catalog must cover, by category: each pattern must be in some item's name there.
MUST_COVER = {
    "出入境": ["港澳通行证首次", "港澳通行证再次签注", "港澳通行证换发", "港澳通行证补发", "护照首次", "护照换发",
              "护照补发", "台湾通行证"],
    "户籍户政": ["出生", "户口迁入", "户口迁出", "身份证首次申领|居民身份证申领", "身份证换领", "身份证补领",
                "临时身份证明", "居住证申领", "居住证签注", "户籍证明"],
    "社会保障": ["社保卡申领|社会保障卡申领", "挂失|补换", "启用", "参保证明|缴费记录", "养老保险参保|职工基本养老保险参保",
                "转移接续", "退休", "城乡居民养老保险|城乡居民基本养老保险", "灵活就业", "失业保险金", "工伤认定",
                "生育津贴", "丧葬"],
    "医疗保障": ["城乡居民医保参保|城乡居民基本医疗保险参保", "异地就医", "医保电子凭证", "家庭共济", "门诊慢特病|门诊特定病种"],
    "就业创业": ["失业登记", "就业登记", "仲裁", "职业技能等级证书", "创业补贴|创业资助", "创业担保贷款"],
    "住房": ["租房", "购房", "离职", "退休", "公积金个人住房贷款|公积金贷款", "缴存证明", "公租房|公共租赁住房",
            "首次登记", "转移登记", "抵押登记", "权属"],
    "教育": ["小学", "初中", "积分入学", "转学", "教师资格", "资助", "学历"],
    "卫生健康": ["出生医学证明", "预防接种", "医师执业注册", "生育登记"],
    "婚姻与民政": ["结婚登记", "离婚登记", "婚姻登记记录证明", "最低生活保障", "残疾人证", "两项补贴", "高龄",
                  "老年人优待证", "退役军人优待证"],
    "公安交管": ["驾驶证换证|驾驶证期满换证", "驾驶证遗失补领", "检验标志", "交通违法", "转移登记", "注册登记",
                "无犯罪记录证明"],
    "企业": ["企业设立登记", "变更登记", "注销", "简易注销", "年度报告", "个体工商户", "食品经营许可", "药品经营许可",
            "施工许可", "投资项目", "商标", "专利", "安全生产许可", "危险化学品经营许可", "排污许可", "消防验收"],
    "税务": ["个人所得税", "发票", "新办纳税人", "完税证明|纳税证明", "社保费"],
    "交通运输": ["网络预约出租汽车驾驶员证", "运输经营许可"],
    "法律服务及其他": ["法律援助", "公证", "档案", "12345"],
}  # fmt: skip


@functools.cache
def seed_items() -> tuple[dict[str, Any], ...]:
    return tuple(validate_sources(catalog_files(SEED_DIR)))


def items() -> list[dict[str, Any]]:
    return copy.deepcopy(list(seed_items()))


def test_seed_is_valid_and_large_enough() -> None:
    seed = seed_items()
    assert len(seed) >= 150
    assert {item["category"] for item in seed} == set(CATEGORIES)
    assert all(len(item["aliases"]) >= 2 for item in seed)
    assert all(item["conditions"] and item["materials"] and len(item["steps"]) >= 2 for item in seed)


@pytest.mark.parametrize("category", list(MUST_COVER))
def test_seed_covers_the_required_services(category: str) -> None:
    names = [item["name"] for item in seed_items() if item["category"] == category]
    missing = [p for p in MUST_COVER[category] if not any(alt in n for n in names for alt in p.split("|"))]
    assert not missing, f"{category} lacks {missing}"


def test_electronic_licences_are_marked() -> None:
    flagged = {m["name"] for item in seed_items() for m in item["materials"] if m["electronic_licence"]}
    assert {"居民身份证", "户口簿", "营业执照"} <= flagged


# -- loading -------------------------------------------------------------------


def write(folder: Path, name: str, payload: Any) -> Path:
    path = folder / name
    path.write_text(payload if isinstance(payload, str) else yaml.safe_dump(payload, allow_unicode=True), "utf-8")
    return path


def good_file(folder: Path, count: int = 3) -> Path:
    chosen = [i for i in items() if i["category"] == "出入境"][:count]
    return write(
        folder,
        "01-good.yaml",
        {"category": "出入境", "items": [{k: v for k, v in i.items() if k != "category"} for i in chosen]},
    )


def break_missing_field(item: dict[str, Any]) -> None:
    del item["department"]


def break_unknown_enum(item: dict[str, Any]) -> None:
    item["online_level"] = "随便办"


def break_wrong_type(item: dict[str, Any]) -> None:
    item["max_visits"] = "one"


def break_bad_material(item: dict[str, Any]) -> None:
    item["materials"][0]["required"] = "yes"


def break_bad_code(item: dict[str, Any]) -> None:
    item["code"] = "GZ-0001"


@pytest.mark.parametrize(
    ("breaker", "expected"),
    [
        (break_missing_field, "field 'department' is missing"),
        (break_unknown_enum, "field 'online_level' has unknown value"),
        (break_wrong_type, "field 'max_visits'"),
        (break_bad_material, "field 'materials[1].required'"),
        (break_bad_code, "field 'code' must look like"),
    ],
)
async def test_bad_item_stops_the_load_and_names_file_item_field(
    db: None, tmp_path: Path, breaker, expected: str
) -> None:  # type: ignore[no-untyped-def]
    await load_items(items()[:5], "test")
    before = await snapshot()
    good_file(tmp_path)
    bad = [i for i in items() if i["category"] == "税务"][:2]
    breaker(bad[1])
    write(tmp_path, "02-bad.yaml", {"items": bad})
    with pytest.raises(CatalogError) as caught:
        validate_sources(catalog_files(tmp_path))
    message = "\n".join(caught.value.problems)
    assert "02-bad.yaml item 2" in message and expected in message
    assert await snapshot() == before


async def test_duplicate_code_and_malformed_files_are_refused(db: None, tmp_path: Path) -> None:
    first = good_file(tmp_path)
    duplicate = yaml.safe_load(first.read_text("utf-8"))
    duplicate["items"][0]["name"] = "另一个名字"
    write(tmp_path, "02-dup.yaml", duplicate)
    with pytest.raises(CatalogError, match="duplicates the code"):
        validate_sources(catalog_files(tmp_path))
    for n, (name, text, expected) in enumerate(
        [
            ("03-broken.yaml", "items: [\n  - code: x\n    name: [unclosed", "malformed YAML"),
            ("03-broken.json", '{"items": [', "malformed JSON"),
            ("03-broken.yaml", "just a string", "expected a mapping with an 'items' list"),
            ("03-broken.csv", "code,name\n1,2\n", "malformed CSV"),
        ]
    ):
        folder = tmp_path / f"case{n}"
        folder.mkdir()
        write(folder, name, text)
        with pytest.raises(CatalogError) as caught:
            validate_sources(catalog_files(folder))
        assert name in caught.value.problems[0] and expected in caught.value.problems[0]


async def snapshot() -> list[tuple[Any, ...]]:
    rows = await ServiceItem.all().order_by("code").values_list("code", "content_hash", "version")
    changes = await ServiceItemChange.all().count()
    return [*rows, ("changes", changes)]


async def test_loading_twice_changes_nothing(db: None) -> None:
    first = await load_items(items(), "seed")
    assert len(first.created) == len(seed_items())
    before = await snapshot()
    second = await load_items(items(), "seed")
    assert not second.changed and second.unchanged == len(seed_items())
    assert await snapshot() == before


async def test_a_change_bumps_the_version_and_is_recorded(db: None) -> None:
    data = items()
    await load_items(data, "seed")
    data[0]["promised_time_limit_days"] = max(data[0]["promised_time_limit_days"] - 1, 0)
    data[0]["fee"] = data[0]["fee"] + "（2026年起）"
    report = await load_items(data, "update")
    assert report.updated == [data[0]["code"]]
    row = await ServiceItem.get(code=data[0]["code"])
    assert row.version == 2
    change = await ServiceItemChange.get(code=row.code, version=2)
    assert change.action == "updated" and "fee" in change.changed_fields and change.source == "update"


async def test_failure_inside_the_transaction_rolls_everything_back(db: None) -> None:
    data = items()[:10]
    await load_items(data[:5], "seed")
    before = await snapshot()
    clash = copy.deepcopy(data[5:8])
    clash[2]["name"] = data[0]["name"]  # passes per-file checks here, breaks the unique name in the database
    with pytest.raises(Exception):  # noqa: B017 - the database's unique constraint, whatever the driver calls it
        await load_items(clash, "clash")
    assert await snapshot() == before


@pytest.mark.parametrize("fmt", ["json", "csv"])
async def test_export_import_round_trip(db: None, tmp_path: Path, fmt: str) -> None:
    await load_items(items(), "seed")
    exported = await export_items()
    text = dump_json(exported) if fmt == "json" else dump_csv(exported)
    path = write(tmp_path, f"catalog.{fmt}", text)
    reimported = validate_sources([path])
    assert reimported == sorted(items(), key=lambda i: i["code"])
    await ServiceItem.all().delete()
    await ServiceItemChange.all().delete()
    await load_items(reimported, path.name)
    again = await export_items()
    assert (dump_json(again) if fmt == "json" else dump_csv(again)) == text


# -- API -------------------------------------------------------------------------


@pytest.fixture
async def api(start_server) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    await load_items(items(), "seed")
    running = await start_server()
    async with httpx.AsyncClient(base_url=running.url + "/api/v1", timeout=10) as client:
        yield client


async def test_list_and_paginate(api: httpx.AsyncClient) -> None:
    total = len(seed_items())
    first = (await api.get("/services", params={"page_size": 100})).json()
    assert first["total"] == total and first["page"] == 1 and len(first["items"]) == 100
    assert {"code", "name", "aliases", "department", "category"} <= set(first["items"][0])
    last_page = (total + 99) // 100
    last = (await api.get("/services", params={"page_size": 100, "page": last_page})).json()
    assert len(last["items"]) == total - 100 * (last_page - 1)
    beyond = (await api.get("/services", params={"page": last_page + 1, "page_size": 100})).json()
    assert beyond["items"] == [] and beyond["total"] == total
    codes = [i["code"] for page in (first, last) for i in page["items"]]
    assert codes == sorted(codes)


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page": "-1"}, {"page": "x"}, {"page_size": "0"}, {"page_size": "101"}, {"page_size": "1.5"},
     {"category": "天气"}, {"life_event": "旅游"}, {"applicant_type": "公司"}, {"online": "yes"}, {"q": "x" * 101}],
)  # fmt: skip
async def test_bad_parameters_answer_400(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await api.get("/services", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"


async def test_filters(api: httpx.AsyncClient) -> None:
    seed = seed_items()

    async def codes(**params: str) -> set[str]:
        found: list[str] = []
        page = 1
        while True:
            body = (await api.get("/services", params={**params, "page_size": 100, "page": page})).json()
            found += [i["code"] for i in body["items"]]
            if len(body["items"]) < 100:
                break
            page += 1
        assert body["total"] == len(found) == len(set(found))
        return set(found)

    assert await codes(category="出入境") == {i["code"] for i in seed if i["category"] == "出入境"}
    assert await codes(life_event="出生") == {i["code"] for i in seed if "出生" in i["life_events"]}
    assert await codes(applicant_type="法人") == {i["code"] for i in seed if i["applicant_type"] == "法人"}
    assert await codes(online="全程网办") == {i["code"] for i in seed if i["online_level"] == "全程网办"}
    combined = await codes(category="住房", online="全程网办")
    assert combined == {i["code"] for i in seed if i["category"] == "住房" and i["online_level"] == "全程网办"}
    department = seed[0]["department"]
    assert await codes(department=department) >= {i["code"] for i in seed if i["department"] == department}
    passport = await codes(q="护照")
    assert passport and all(
        "护照" in i["name"] or any("护照" in a for a in i["aliases"]) or "护照" in "".join(i["keywords"])
        for i in seed
        if i["code"] in passport
    )
    by_alias = next(i for i in seed if i["aliases"][0] not in i["name"])
    assert by_alias["code"] in await codes(q=by_alias["aliases"][0])
    assert await codes(q="%") == set() and await codes(q="_") == set()
    assert await codes(q="不存在的事项名称") == set()


async def test_detail_categories_and_life_events(api: httpx.AsyncClient) -> None:
    item = seed_items()[0]
    detail = (await api.get(f"/services/{item['code']}")).json()
    assert detail["name"] == item["name"] and detail["materials"] == item["materials"]
    assert detail["version"] == 1 and detail["history"][0]["action"] == "created"
    for unknown in ("440000-XX-999-99", "x" * 300, "%F3%AA%8A"):
        missing = await api.get(f"/services/{unknown}")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    categories = (await api.get("/services/categories")).json()["categories"]
    assert sum(c["count"] for c in categories) == len(seed_items())
    assert {c["name"] for c in categories} == set(CATEGORIES)
    events = {e["name"]: e["count"] for e in (await api.get("/services/life-events")).json()["life_events"]}
    assert events["出生"] == sum("出生" in i["life_events"] for i in seed_items()) > 0


def test_cli_load_reports_errors_and_leaves_database_unchanged(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.helpers import ROOT, service_env

    db_url = f"sqlite://{tmp_path / 'cli.sqlite3'}"
    env = service_env(SHENGSHI_VAR_DIR=str(tmp_path), DATABASE_URL=db_url)
    good = tmp_path / "good"
    good.mkdir()
    good_file(good)
    ok = subprocess.run([sys.executable, "-m", "app", "catalog", "load", str(good)], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "3 created" in ok.stdout
    bad = yaml.safe_load((good / "01-good.yaml").read_text("utf-8"))
    bad["items"][0]["level"] = "village"
    write(
        good,
        "02-bad.yaml",
        {"category": "出入境", "items": [{**bad["items"][0], "code": "440000-CRJ-099-01", "name": "新事项"}]},
    )
    failed = subprocess.run([sys.executable, "-m", "app", "catalog", "load", str(good)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert failed.returncode == 1
    assert "02-bad.yaml item 1 (440000-CRJ-099-01): field 'level' has unknown value 'village'" in failed.stderr
    assert "database is unchanged" in failed.stderr
    exported = subprocess.run([sys.executable, "-m", "app", "catalog", "export", "--format", "json"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert len(json.loads(exported.stdout)["items"]) == 3
