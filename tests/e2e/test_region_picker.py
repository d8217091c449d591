"""The region picker in the simulator: the chosen region is remembered and the assistant answers from it."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import expect

from tests.e2e.test_citizen_journey import ask
from tests.test_catalog_regions import import_sichuan


async def test_a_citizen_picks_a_region_and_the_assistant_answers_from_it(stage, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    world, phone = stage
    await import_sichuan(tmp_path / "sichuan")
    # The server notices the new catalog version at its next question and rebuilds before answering it.
    assert (await world.http.post("/api/v1/chat", json={"text": "失业登记", "region": "511602"})).status_code == 200
    await phone.open("region")
    default = await ask(phone, "失业登记")
    await expect(default).to_contain_text("广东省")
    await phone.tab("我的")
    await expect(phone.current(".mine-region-name")).to_contain_text("默认")
    await phone.current(".mine-region").click()
    await phone.current(".mine-region-option", has_text="广安区").click()
    await expect(phone.current(".mine-region-name")).to_have_text("广安区")
    await phone.shot("region-picked")
    there = await ask(phone, "失业登记")
    await expect(there).to_contain_text("广安区")
    # Remembered: a reload of the mini-program keeps the choice.
    await phone.open("region")
    await phone.tab("我的")
    await expect(phone.current(".mine-region-name")).to_have_text("广安区")
    assert not await phone.errors()
