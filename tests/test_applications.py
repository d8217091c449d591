"""Applications: materials told once, the lifecycle, versions that stop double moves, the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app import applications as applications_module
from app.catalog import SEED_DIR, catalog_files, load_items, validate_sources
from app.console.staff import hash_password
from app.core.workdays import LIBRARY_YEARS, WorkCalendar
from models import Application, ApplicationEvent, OutboxMessage, ServiceItem, Staff

SERVICE = "440000-CRJ-004-01"  # 普通护照首次申领
PASSWORD = "correct-horse-battery"


@functools.cache
def seed() -> tuple[dict, ...]:
    return tuple(validate_sources(catalog_files(SEED_DIR)))


# -- the calendar ---------------------------------------------------------------------


def test_working_days_skip_weekends_and_holidays_and_count_adjusted_days() -> None:
    calendar = WorkCalendar()
    # Wednesday 30 Sep + 3 working days: 1–7 Oct are the National Day holidays, then 8, 9 and 10.
    assert calendar.add_working_days(dt.date(2026, 9, 30), 3) == dt.date(2026, 10, 10)
    # Saturday 10 Oct is an adjusted working day.
    assert calendar.add_working_days(dt.date(2026, 10, 9), 1) == dt.date(2026, 10, 10)
    assert calendar.add_working_days(dt.date(2026, 11, 20), 0) == dt.date(2026, 11, 20)
    assert calendar.add_working_days(dt.date(2026, 11, 20), 5) == dt.date(2026, 11, 27)
    assert calendar.working_days_between(dt.date(2026, 11, 20), dt.date(2026, 11, 27)) == 5


def test_the_national_schedule_comes_from_chinese_calendar_with_local_overrides() -> None:
    calendar = WorkCalendar.from_file()
    # National Day 2026 off, the Saturday 10 Oct worked; 2025's Spring Festival swap (26 Jan a Sunday worked).
    assert not calendar.is_working_day(dt.date(2026, 10, 1)) and calendar.is_working_day(dt.date(2026, 10, 10))
    assert calendar.is_working_day(dt.date(2025, 1, 26)) and not calendar.is_working_day(dt.date(2025, 1, 28))
    assert calendar.covers(2025) and calendar.covers(2026)
    # A local day off and a local day worked win over the national schedule.
    local = WorkCalendar(holidays=[dt.date(2026, 11, 20)], workdays=[dt.date(2026, 10, 2)])
    assert not local.is_working_day(dt.date(2026, 11, 20)) and local.is_working_day(dt.date(2026, 10, 2))


def test_a_deadline_past_the_last_published_year_is_marked_estimated() -> None:
    last = LIBRARY_YEARS.stop - 1
    calendar = WorkCalendar()
    assert calendar.coverage()["last_year"] == last and not calendar.covers(last + 1)
    within = calendar.deadline(dt.date(last, 11, 2), 10)
    assert within.day.year == last and not within.estimated
    beyond = calendar.deadline(dt.date(last, 12, 24), 10)
    assert beyond.day.year == last + 1 and beyond.estimated
    # 1 January of an unpublished year is still counted as a working day when it is a weekday, but flagged.
    assert calendar.is_working_day(dt.date(last + 1, 1, 4)) is (dt.date(last + 1, 1, 4).weekday() < 5)
    # A year entered locally (the notice is out, the library not yet released) is no longer an estimate.
    entered = WorkCalendar(holidays=[dt.date(last + 1, 1, 1)], published_years=[last + 1])
    assert not entered.deadline(dt.date(last, 12, 24), 10).estimated
    assert not entered.is_working_day(dt.date(last + 1, 1, 1))


# -- over HTTP -------------------------------------------------------------------------


class World:
    def __init__(self, http: httpx.AsyncClient, url: str = "", app: Any = None):
        self.http = http
        self.url = url
        self.app = app

    async def citizen(self, name: str, verify: tuple[str, str] | None = ("李四", "440306199003071232")) -> dict:
        login = (await self.http.post("/api/v1/auth/wx-login", json={"code": f"{name}.1"})).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}
        if verify:
            verified = await self.http.post(
                "/api/v1/auth/real-name", json={"name": verify[0], "id_number": verify[1]}, headers=headers
            )
            assert verified.status_code == 200, verified.text
        return headers

    async def staff(self, username: str, role: str = "clerk") -> dict:
        await Staff.create(username=username, password_hash=hash_password(PASSWORD), role=role)
        login = await self.http.post("/api/v1/admin/login", json={"username": username, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return {"Authorization": f"Bearer {login.json()['access_token']}"}

    async def apply(self, headers: dict, code: str = SERVICE) -> httpx.Response:
        return await self.http.post(
            "/api/v1/applications",
            json={"service_code": code, "form": {"reason": "旅游"}, "materials": await uploads(code)},
            headers=headers,
        )

    async def move(self, staff: dict, app: dict, to: str, **extra: Any) -> httpx.Response:
        return await self.http.post(
            f"/api/v1/admin/applications/{app['id']}/transitions",
            json={"to": to, "version": app["version"], **extra},
            headers=staff,
        )


async def uploads(code: str) -> list[dict]:
    item = await ServiceItem.get(code=code)
    return [
        {"name": m["name"], "file_id": f"file-{n}"}
        for n, m in enumerate(item.materials)
        if m["required"] and m["name"] not in ("居民身份证", "户口簿")
    ]


@contextlib.asynccontextmanager
async def open_world(  # type: ignore[no-untyped-def]
    start_server, *, timeout: float = 20, reset_fake_wechat: bool = False, **server_options: Any
) -> AsyncIterator[World]:
    """The seed catalog, a server with the fake WeChat platform mounted, and a client of it."""
    await load_items([dict(i) for i in seed()], "seed")
    running = await start_server(mount_fake_wechat=True, **server_options)
    async with httpx.AsyncClient(base_url=running.url, timeout=timeout) as http:
        if reset_fake_wechat:
            await http.post("/__fakewx/_reset")
        yield World(http, running.url, running.app)


@pytest.fixture
async def world(start_server):  # type: ignore[no-untyped-def]
    async with open_world(start_server) as world:
        yield world


async def test_accepting_with_a_deadline_in_an_unpublished_year_flags_it_and_warns(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    last = LIBRARY_YEARS.stop - 1
    monkeypatch.setattr(applications_module, "today", lambda: dt.date(last, 12, 24))
    citizen, clerk = await world.citizen("late"), await world.staff("clerk-late")
    submitted = (await world.apply(citizen)).json()
    assert submitted["deadline_estimated"] is False
    with caplog.at_level("WARNING", logger="shengshi.applications"):
        accepted = (await world.move(clerk, submitted, "accepted")).json()
    assert accepted["deadline"] > f"{last + 1}-01-01" and accepted["deadline_estimated"] is True
    console = (await world.http.get(f"/api/v1/admin/applications/{submitted['id']}", headers=clerk)).json()
    assert console["deadline_estimated"] is True
    assert (await Application.get(id=submitted["id"])).deadline_estimated is True
    assert any(
        "past the last published holiday year" in r.getMessage() and r.fields["application_id"] == submitted["id"]  # type: ignore[attr-defined]
        for r in caplog.records
    )


async def test_applying_needs_a_verified_real_name(world: World) -> None:
    assert (await world.http.post("/api/v1/applications", json={})).status_code == 401
    unverified = await world.citizen("l1user", verify=None)
    refused = await world.apply(unverified)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "real_name_required"


async def test_every_missing_material_is_told_at_once_and_licences_are_attached(world: World) -> None:
    citizen = await world.citizen("mat")
    item = await ServiceItem.get(code=SERVICE)
    needed = [m["name"] for m in item.materials if m["required"] and m["name"] not in ("居民身份证", "户口簿")]
    response = await world.http.post(
        "/api/v1/applications", json={"service_code": SERVICE, "form": {}, "materials": []}, headers=citizen
    )
    if needed:
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "materials_missing" and error["details"]["missing"] == needed
    created = await world.apply(citizen)
    assert created.status_code == 201, created.text
    detail = (await world.http.get(f"/api/v1/applications/{created.json()['id']}", headers=citizen)).json()
    licence = [m for m in detail["materials"] if m["source"] == "licence"]
    assert licence and licence[0]["name"] == "居民身份证" and "440306199003071232" not in str(detail)


async def test_a_material_uploaded_before_is_reused(world: World) -> None:
    citizen = await world.citizen("reuse")
    first = await world.apply(citizen)
    assert first.status_code == 201
    names = [m["name"] for m in await uploads(SERVICE)]
    reusable = (await world.http.get("/api/v1/applications/reusable-materials", headers=citizen)).json()
    assert {m["name"] for m in reusable["materials"]} == set(names)
    second = await world.http.post(
        "/api/v1/applications",
        json={"service_code": SERVICE, "form": {}, "materials": [{"name": n, "reuse": True} for n in names]},
        headers=citizen,
    )
    assert second.status_code == 201, second.text
    detail = (await world.http.get(f"/api/v1/applications/{second.json()['id']}", headers=citizen)).json()
    assert {m["source"] for m in detail["materials"]} <= {"licence", "reuse"}


async def test_the_full_lifecycle_with_timeline_and_outbox(world: World) -> None:
    citizen = await world.citizen("flow")
    clerk = await world.staff("clerk1")
    app = (await world.apply(citizen)).json()
    assert app["status"] == "submitted" and app["version"] == 1 and app["deadline"] is None
    app = (await world.move(clerk, app, "accepted", note="材料齐全")).json()
    assert app["status"] == "accepted" and app["deadline"] is not None
    assert (
        app["deadline"]
        == WorkCalendar.from_file()
        .add_working_days(dt.date.fromisoformat(app["accepted_on"]), app["time_limit_days"])
        .isoformat()
    )
    app = (await world.move(clerk, app, "reviewing")).json()
    no_list = await world.move(clerk, app, "returned", note="照片不合格")
    assert no_list.status_code == 400
    app = (await world.move(clerk, app, "returned", note="请补正", missing_materials=["出入境证件数码照片回执"])).json()
    assert app["status"] == "returned"
    resubmitted = await world.http.post(
        f"/api/v1/applications/{app['id']}/resubmit", json={"version": app["version"]}, headers=citizen
    )
    app = resubmitted.json()
    assert app["status"] == "resubmitted"
    for step in ("reviewing", "approved", "completed"):
        app = (await world.move(clerk, app, step)).json()
        assert app["status"] == step
    detail = (await world.http.get(f"/api/v1/applications/{app['id']}", headers=citizen)).json()
    steps = [e["to"] for e in detail["timeline"]]
    assert steps == [
        "submitted",
        "accepted",
        "reviewing",
        "returned",
        "resubmitted",
        "reviewing",
        "approved",
        "completed",
    ]
    returned = detail["timeline"][3]
    assert returned["missing_materials"] == ["出入境证件数码照片回执"] and returned["actor"] == "staff"
    outbox = await OutboxMessage.filter(application_id=app["id"]).order_by("id")
    assert len(outbox) == 3 * len(steps)
    assert len({o.idempotency_key for o in outbox}) == len(outbox)
    assert {o.channel for o in outbox} == {"inapp", "subscribe", "template"}
    assert outbox[-1].payload["status"] == "completed"


async def test_illegal_and_stale_transitions_are_409(world: World) -> None:
    citizen = await world.citizen("illegal")
    clerk = await world.staff("clerk2")
    app = (await world.apply(citizen)).json()
    jump = await world.move(clerk, app, "approved")
    assert jump.status_code == 409 and jump.json()["error"]["code"] == "illegal_transition"
    unknown = await world.move(clerk, app, "teleported")
    assert unknown.status_code == 400
    accepted = (await world.move(clerk, app, "accepted")).json()
    stale = await world.move(clerk, app, "returned", missing_materials=["x"])  # still version 1
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_version"
    cancel = await world.http.post(
        f"/api/v1/applications/{app['id']}/cancel", json={"version": accepted["version"]}, headers=citizen
    )
    assert cancel.status_code == 409
    events = await ApplicationEvent.filter(application_id=app["id"]).count()
    assert events == 2


async def test_two_staff_on_one_version_exactly_one_wins(world: World) -> None:
    citizen = await world.citizen("race")
    first, second = await world.staff("racer1"), await world.staff("racer2")
    for _ in range(5):
        app = (await world.apply(citizen)).json()
        results = await asyncio.gather(
            world.move(first, app, "accepted"), world.move(second, app, "returned", missing_materials=["照片"])
        )
        statuses = sorted(r.status_code for r in results)
        assert statuses == [200, 409], [r.text for r in results]
        row = await Application.get(id=app["id"])
        assert row.version == 2
        assert await ApplicationEvent.filter(application_id=app["id"]).count() == 2
        assert await OutboxMessage.filter(application_id=app["id"]).count() == 6


async def test_citizen_cancels_before_acceptance_and_only_their_own(world: World) -> None:
    citizen = await world.citizen("cancel")
    other = await world.citizen("other", verify=("张三", "11010519491231002X"))
    app = (await world.apply(citizen)).json()
    theirs = await world.http.post(f"/api/v1/applications/{app['id']}/cancel", json={"version": 1}, headers=other)
    assert theirs.status_code == 404
    assert (await world.http.get(f"/api/v1/applications/{app['id']}", headers=other)).status_code == 404
    mine = await world.http.post(f"/api/v1/applications/{app['id']}/cancel", json={"version": 1}, headers=citizen)
    assert mine.status_code == 200 and mine.json()["status"] == "cancelled"
    listed = (await world.http.get("/api/v1/applications", headers=citizen)).json()["items"]
    assert [a["status"] for a in listed] == ["cancelled"]


async def test_tokens_and_roles_keep_staff_routes_apart(world: World) -> None:
    citizen = await world.citizen("apart")
    viewer = await world.staff("viewer1", role="viewer")
    app = (await world.apply(citizen)).json()
    as_citizen = await world.http.get("/api/v1/admin/applications", headers=citizen)
    assert as_citizen.status_code == 401
    assert (await world.http.get("/api/v1/applications", headers=viewer)).status_code == 401
    # Applications carry citizens' forms and materials: only clerks and admins read them (app/console/roles.py).
    listed = await world.http.get("/api/v1/admin/applications", headers=viewer)
    assert listed.status_code == 403 and listed.json()["error"]["code"] == "role_forbidden"
    forbidden = await world.move(viewer, app, "accepted")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "role_forbidden"


async def test_queue_filters(world: World) -> None:
    citizen = await world.citizen("queue")
    clerk = await world.staff("clerk3")
    apps = [(await world.apply(citizen)).json() for _ in range(3)]
    await world.move(clerk, apps[0], "accepted")
    await Application.filter(id=apps[0]["id"]).update(deadline=dt.date(2020, 1, 6))

    async def ids(**params: str) -> list[int]:
        response = await world.http.get("/api/v1/admin/applications", params=params, headers=clerk)
        assert response.status_code == 200, response.text
        return [a["id"] for a in response.json()["items"]]

    assert await ids(status="submitted") == [apps[1]["id"], apps[2]["id"]]
    assert await ids(overdue="true") == [apps[0]["id"]]
    assert await ids(department="出入境") == [a["id"] for a in apps]
    assert await ids(department="税务") == []
    for bad in ({"status": "nope"}, {"overdue": "maybe"}):
        assert (await world.http.get("/api/v1/admin/applications", params=bad, headers=clerk)).status_code == 400
    detail = (await world.http.get(f"/api/v1/applications/{apps[0]['id']}", headers=citizen)).json()
    assert detail["overdue"] is True


async def test_staff_login_locks_after_repeated_failures(world: World) -> None:
    await world.staff("locked")
    for _ in range(5):
        wrong = await world.http.post("/api/v1/admin/login", json={"username": "locked", "password": "wrong-password"})
        assert wrong.status_code == 401
    right = await world.http.post("/api/v1/admin/login", json={"username": "locked", "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    unknown = await world.http.post("/api/v1/admin/login", json={"username": "nobody", "password": "x"})
    assert unknown.status_code == 401
