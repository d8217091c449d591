"""Learning from failures (clusters on a fixture of questions, turned into data or dismissed) and the
human hand-off over WebSockets (asked for, or after two failures; the agent's replies in real time)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import websockets

from intents.clusters import cluster
from models import AuditEntry, Handoff, HandoffMessage, QuestionResolution, UnmatchedQuestion
from tests.test_console_intents import Console, open_console

# Real questions people might ask that the assistant does not know yet: three themes and noise.
FIXTURE = {
    "养狗要办狗证吗": 3, "狗证怎么办理": 2, "办狗证需要什么": 2, "养犬登记证": 1,
    "电动车上牌": 4, "电动车怎么上牌照": 2, "电动自行车上牌要什么": 1,
    "今天天气怎么样": 2, "明天天气": 1,
    "附近有什么好吃的": 1,
}  # fmt: skip


def test_clustering_groups_similar_questions_with_counts() -> None:
    groups = {c.leader: c for c in cluster(FIXTURE)}
    ebike = groups["电动车上牌"]
    assert {t for t, _ in ebike.members} == {"电动车上牌", "电动车怎么上牌照", "电动自行车上牌要什么"}
    assert ebike.count == 7
    weather = groups["今天天气怎么样"]
    assert {t for t, _ in weather.members} == {"今天天气怎么样", "明天天气"} and weather.count == 3
    dogs = next(c for c in groups.values() if "狗证怎么办理" in {t for t, _ in c.members})
    assert {"养狗要办狗证吗", "狗证怎么办理", "办狗证需要什么"} <= {t for t, _ in dogs.members}
    assert all("天气" not in t for t, _ in dogs.members + ebike.members)
    assert groups["附近有什么好吃的"].count == 1
    # Stable ids, most asked first.
    again = cluster(FIXTURE)
    assert [c.id for c in again] == [c.id for c in cluster(dict(reversed(list(FIXTURE.items()))))]
    assert again[0].count >= again[-1].count


@pytest.fixture
async def console(start_server) -> AsyncIterator[Console]:  # type: ignore[no-untyped-def]
    async with open_console(start_server) as opened:
        yield opened


async def test_clusters_become_phrases_synonyms_new_intents_or_are_dismissed(console: Console) -> None:
    for text, n in FIXTURE.items():
        for _ in range(n):
            await UnmatchedQuestion.create(text=text, action="fallback", channel="http")
    listed = (await console.call("viewer", "GET", "/clusters"))["items"]
    by_leader = {c["leader"]: c for c in listed}
    assert by_leader["电动车上牌"]["count"] == 7 and by_leader["电动车上牌"]["kinds"] == {"fallback": 7}

    ebike = by_leader["电动车上牌"]
    done = await console.call(
        "editor", "POST", f"/clusters/{ebike['id']}/resolve",
        {"decision": "phrases", "intent_id": "440000-JG-001-02", "texts": ["电动车上牌", "电动车怎么上牌照"]},
    )  # fmt: skip
    assert done["intent_id"] == "440000-JG-001-02"
    detail = await console.call("viewer", "GET", "/intents/440000-JG-001-02")
    assert {"电动车上牌", "电动车怎么上牌照"} <= set(detail["phrases"])

    weather = by_leader["今天天气怎么样"]
    await console.call("editor", "POST", f"/clusters/{weather['id']}/resolve", {"decision": "dismiss"})
    dogs = next(c for c in listed if "狗证怎么办理" in {t["text"] for t in c["texts"]})
    made = await console.call(
        "editor", "POST", f"/clusters/{dogs['id']}/resolve",
        {"decision": "new_intent", "name": "养犬登记", "items": ["440000-JG-001-02"]},
    )  # fmt: skip
    assert made["intent_id"].startswith("custom-")
    custom = await console.call("viewer", "GET", f"/intents/{made['intent_id']}")
    assert "狗证怎么办理" in custom["phrases"]
    food = by_leader["附近有什么好吃的"]
    await console.call("editor", "POST", f"/clusters/{food['id']}/resolve",
                       {"decision": "synonym", "word": "好吃的", "values": ["餐饮"]})  # fmt: skip
    assert (await console.call("viewer", "GET", "/synonyms"))["synonyms"]["好吃的"] == ["餐饮"]

    remaining = {c["leader"] for c in (await console.call("viewer", "GET", "/clusters"))["items"]}
    assert not remaining & {"电动车上牌", "今天天气怎么样", "附近有什么好吃的"}
    assert await QuestionResolution.filter(decision="dismiss").count() == 2
    for bad in ({"decision": "nope"}, {"decision": "phrases"}, {"decision": "phrases", "intent_id": "x",
                "texts": ["not in the cluster"]}):  # fmt: skip
        leftover = (await console.call("viewer", "GET", "/clusters"))["items"][0]
        await console.call("editor", "POST", f"/clusters/{leftover['id']}/resolve", bad, status=400)
    await console.call("editor", "POST", "/clusters/000000000000/resolve", {"decision": "dismiss"}, status=404)
    actions = await AuditEntry.filter(action__startswith="cluster.").values_list("action", flat=True)
    assert sorted(actions) == ["cluster.dismiss", "cluster.new_intent", "cluster.phrases", "cluster.synonym"]


async def test_unhelpful_answers_join_the_learning_list(console: Console) -> None:
    first = await console.ask("护照丢了")
    rated = await console.http.post("/api/v1/chat/feedback", json={"session_id": first["session_id"], "helpful": False})
    assert rated.status_code == 200 and rated.json() == {"recorded": True}
    row = await UnmatchedQuestion.get(action="unhelpful")
    assert row.text == "护照丢了"
    clusters = (await console.call("viewer", "GET", "/clusters"))["items"]
    assert clusters[0]["kinds"] == {"unhelpful": 1}
    for bad, status in [({"session_id": "0" * 32, "helpful": False}, 404), ({"session_id": "x", "helpful": False}, 400),
                        ({"session_id": first["session_id"]}, 400)]:  # fmt: skip
        assert (await console.http.post("/api/v1/chat/feedback", json=bad)).status_code == status
    good = await console.http.post("/api/v1/chat/feedback", json={"session_id": first["session_id"], "helpful": True})
    assert good.json() == {"recorded": False}


# -- human hand-off ------------------------------------------------------------------------


async def recv_type(ws: Any, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of ``kind`` (pushed messages may interleave with chat replies)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") == kind:
            return dict(message)


async def test_handoff_over_websockets(console: Console) -> None:
    http = console.http
    login = (await http.post("/api/v1/auth/wx-login", json={"code": "handoff.1"})).json()
    citizen = {"Authorization": f"Bearer {login['access_token']}"}
    verified = await http.post("/api/v1/auth/real-name", json={"name": "李四", "id_number": "440306199003071232"},
                               headers=citizen)  # fmt: skip
    assert verified.status_code == 200
    url = console.running.url.replace("http://", "ws://") + "/api/v1/ws"
    async with websockets.connect(url, additional_headers=citizen) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "护照丢了怎么补办"}))
        answered = await recv_type(ws, "chat")
        assert answered["action"] == "answer"
        await ws.send(json.dumps({"type": "chat", "text": "我要转人工"}))
        queued = await recv_type(ws, "chat")
        assert queued["action"] == "smalltalk" and "人工" in queued["reply"]
        handoff_id = queued["handoff"]["id"]

        queue = await console.call("agent", "GET", "/handoffs")
        case = next(h for h in queue["items"] if h["id"] == handoff_id)
        assert case["status"] == "queued" and case["reason"] == "asked" and case["channel"] == "ws"
        assert case["context"]["identity_level"] == "L2"
        assert case["context"]["item"]["code"] == "440000-CRJ-004-03"
        assert case["context"]["applications"] == []
        detail = await console.call("agent", "GET", f"/handoffs/{handoff_id}")
        assert [m["text"] for m in detail["messages"]][:2] == ["护照丢了怎么补办", answered["reply"]]

        # Before an agent takes it, messages wait for the agent.
        await ws.send(json.dumps({"type": "chat", "text": "在吗"}))
        waiting = await recv_type(ws, "chat")
        assert waiting["action"] == "smalltalk" and waiting["handoff"]["status"] == "queued"
        # Only agents (and admins) work the desk; a second agent cannot take a taken chat.
        await console.call("editor", "POST", f"/handoffs/{handoff_id}/claim", status=403)
        await console.call("agent", "POST", f"/handoffs/{handoff_id}/claim")
        assert (await recv_type(ws, "handoff"))["status"] == "active"
        taken = await console.call("admin", "POST", f"/handoffs/{handoff_id}/claim", status=409)
        assert taken["error"]["code"] == "handoff_taken"
        await console.call("admin", "POST", f"/handoffs/{handoff_id}/messages", {"text": "x"}, status=409)

        await console.call("agent", "POST", f"/handoffs/{handoff_id}/messages", {"text": "您好，我是窗口的小王。"},
                           status=201)  # fmt: skip
        pushed = await recv_type(ws, "agent")
        assert pushed["text"] == "您好，我是窗口的小王。" and pushed["handoff_id"] == handoff_id
        await ws.send(json.dumps({"type": "chat", "text": "我的护照在地铁上丢的"}))
        relayed = await recv_type(ws, "chat")
        assert relayed["action"] == "smalltalk" and relayed["reply"] == "" and "handoff" in relayed
        detail = await console.call("agent", "GET", f"/handoffs/{handoff_id}")
        assert detail["messages"][-1] == {**detail["messages"][-1], "from": "citizen", "text": "我的护照在地铁上丢的"}
        # Stored encrypted.
        stored = await HandoffMessage.filter(handoff_id=handoff_id).order_by("-id").first()
        assert stored is not None and "地铁" not in stored.text_enc

        await console.call("agent", "POST", f"/handoffs/{handoff_id}/release", {"close": False})
        back = await recv_type(ws, "handoff")
        assert back["status"] == "returned"
        await ws.send(json.dumps({"type": "chat", "text": "社保卡挂失"}))
        assert (await recv_type(ws, "chat"))["action"] in ("answer", "clarify", "ask_slot")
    handoff = await Handoff.get(id=handoff_id)
    assert handoff.status == "returned" and handoff.agent_username == "agent-1"
    actions = await AuditEntry.filter(target=f"handoff:{handoff_id}").order_by("id").values_list("action", flat=True)
    assert actions == ["handoff.claim", "handoff.reply", "handoff.return"]


async def test_two_failures_in_a_row_queue_a_handoff_and_the_agent_closes_it(console: Console) -> None:
    url = console.running.url.replace("http://", "ws://") + "/api/v1/ws"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "chat", "text": "红烧肉怎么做"}))
        assert (await recv_type(ws, "chat"))["action"] == "fallback"
        await ws.send(json.dumps({"type": "chat", "text": "今天天气怎么样"}))
        second = await recv_type(ws, "chat")
        assert second["action"] == "fallback" and "两次" in second["reply"] and not second["items"]
        handoff_id = second["handoff"]["id"]
        case = await console.call("agent", "GET", f"/handoffs/{handoff_id}")
        assert case["reason"] == "failures" and case["context"]["identity_level"] == "anonymous"
        await console.call("agent", "POST", f"/handoffs/{handoff_id}/claim")
        await console.call("agent", "POST", f"/handoffs/{handoff_id}/messages", {"text": "红烧肉不归我们管哦"},
                           status=201)  # fmt: skip
        assert (await recv_type(ws, "agent"))["text"] == "红烧肉不归我们管哦"
        await console.call("agent", "POST", f"/handoffs/{handoff_id}/release", {"close": True})
        closed = await recv_type(ws, "handoff")
        assert closed["status"] == "closed"
        await console.call("agent", "POST", f"/handoffs/{handoff_id}/release", {"close": True}, status=409)
    assert (await console.call("agent", "GET", "/handoffs?status=closed"))["items"][0]["id"] == handoff_id
    # An anonymous HTTP chat reads the agent's replies by its session id.
    polled = await console.http.get(f"/api/v1/chat/handoff/{second['session_id']}")
    assert [m["from"] for m in polled.json()["messages"]] == ["agent", "system"]


async def test_official_account_followers_get_agent_replies_as_customer_service_messages(console: Console) -> None:
    chat = console.running.app.ctx.services.chat
    openid = "oFollower0000000000000001"
    turn = await chat.chat("我要找人工客服", None, channel="mp", reply_to=openid)
    assert turn.action == "handoff"
    handoff_id = turn.body["handoff"]["id"]
    await console.http.delete("/__fakewx/_sent")
    await console.call("agent", "POST", f"/handoffs/{handoff_id}/claim")
    await console.call("agent", "POST", f"/handoffs/{handoff_id}/messages", {"text": "您好，请讲"}, status=201)
    sent = (await console.http.get("/__fakewx/_sent")).json()
    texts = [json.dumps(s, ensure_ascii=False) for s in sent["sent"]]
    assert any(openid in t and "您好，请讲" in t for t in texts), texts
    # Without an openid the official account cannot be answered later: no hand-off is queued.
    plain = await chat.chat("我要找人工客服", None, channel="mp")
    assert plain.action != "handoff"
