"""Ratings (好差评), favourites, recently viewed items, 长辈模式, and the simulator's files at /stub/."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.assistant.service import elder_sentences, for_elders
from app.citizen import RATING_REASONS, scrub_comment
from models import Rating, RecentView, User
from tests.test_applications import SERVICE, World, open_world, seed

PASSPORT_VISA = "440000-CRJ-002-01"  # 往来港澳通行证再次签注（个人旅游）
# The fake identity service's synthetic people: one ID number binds to one account.
PEOPLE = [("李四", "440306199003071232"), ("张三", "11010519491231002X"), ("王小明", "440106198501011237")]


@pytest.fixture
async def world(start_server):  # type: ignore[no-untyped-def]
    async with open_world(start_server) as world:
        yield world


async def completed_application(world: World, citizen: dict, clerk: dict, code: str = SERVICE) -> dict:
    created = await world.apply(citizen, code)
    assert created.status_code == 201, created.text
    app = created.json()
    for to in ("accepted", "reviewing", "approved", "completed"):
        moved = await world.move(clerk, app, to)
        assert moved.status_code == 200, moved.text
        app = moved.json()
    return app


# -- ratings --------------------------------------------------------------------------------


async def test_the_reasons_are_a_fixed_list_with_codes(world: World) -> None:
    body = (await world.http.get("/api/v1/ratings/reasons")).json()
    assert [r["code"] for r in body["reasons"]] == [r.code for r in RATING_REASONS]
    texts = {r["text"] for r in body["reasons"]}
    assert {"办事效率高", "服务态度好", "材料要求不清", "等待时间长", "多次跑腿", "其他"} <= texts
    assert body["scores"] == [1, 2, 3, 4, 5]


async def test_only_the_applicant_rates_only_after_completion_and_only_once(world: World) -> None:
    citizen = await world.citizen("rater")
    clerk = await world.staff("rating-clerk")
    app = (await world.apply(citizen)).json()
    url = f"/api/v1/applications/{app['id']}/rating"
    good = {"score": 5, "reasons": ["efficient", "courteous"], "comment": "很快"}

    assert (await world.http.post(url, json=good)).status_code == 401
    early = await world.http.post(url, json=good, headers=citizen)
    assert early.status_code == 409 and early.json()["error"]["code"] == "not_completed"

    for to in ("accepted", "reviewing", "approved", "completed"):
        app = (await world.move(clerk, app, to)).json()
    other = await world.citizen("stranger", verify=("张三", "11010519491231002X"))
    assert (await world.http.post(url, json=good, headers=other)).status_code == 404
    assert (await world.http.get(url, headers=citizen)).json() == {"rating": None}

    rated = await world.http.post(url, json=good, headers=citizen)
    assert rated.status_code == 201, rated.text
    body = rated.json()
    assert body["score"] == 5 and body["application_id"] == app["id"] and body["service_code"] == SERVICE
    assert [r["text"] for r in body["reasons"]] == ["办事效率高", "服务态度好"] and body["comment"] == "很快"
    again = await world.http.post(url, json={"score": 1}, headers=citizen)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rated"
    assert (await world.http.get(url, headers=citizen)).json()["rating"]["score"] == 5
    assert await Rating.filter(application_id=app["id"]).count() == 1


BAD_RATINGS = [
    {},
    {"score": 0},
    {"score": 6},
    {"score": 4.5},
    {"score": True},
    {"score": "5"},
    {"score": 3, "reasons": ["made_up"]},
    {"score": 3, "reasons": "efficient"},
    {"score": 3, "comment": "长" * 501},
    {"score": 2, "reasons": ["other"]},
]


async def test_bad_ratings_are_400(world: World) -> None:
    citizen = await world.citizen("strict")
    clerk = await world.staff("strict-clerk")
    app = await completed_application(world, citizen, clerk)
    for body in BAD_RATINGS:
        response = await world.http.post(f"/api/v1/applications/{app['id']}/rating", json=body, headers=citizen)
        assert response.status_code == 400, (body, response.text)
    assert not await Rating.exists(application_id=app["id"])
    assert (
        await world.http.post("/api/v1/applications/999999/rating", json={"score": 3}, headers=citizen)
    ).status_code == 404


async def test_two_ratings_at_once_one_wins(world: World) -> None:
    citizen = await world.citizen("racer")
    clerk = await world.staff("race-clerk")
    app = await completed_application(world, citizen, clerk)
    url = f"/api/v1/applications/{app['id']}/rating"
    answers = await asyncio.gather(
        *(world.http.post(url, json={"score": s}, headers=citizen) for s in (1, 2, 3, 4)),
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]


async def test_numbers_in_the_comment_are_not_kept_in_clear(world: World) -> None:
    assert scrub_comment("打13800138000找我") == "打138******00找我"
    citizen = await world.citizen("talkative")
    clerk = await world.staff("talk-clerk")
    app = await completed_application(world, citizen, clerk)
    rated = await world.http.post(
        f"/api/v1/applications/{app['id']}/rating",
        json={"score": 2, "reasons": ["long_wait", "other"], "comment": "身份证440306199003071232排了很久"},
        headers=citizen,
    )
    assert rated.status_code == 201
    stored = await Rating.get(application_id=app["id"])
    assert "440306199003071232" not in stored.comment and stored.comment.startswith("身份证440")


async def test_staff_see_ratings_per_item_and_department(world: World) -> None:
    clerk = await world.staff("report-clerk")
    viewer = await world.staff("report-viewer", role="viewer")
    scores = [(SERVICE, 5, ["efficient"]), (SERVICE, 2, ["long_wait"]), (PASSPORT_VISA, 1, ["repeat_visits"])]
    for n, (code, score, reasons) in enumerate(scores):
        citizen = await world.citizen(f"reporter{n}", verify=PEOPLE[n])
        app = await completed_application(world, citizen, clerk, code)
        rated = await world.http.post(
            f"/api/v1/applications/{app['id']}/rating", json={"score": score, "reasons": reasons}, headers=citizen
        )
        assert rated.status_code == 201, rated.text

    citizen = await world.citizen("nosy", verify=None)
    assert (await world.http.get("/api/v1/admin/ratings", headers=citizen)).status_code == 401
    report = (await world.http.get("/api/v1/admin/ratings", headers=viewer)).json()
    assert report["total"] == 3 and report["average"] == pytest.approx(2.67)
    by_item = {e["service_code"]: e for e in report["by_item"]}
    assert by_item[SERVICE]["count"] == 2 and by_item[SERVICE]["average"] == 3.5
    assert by_item[SERVICE]["distribution"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert by_item[SERVICE]["unsatisfied"] == 1
    assert {r["code"]: r["count"] for r in by_item[SERVICE]["reasons"]} == {"efficient": 1, "long_wait": 1}
    # Worst first.
    assert report["by_item"][0]["service_code"] == PASSPORT_VISA
    departments = {e["department"]: e for e in report["by_department"]}
    assert sum(e["count"] for e in departments.values()) == 3
    assert len(report["latest"]) == 3

    only = (
        await world.http.get("/api/v1/admin/ratings", params={"service_code": PASSPORT_VISA}, headers=viewer)
    ).json()
    assert only["total"] == 1 and only["by_item"][0]["average"] == 1.0
    department = report["by_item"][0]["department"]
    filtered = (await world.http.get("/api/v1/admin/ratings", params={"department": department}, headers=viewer)).json()
    assert filtered["total"] == departments[department]["count"]


# -- favourites and recently viewed ------------------------------------------------------------


async def test_favourites_add_twice_list_and_remove(world: World) -> None:
    citizen = await world.citizen("fan", verify=None)
    url = f"/api/v1/me/favourites/{SERVICE}"
    assert (await world.http.put(url)).status_code == 401
    first = await world.http.put(url, headers=citizen)
    assert first.status_code == 201 and first.json()["added"] is True
    second = await world.http.put(url, headers=citizen)
    assert second.status_code == 200 and second.json()["added"] is False
    await world.http.put(f"/api/v1/me/favourites/{PASSPORT_VISA}", headers=citizen)
    listed = (await world.http.get("/api/v1/me/favourites", headers=citizen)).json()["items"]
    assert [i["code"] for i in listed] == [PASSPORT_VISA, SERVICE]
    assert listed[0]["name"] == "往来港澳通行证再次签注（个人旅游）" and listed[0]["available"] is True
    assert (await world.http.put("/api/v1/me/favourites/440000-XXX-999-99", headers=citizen)).status_code == 404
    assert (await world.http.put("/api/v1/me/favourites/not-a-code", headers=citizen)).status_code == 404
    removed = await world.http.delete(url, headers=citizen)
    assert removed.json() == {"code": SERVICE, "favourite": False, "removed": True}
    listed = (await world.http.get("/api/v1/me/favourites", headers=citizen)).json()["items"]
    assert [i["code"] for i in listed] == [PASSPORT_VISA]
    other = await world.citizen("otherfan", verify=None)
    assert (await world.http.get("/api/v1/me/favourites", headers=other)).json()["items"] == []


async def test_recently_viewed_latest_first_once_each_and_bounded(world: World) -> None:
    from app.citizen import MAX_RECENT

    citizen = await world.citizen("browser", verify=None)
    for code in (SERVICE, PASSPORT_VISA, SERVICE):
        recorded = await world.http.post("/api/v1/me/recent", json={"service_code": code}, headers=citizen)
        assert recorded.status_code == 200
    await world.http.put(f"/api/v1/me/favourites/{SERVICE}", headers=citizen)
    items = (await world.http.get("/api/v1/me/recent", headers=citizen)).json()["items"]
    assert [i["code"] for i in items] == [SERVICE, PASSPORT_VISA]
    assert items[0]["favourite"] is True and items[1]["favourite"] is False
    bad = await world.http.post("/api/v1/me/recent", json={"service_code": 5}, headers=citizen)
    assert bad.status_code == 400
    assert (await world.http.get("/api/v1/me/recent?limit=0", headers=citizen)).status_code == 400

    codes = [i["code"] for i in seed()[: MAX_RECENT + 5]]
    for code in codes:
        await world.http.post("/api/v1/me/recent", json={"service_code": code}, headers=citizen)
    user = await User.get(id=(await world.http.get("/api/v1/me", headers=citizen)).json()["user"]["id"])
    assert await RecentView.filter(user_id=user.id).count() == MAX_RECENT
    items = (await world.http.get("/api/v1/me/recent?limit=3", headers=citizen)).json()["items"]
    assert [i["code"] for i in items] == codes[::-1][:3]
    assert (await world.http.delete("/api/v1/me/recent", headers=citizen)).json()["cleared"] == MAX_RECENT


# -- 长辈模式 --------------------------------------------------------------------------------------


def test_elder_replies_are_short_sentences_with_fewer_options() -> None:
    normal = {
        "action": "fallback",
        "reply": "抱歉，我没能找到对应的政务服务事项，这个问题可能不属于政务服务。"
        "您可以换个说法，或拨打12345政务服务便民热线咨询，也可以按分类浏览办事指南。",
        "items": [],
        "quick_replies": ["按分类浏览", "拨打12345", "出入境", "户籍"],
        "cards": [],
    }
    elder = for_elders(normal)
    longest = max(len(s) for s in normal["reply"].split("。"))
    assert max(len(s) for s in elder_sentences(elder["reply"])) < longest
    assert "12345" in elder["reply"] and len(elder["quick_replies"]) == 2 and elder["elder"] is True
    assert elder_sentences("即办，最多跑1次。") == ["即办，最多跑1次。"]


async def test_elder_mode_is_a_flag_on_the_user_that_shapes_the_assistant(world: World) -> None:
    citizen = await world.citizen("grandma", verify=None)
    assert (await world.http.get("/api/v1/me/preferences", headers=citizen)).json() == {
        "elder_mode": False,
        "region": None,
    }
    question = {"text": "结婚登记要带什么"}
    normal = (await world.http.post("/api/v1/chat", json=question, headers=citizen)).json()
    assert "elder" not in normal

    bad = await world.http.put("/api/v1/me/preferences", json={"elder_mode": "yes"}, headers=citizen)
    assert bad.status_code == 400
    turned = await world.http.put("/api/v1/me/preferences", json={"elder_mode": True}, headers=citizen)
    assert turned.json() == {"elder_mode": True, "region": None}
    elder = (await world.http.post("/api/v1/chat", json=question, headers=citizen)).json()
    assert elder["elder"] is True and elder["action"] == normal["action"]
    assert max(map(len, elder_sentences(elder["reply"]))) <= max(map(len, elder_sentences(normal["reply"])))
    assert max(len(s) for s in elder["reply"].split("。")) < max(len(s) for s in normal["reply"].split("。"))
    assert len(elder["quick_replies"]) <= 3 and len(elder["items"]) <= 2
    # Anonymous callers are never in 长辈模式.
    anonymous = (await world.http.post("/api/v1/chat", json=question)).json()
    assert "elder" not in anonymous
    await world.http.put("/api/v1/me/preferences", json={"elder_mode": False}, headers=citizen)
    assert "elder" not in (await world.http.post("/api/v1/chat", json=question, headers=citizen)).json()


# -- the simulator's files ---------------------------------------------------------------------


async def test_the_simulator_is_served_in_development(world: World) -> None:
    index = await world.http.get("/stub/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert (await world.http.get("/stub")).status_code in (301, 302, 307, 308)
    app_json = await world.http.get("/stub/mp/app.json")
    assert app_json.status_code == 200 and "pages/home/home" in app_json.json()["pages"]
    assert (await world.http.get("/stub/mp/pages/chat/chat.wxml")).status_code == 200
    for escape in ("/stub/..%2Fapp%2Fsettings.py", "/stub/mp/..%2F..%2Fpyproject.toml", "/stub/mp/missing.js"):
        assert (await world.http.get(escape)).status_code == 404, escape


async def test_the_simulator_is_absent_in_production(start_server) -> None:  # type: ignore[no-untyped-def]
    running = await start_server(env="production")
    async with httpx.AsyncClient(base_url=running.url) as http:
        assert (await http.get("/stub/")).status_code == 404
        assert (await http.get("/stub/mp/app.json")).status_code == 404


async def test_asking_for_progress_answers_with_my_applications(world: World) -> None:
    citizen = await world.citizen("asker")
    created = await world.apply(citizen)
    assert created.status_code == 201
    answer = (await world.http.post("/api/v1/chat", json={"text": "我的申请到哪一步了"}, headers=citizen)).json()
    assert answer["action"] == "progress"
    assert [c["id"] for c in answer["cards"]] == [created.json()["id"]]
    assert answer["cards"][0]["type"] == "application" and answer["cards"][0]["status_text"] == "已提交"
    anonymous = (await world.http.post("/api/v1/chat", json={"text": "我的申请到哪一步了"})).json()
    assert anonymous["cards"] == [] and "登录" in anonymous["reply"]
