"""Regions: a second region's items on top of the seed, each citizen answered from their own region,
imports that name file, item and field for every refusal, and imports that reach a running server."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.catalog import SEED_DIR as SEED
from app.catalog import CatalogError, catalog_files, import_catalog, load_items, validate_sources
from models import Application, ServiceItem, ServiceItemChange, User
from tests.conftest import TEST_REDIS_URL, database_url
from tests.helpers import ROOT, service_env

# What a district's public list of service items gives (department, item name, task type, link to the
# guide) and nothing else. The （终止） variant comes first, as in the real list.
GUANG_AN_DISTRICT = [
    ("广安市广安区人力资源和社会保障局", "失业登记", "公共服务"),
    ("广安市广安区教育局", "教师资格认定", "行政确认"),
    ("广安市广安区交通运输局", "机动车驾驶员培训备案（终止）", "其他行政权力"),
    ("广安市广安区交通运输局", "机动车驾驶员培训备案", "其他行政权力"),
    ("广安市广安区民政局", "居家养老服务补贴申请", "公共服务"),
]
SICHUAN_PROVINCE = [("四川省公安厅出入境管理局", "往来港澳通行证首次申领", "公共服务")]
CATEGORY_OF = {"人力资源": ("就业创业", "JY"), "教育": ("教育", "JYU"), "交通运输": ("交通运输", "JT"),
               "民政": ("婚姻与民政", "MZ"), "公安": ("出入境", "CRJ")}  # fmt: skip
LEVEL_OF = {6: "county", 4: "city", 2: "province"}


def converted(records: list[tuple[str, str, str]], region: str) -> dict[str, Any]:
    """The public records in the import format: the fields the data lacks defaulted as the format requires."""
    items = []
    level = "province" if region.endswith("0000") else "city" if region.endswith("00") else "county"
    for n, (department, name, task_type) in enumerate(records, start=1):
        category, cat = next(v for k, v in CATEGORY_OF.items() if k in department)
        items.append({
            "code": f"{region}-{cat}-{n:03d}-01", "name": name, "aliases": [f"{name}办理", f"办理{name}事项"],
            "department": department, "level": level, "category": category, "life_events": [],
            "applicant_type": "个人", "conditions": ["详见办事指南"],
            "materials": [{"name": "详见办事指南", "required": True, "copies": 0, "electronic_licence": False}],
            "steps": ["提交申请", "受理办结"], "legal_time_limit_days": 20, "promised_time_limit_days": 20,
            "fee": "不收费", "online_level": "现场", "max_visits": 1, "offline_locations": [department],
            "legal_basis": ["详见办事指南"], "keywords": [name], "training_phrases": [],
            "task_type": task_type, "guide_url": f"https://guide.example.cn/{region}/{n:04d}",
        })  # fmt: skip
        if name.endswith("（终止）"):
            # A withdrawn variant's guide still names the item it ends: more words of the plain name than
            # the plain item has, so only the exact name's evidence puts the plain item first.
            plain = name.removesuffix("（终止）")
            items[-1].update(keywords=[plain, "终止"], training_phrases=[f"{plain}在哪办", f"{plain}要什么材料"])
    return {"region": region, "items": items}


def write_json(folder: Path, name: str, payload: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(payload, ensure_ascii=False), "utf-8")
    return path


async def load_seed() -> None:
    await load_items(validate_sources(catalog_files(SEED)), "seed")


async def snapshot() -> list[Any]:
    rows = await ServiceItem.all().order_by("code").values_list("code", "name", "content_hash", "version")
    return [*rows, await ServiceItemChange.all().count()]


async def import_sichuan(folder: Path) -> None:
    write_json(folder, "511602-guangan.json", converted(GUANG_AN_DISTRICT, "511602"))
    write_json(folder, "510000-sichuan.json", converted(SICHUAN_PROVINCE, "510000"))
    result = await import_catalog(catalog_files(folder), "sichuan")
    assert not result.problems
    assert len(result.report.created) == len(GUANG_AN_DISTRICT) + len(SICHUAN_PROVINCE)


async def ask(http: httpx.AsyncClient, text: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    response = await http.post("/api/v1/chat", json={"text": text, **extra}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


async def citizen(http: httpx.AsyncClient, name: str) -> dict[str, str]:
    login = (await http.post("/api/v1/auth/wx-login", json={"code": f"{name}.1"})).json()
    return {"Authorization": f"Bearer {login['access_token']}"}


# -- a second region -------------------------------------------------------------------------------


async def test_a_second_region_on_top_of_the_seed_answers_each_citizen_from_their_region(
    start_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    await load_seed()
    await import_sichuan(tmp_path / "sichuan")
    assert await ServiceItem.filter(name="失业登记").count() == 2  # one per region, same standard name
    running = await start_server(mount_fake_wechat=True)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        sichuan, guangdong = await citizen(http, "sc"), await citizen(http, "gd")
        chose = await http.put("/api/v1/me/preferences", json={"region": "511602"}, headers=sichuan)
        assert chose.status_code == 200 and chose.json() == {"elder_mode": False, "region": "511602"}
        assert (
            await http.put("/api/v1/me/preferences", json={"region": "440000"}, headers=guangdong)
        ).status_code == 200
        assert (await http.get("/api/v1/me/preferences", headers=sichuan)).json()["region"] == "511602"

        there = await ask(http, "失业登记", sichuan)
        assert there["action"] == "answer" and there["items"][0]["code"] == "511602-JY-001-01"
        assert there["region"] == {"code": "511602", "name": "广安区", "default": False}
        assert "广安区" in there["reply"] and there["cards"][0]["region_name"] == "广安区"
        here = await ask(http, "失业登记", guangdong)
        assert here["action"] == "answer" and here["items"][0]["code"] == "440000-JY-001-01"
        assert "广东省" in here["reply"]
        # A county's citizen also sees the province's items (and never Guangdong's).
        permit = await ask(http, "往来港澳通行证首次申领", sichuan)
        assert permit["items"][0]["code"] == "510000-CRJ-001-01" and "四川省" in permit["reply"]
        # Nobody chose: the deployment's default region, and an offer to change it.
        anonymous = await ask(http, "失业登记")
        assert anonymous["items"][0]["code"] == "440000-JY-001-01"
        assert anonymous["region"]["default"] is True and "切换地区" in anonymous["quick_replies"]
        # The mini-program may send the region an anonymous citizen picked.
        picked = await ask(http, "教师资格认定", region="511602")
        assert picked["items"][0]["code"] == "511602-JYU-002-01"

        # The catalog API filters by region: a region's items and those above it.
        listed = (await http.get("/api/v1/services", params={"region": "511602", "page_size": 100})).json()
        assert {i["code"][:6] for i in listed["items"]} == {"511602", "510000"}
        assert listed["total"] == len(GUANG_AN_DISTRICT) + len(SICHUAN_PROVINCE)
        seed_count = len(validate_sources(catalog_files(SEED)))
        assert (await http.get("/api/v1/services", params={"region": "440000"})).json()["total"] == seed_count
        assert (await http.get("/api/v1/services", params={"region": "51160"})).status_code == 400
        regions = {r["code"]: r for r in (await http.get("/api/v1/services/regions")).json()["regions"]}
        assert regions["511602"]["name"] == "广安区" and regions["511602"]["parent"] == "511600"
        assert regions["511602"]["count"] == len(GUANG_AN_DISTRICT)
        detail = (await http.get("/api/v1/services/511602-JY-001-01")).json()
        assert detail["task_type"] == "公共服务" and detail["guide_url"].startswith("https://")
        bad = await http.put("/api/v1/me/preferences", json={"region": "999999"}, headers=sichuan)
        assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "region"


async def test_an_exact_name_beats_its_suffixed_variant(start_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    await load_seed()
    await import_sichuan(tmp_path / "sichuan")
    running = await start_server()
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        plain = await ask(http, "机动车驾驶员培训备案", region="511602")
        assert plain["action"] == "answer" and plain["items"][0]["name"] == "机动车驾驶员培训备案"
        ended = await ask(http, "机动车驾驶员培训备案（终止）", region="511602")
        assert ended["items"][0]["name"] == "机动车驾驶员培训备案（终止）"


def test_the_engine_ranks_an_exact_name_first() -> None:
    from intents.build import build_assistant

    items = converted(GUANG_AN_DISTRICT, "511602")["items"]
    assistant = build_assistant(items, families=[], synonyms={}, out_of_scope=[])
    plain, ended = "机动车驾驶员培训备案", "机动车驾驶员培训备案（终止）"
    for typed, expected in ((plain, plain), (ended, ended), ("机动车驾驶员培训备案(终止)", ended)):
        result = assistant.index.search(typed)
        assert result.best is not None and result.best.intent.name == expected
        assert result.margin > 0  # ahead, not tied


async def test_applications_keep_the_items_region(db: None, tmp_path: Path) -> None:
    from app.applications import ApplicationService
    from app.core.workdays import WorkCalendar

    await load_seed()
    await import_sichuan(tmp_path / "sichuan")
    user = await User.create(openid="region-applicant", level="L2")
    given = [{"name": "详见办事指南", "file_id": "upload-1"}]
    made = await ApplicationService(WorkCalendar.from_file()).create(user, "511602-MZ-005-01", {}, given)
    assert made.region == "511602" and (await Application.get(id=made.id)).region == "511602"


# -- refusals ----------------------------------------------------------------------------------------


def one_item(code: str, name: str, aliases: list[str] | None = None) -> dict[str, Any]:
    item = converted([("广东省人力资源和社会保障厅", name, "公共服务")], code[:6])["items"][0]
    item.update(code=code, aliases=aliases or [f"{name}办理", f"办理{name}事项"])
    return item


REFUSALS = [
    # (the file's region, the item, the message expected)
    (None, one_item("51160-JY-001-01", "失业登记"), "field 'code' must look like RRRRRR-CAT-NNN-NN"),
    (None, one_item("519999-JY-001-01", "失业登记"), "field 'code' has region 519999, which is not a known"),
    ("511602", one_item("511603-JY-001-01", "失业登记"), "field 'code' has region 511603, but the file declares"),
    (None, one_item("440000-JY-099-01", "失业登记"),
     "field 'name' '失业登记' is already the name of 440000-JY-001-01 in region 440000 广东省 in the database"),
    (None, one_item("440000-JY-099-01", "新的就业事项", ["就业登记", "新的就业事项办理"]),
     "field 'aliases' '就业登记' is the name of 440000-JY-002-01 (440000 广东省) in the database"),
    (None, one_item("440000-JY-099-01", "办理失业登记"),
     "field 'name' '办理失业登记' is an alias of 440000-JY-001-01 (440000 广东省) in the database"),
]  # fmt: skip


@pytest.mark.parametrize(("region", "item", "expected"), REFUSALS)
async def test_each_refusal_names_file_item_and_field_and_writes_nothing(
    db: None, tmp_path: Path, region: str | None, item: dict[str, Any], expected: str
) -> None:
    await load_seed()
    before = await snapshot()
    good = converted(GUANG_AN_DISTRICT[:1], "511602")["items"][0]
    document: dict[str, Any] = {"items": [good, item] if region is None else [item]}
    if region:
        document["region"] = region
    path = write_json(tmp_path, "bad.json", document)
    with pytest.raises(CatalogError) as caught:
        await import_catalog([path], "bad.json")
    position = 2 if region is None else 1
    assert any(f"bad.json item {position} ({item['code']}): {expected}" in p for p in caught.value.problems), (
        caught.value.problems
    )
    assert await snapshot() == before
    dry = await import_catalog([path], "bad.json", dry_run=True)
    assert dry.refused == 1 and dry.problems == caught.value.problems and await snapshot() == before


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app", "catalog", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_cli_dry_run_counts_and_refusals_never_show_a_traceback(tmp_path: Path) -> None:
    env = service_env(SHENGSHI_VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite://{tmp_path / 'cli.sqlite3'}")
    assert run_cli(env, "load").returncode == 0
    district = write_json(tmp_path, "511602.json", converted(GUANG_AN_DISTRICT, "511602"))
    dry = run_cli(env, "import", "--dry-run", str(district))
    assert dry.returncode == 0, dry.stderr
    assert (
        f"Dry run, nothing written: {len(GUANG_AN_DISTRICT)} created, 0 updated, 0 unchanged, 0 refused." in dry.stdout
    )
    clash = write_json(tmp_path, "clash.json", {"items": [one_item("440000-JY-099-01", "失业登记")]})
    refused = run_cli(env, "import", str(clash))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "clash.json item 1 (440000-JY-099-01): field 'name' '失业登记' is already the name of" in refused.stderr
    assert "database is unchanged" in refused.stderr
    mixed = write_json(tmp_path, "mixed.json", {"items": [*converted(GUANG_AN_DISTRICT, "511602")["items"],
                                                          one_item("440000-JY-099-01", "失业登记")]})  # fmt: skip
    assert run_cli(env, "import", str(district)).returncode == 0
    again = run_cli(env, "import", "--dry-run", str(mixed))
    assert again.returncode == 1 and "Traceback" not in again.stderr
    assert f"0 created, 0 updated, {len(GUANG_AN_DISTRICT)} unchanged, 1 refused." in again.stdout


# -- changes reach running servers --------------------------------------------------------------------

NEW_ITEM = ("广安市广安区民政局", "困难群众临时救助申请", "公共服务")


async def answered_after(http: httpx.AsyncClient, text: str, code: str, region: str) -> float:
    """Poll the assistant until it answers ``code``; answers the seconds it took (a generous bound, not a limit)."""
    started = time.monotonic()
    while time.monotonic() - started < 60:
        body = await ask(http, text, region=region)
        if body["action"] == "answer" and body["items"][0]["code"] == code:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"{code} was not answered within 60 s of its import")


async def test_a_cli_import_reaches_the_running_server(
    start_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Real Redis: the CLI publishes the reload (the version check is put out of reach, so the message is
    what counts). Embedded Redis: no message can reach the server, and the catalog version does."""
    if TEST_REDIS_URL:
        monkeypatch.setattr("app.assistant.service.VERSION_CHECK_S", 3600.0)
    await load_seed()
    running = await start_server()
    document = converted([*GUANG_AN_DISTRICT, NEW_ITEM], "511602")
    code = document["items"][-1]["code"]
    path = write_json(tmp_path, "new.json", document)
    env = service_env(SHENGSHI_VAR_DIR=str(tmp_path), DATABASE_URL=database_url(), **(
        {"REDIS_URL": TEST_REDIS_URL} if TEST_REDIS_URL else {}))  # fmt: skip
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        before = await ask(http, NEW_ITEM[1], region="511602")
        assert not before["items"] or before["items"][0]["code"] != code
        done = await asyncio.to_thread(run_cli, env, "import", str(path))
        assert done.returncode == 0, done.stderr
        # Redis's channels are shared by every database of the server: other servers may hear it too.
        assert ("running worker(s) to reload" if TEST_REDIS_URL else "embedded Redis") in done.stderr
        delay = await answered_after(http, NEW_ITEM[1], code, "511602")
    print(f"\nCLI import → answered by the running server after {delay:.2f} s")


async def test_the_admin_import_reaches_the_running_server(
    start_server,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The way with the embedded Redis (and any): the publisher imports over HTTP, the server reloads at once."""
    from tests.test_console_access import staff_token

    monkeypatch.setattr("app.assistant.service.VERSION_CHECK_S", 3600.0)
    await load_seed()
    running = await start_server()
    document = converted([*GUANG_AN_DISTRICT, NEW_ITEM], "511602")
    code = document["items"][-1]["code"]
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        publisher = await staff_token(http, running.app, "catalog.pub", "publisher")
        editor = await staff_token(http, running.app, "catalog.ed", "editor")
        url = "/api/v1/admin/catalog/import"
        assert (await http.post(url, json=document, headers=editor)).status_code == 403
        bad = {"items": [one_item("440000-JY-099-01", "失业登记")]}
        refused = await http.post(url, params={"name": "clash.json"}, json=bad, headers=publisher)
        error = refused.json()["error"]
        assert refused.status_code == 400 and error["code"] == "catalog_invalid"
        assert "clash.json item 1 (440000-JY-099-01): field 'name'" in error["details"]["problems"][0]
        dry = await http.post(url, params={"dry_run": "true", "name": "511602.json"}, json=document, headers=publisher)
        assert dry.json()["created"] == len(document["items"]) and dry.json()["dry_run"] is True
        assert not await ServiceItem.filter(code=code).exists()
        await ask(http, NEW_ITEM[1], region="511602")  # the version check is now an hour away
        imported = await http.post(url, params={"name": "511602.json"}, json=document, headers=publisher)
        assert imported.status_code == 200, imported.text
        assert imported.json()["created"] == len(document["items"]) and imported.json()["workers_told"] >= 1
        delay = await answered_after(http, NEW_ITEM[1], code, "511602")
    print(f"\nadmin import → answered by the running server after {delay:.2f} s")


async def test_a_missed_reload_is_caught_by_the_catalog_version(start_server) -> None:  # type: ignore[no-untyped-def]
    """Nobody publishes: the worker notices the version in the database at its next question."""
    await load_seed()
    running = await start_server()
    document = converted([*GUANG_AN_DISTRICT, NEW_ITEM], "511602")
    code = document["items"][-1]["code"]
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        await ask(http, NEW_ITEM[1], region="511602")
        await load_items(validate_sources([write_json(Path(running.app.ctx.settings.var_dir), "v.json", document)]),
                         "direct")  # fmt: skip
        delay = await answered_after(http, NEW_ITEM[1], code, "511602")
    print(f"\nno message, version check → answered after {delay:.2f} s")


async def test_the_official_account_asks_once_for_the_region_when_it_matters(
    start_server,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    from tests.test_official_account import WeChatServer, article_url, new_openid

    await load_seed()
    await import_sichuan(tmp_path / "sichuan")
    running = await start_server(mount_fake_wechat=True)
    async with httpx.AsyncClient(base_url=running.url, timeout=30) as http:
        wechat, openid = WeChatServer(http), new_openid()
        unique = await wechat.ask(openid, "普通护照首次申领")  # one region has it: nothing to ask
        assert unique is not None and "您在哪个地区" not in unique["Articles"]["item"]["Description"]
        first = await wechat.ask(openid, "失业登记")  # every region has its own: asked, once
        assert first is not None and "440000-JY-001-01" in article_url(first)
        assert "您在哪个地区" in first["Articles"]["item"]["Description"]
        again = await wechat.ask(openid, "失业登记")
        assert again is not None and "您在哪个地区" not in again["Articles"]["item"]["Description"]
        named = await wechat.ask(openid, "广安区")
        assert named is not None and "广安区" in named["Content"]
        there = await wechat.ask(openid, "失业登记")
        assert there is not None and "511602-JY-001-01" in article_url(there)
        assert "广安区" in there["Articles"]["item"]["Description"]
