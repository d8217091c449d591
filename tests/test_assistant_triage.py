"""Triage before matching: complaints, suggestions, long messages, word senses, life events, and
the real development set. The sentences are written for these tests after the kinds of message
real citizens send (the issue's examples), not copied from any held-out set."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest

from app.catalog import CATEGORIES
from intents.build import build_assistant, load_triage
from intents.dialog import Assistant, Reply
from intents.evaluate import evaluate, read_rows
from tests.test_assistant import seed

REAL_SET = Path(__file__).resolve().parent.parent / "intents" / "data" / "assistant_real_dev.jsonl"
CHANNELS = {"440000-FL-004-01", "440000-FL-009-01", "440000-JY-007-01", "440000-JY-003-01"}


@functools.cache
def assistant() -> Assistant:
    return build_assistant(list(seed()), categories=list(CATEGORIES))


def ask(text: str) -> Reply:
    return assistant().respond(text)[0]


def top(reply: Reply) -> str | None:
    return reply.items[0]["code"] if reply.items else None


def handled(reply: Reply) -> bool:
    """Declined, or sent to a complaint channel: never a confident unrelated service."""
    return reply.action == "fallback" or (reply.action == "answer" and top(reply) in CHANNELS)


# -- smalltalk only when nothing else is said --------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("我家离单位很远，每天通勤加上班时间太长了，想问能不能申请公租房", "440000-ZF-006-01"),
        ("窗口工作人员态度很差，我就想问公租房到底怎么申请", "440000-ZF-006-01"),
    ],
)
def test_a_request_that_contains_a_smalltalk_phrase_is_a_request(text: str, code: str) -> None:
    reply = ask(text)
    assert reply.action == "answer" and top(reply) == code and reply.triage == "service", reply.to_dict()


@pytest.mark.parametrize("text", ["放射工作人员证怎么办", "在外地常驻的工作人员要办备案"])
def test_a_job_title_is_not_a_request_for_a_person(text: str) -> None:
    assert ask(text).action != "smalltalk"


@pytest.mark.parametrize("text", ["转人工", "请帮我找工作人员", "你好", "几点上班"])
def test_smalltalk_still_answers_smalltalk(text: str) -> None:
    reply = ask(text)
    assert reply.action == "smalltalk" and reply.triage == "smalltalk"


# -- word sense ------------------------------------------------------------------------


def test_word_senses_follow_their_context() -> None:
    rules = load_triage()
    assert "生育" in rules.read_senses("老婆生产的费用怎么报销")
    assert "生育" not in rules.read_senses("安全生产许可证怎么办")
    assert "上门" in rules.read_senses("供热公司要入户测温")
    assert rules.read_senses("人才引进入户要什么材料") == "人才引进入户要什么材料"
    assert "交通违法" in rules.read_senses("电动汽车怎么查车辆违法")
    assert "交通交通" not in rules.read_senses("车辆交通违法怎么查")
    assert "交通违法" not in rules.read_senses("举报违法建筑")


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("社保交了六年了，老婆生产的费用怎么报销", {"440000-YB-007-01", "440000-SB-010-01"}),
        ("电动汽车怎么查车辆违法记录", {"440000-JG-003-01"}),
    ],
)
def test_word_sense_finds_the_right_item(text: str, codes: set[str]) -> None:
    reply = ask(text)
    assert reply.action == "answer" and top(reply) in codes, reply.to_dict()


def test_heating_visit_is_not_household_registration() -> None:
    reply = ask("家里暖气一直不热，温度不达标，供热公司说要等入户测温")
    assert top(reply) != "440000-HJ-002-03" and handled(reply), reply.to_dict()


# -- complaints and suggestions -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "channel", "said"),
    [
        ("公司已经三个月没发工资了", {"440000-JY-007-01", "440000-JY-003-01"}, "劳动保障监察"),
        ("报的培训班不上了，机构一直不给退费", {"440000-FL-009-01"}, "12315"),
        ("投诉：小区门口路灯坏了一个月没人修", {"440000-FL-004-01"}, "12345"),
        ("举报楼上邻居每天半夜噪音扰民", {"440000-FL-004-01"}, "12345"),
    ],
)
def test_complaints_reach_their_channel(text: str, channel: set[str], said: str) -> None:
    reply = ask(text)
    assert reply.action == "answer" and top(reply) in channel, reply.to_dict()
    assert reply.triage == "complaint" and said in reply.reply
    assert reply.cards and reply.cards[0]["code"] == top(reply)


def test_a_suggestion_goes_to_12345_and_says_so() -> None:
    reply = ask("建议地铁末班车延长到晚上十二点，方便加班的人回家")
    assert reply.action == "answer" and top(reply) == "440000-FL-004-01"
    assert reply.triage == "suggestion" and "建议" in reply.reply


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("我们街道上无证摊贩越来越多，卫生和食品安全问题严重，希望有关部门管一管", "440000-QY-007-01"),
        ("地下车库车位每年租金五千多，太高了，物业还年年涨价", "440000-JYU-004-02"),
        ("拆迁通知到底是不是真的？补偿按什么标准算？", "440000-QY-003-01"),
    ],
)
def test_civic_complaints_never_get_an_unrelated_item(text: str, wrong: str) -> None:
    reply = ask(text)
    assert top(reply) != wrong and handled(reply), reply.to_dict()


def test_a_long_complaint_is_matched_on_its_question() -> None:
    text = (
        "我在这个城市打工快十年了，一直租房住，房租每年都涨，孩子上学也要跑很远。"
        "这些年换了好几个房东，每次搬家都很折腾，押金也经常要不回来，"
        "找过几次社区也没有什么结果，心里很着急，真的不知道该找谁反映。"
        "家里老人身体也不好，看病要花不少钱，单位的社保和公积金倒是一直在交，户口还在老家。"
        "请问像我这样的外地户口，公租房怎么申请？"
    )
    reply = ask(text)
    assert len(text) > 150
    assert reply.action == "answer" and top(reply) == "440000-ZF-006-01", reply.to_dict()


def test_a_long_report_that_asks_nothing_is_not_answered_with_a_service() -> None:
    text = (
        "我们小区旁边的工地从上个月开始每天晚上施工到凌晨两三点，渣土车进进出出，"
        "灰尘很大，老人孩子都睡不好觉，社区和物业都说管不了，已经严重影响了附近几千户居民的正常生活。"
    )
    reply = ask(text)
    assert handled(reply) and reply.triage in ("complaint", "out_of_scope"), reply.to_dict()


# -- close candidates and life events ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "event", "must"),
    [
        ("我失业了", "失业", {"440000-SB-008-01", "440000-JY-001-01"}),
        ("孩子出生了要办什么", "出生", {"440000-HJ-001-01", "440000-WS-001-01"}),
    ],
)
def test_a_life_event_named_alone_lists_its_items(text: str, event: str, must: set[str]) -> None:
    reply = ask(text)
    card = next(c for c in reply.cards if c.get("type") == "life_event")
    codes = {i["code"] for i in card["items"]}
    expected = {item["code"] for item in seed() if event in (item.get("life_events") or ())}
    assert card["event"] == event and codes == expected and must <= codes
    assert reply.action == "clarify" and reply.quick_replies and reply.triage == "service"


def test_a_specific_request_within_a_life_event_is_answered() -> None:
    reply = ask("孩子刚出生，户口怎么上")
    assert reply.action == "answer" and top(reply) == "440000-HJ-001-01"


# -- the real development set -----------------------------------------------------------


def test_real_development_set_is_large_and_labelled() -> None:
    rows = read_rows(REAL_SET)
    labels = Counter(row["label"] for row in rows)
    codes = {item["code"] for item in seed()}
    assert len(rows) >= 300
    assert sum(1 for row in rows if len(row["text"]) > 80) >= 100
    assert labels["complaint"] + labels["suggestion"] >= 80
    assert set(labels) == {"service", "complaint", "suggestion", "OOS"}
    assert all(bool(row["expected"]) == (row["label"] == "service") for row in rows)
    assert all(set(row["expected"]) <= codes and set(row.get("channel", ())) <= codes for row in rows)
    assert {row["split"] for row in rows} == {"tune", "report"}
    assert all(row["source"].startswith("tipdm2020c-att") for row in rows)


# Figures on the real set today, as floors (docs/assistant.md): the targets (top-1 85%, top-3 93%)
# are not reached; these hold what was, so that a change that loses ground fails here.
REAL_FLOORS = {
    "tune": {"top1": 0.65, "top3": 0.90, "out_of_scope_handled": 0.91},
    "report": {"top1": 0.50, "top3": 0.85, "out_of_scope_handled": 0.875},
}
REAL_CEILINGS = {"tune": {"in_scope_declined": 0.10}, "report": {"in_scope_declined": 0.10}}


@pytest.mark.parametrize("split", ["tune", "report"])
def test_real_set_figures_hold(split: str) -> None:
    rows = [row for row in read_rows(REAL_SET) if row["split"] == split]
    figures = evaluate(assistant(), rows).figures
    for name, floor in REAL_FLOORS[split].items():
        assert figures[name] >= floor, (name, figures)
    for name, ceiling in REAL_CEILINGS[split].items():
        assert figures[name] <= ceiling, (name, figures)
