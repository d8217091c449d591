"""Human hand-off: a citizen who asks for a person, or is misunderstood twice in a row, is queued for an agent.

While a chat is handed off, the citizen's messages go to the agent instead of the engine,
and the agent's replies reach the citizen in the same chat, in real time, whichever
worker holds the connection:

- ``ws``: published on ``shengshi:handoff_push:<session>``; every worker forwards it to the
  sockets of that chat session (:class:`SessionHub`).
- ``http``: pushed to the logged-in citizen's sockets (the notification channel), and
  readable with ``GET /api/v1/chat/handoff/<session>`` (the session id is the capability).
- ``mp`` (official account): sent as a customer-service message to the follower's openid
  (:func:`official_account_delivery`); the webhook passes ``reply_to=openid`` to the chat.

The queue lives in the database (``handoffs``), the link from a chat session to its open
hand-off in Redis (it ends with the session). Message texts are encrypted at rest.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from app.assistant import sessions
from app.console import governance
from app.core.background import keep_running, listen
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.security.pii import PiiCipher
from app.core.wechat import WeChatGateway
from app.notifications.notifier import PUSH_PREFIX
from app.notifications.push import SocketRegistry
from intents.dialog import asks_for_human
from models import Application, Handoff, HandoffMessage, ServiceItem, Staff, Status, User

log = logging.getLogger("shengshi.handoff")

SESSION_KEY = "shengshi:handoff:session:"
SESSION_PUSH_PREFIX = "shengshi:handoff_push:"
HANDOFF_TTL_S = 8 * 3600
TRANSCRIPT_TURNS = 10
MAX_AGENT_TEXT = 1000
OPEN_STATUSES = ("queued", "active")
QUEUED_REPLY = "正在为您转接人工服务，请稍候。工作人员接入后会在这里直接回复您。"
FAILED_TWICE_REPLY = "抱歉，我两次都没能理解您的问题，已为您转接人工服务，工作人员接入后会在这里回复您。"
RETURNED_TEXT = "工作人员已将对话交还给智能助手，您可以继续提问。"
CLOSED_TEXT = "本次人工服务已结束，感谢您的耐心。还有问题可以随时问我。"

Deliverer = Callable[[Handoff, dict[str, Any]], Awaitable[None]]
OPEN_APPLICATION_STATUSES = [
    str(s) for s in (Status.SUBMITTED, Status.ACCEPTED, Status.REVIEWING, Status.RETURNED, Status.RESUBMITTED)
]


def _now() -> datetime:
    return datetime.now(UTC)


class HandoffDesk:
    """The chat-side hooks (``intercept``, ``after_turn``) and the agent-side actions."""

    def __init__(
        self,
        redis: Redis,
        pii: PiiCipher,
        *,
        enabled: bool = True,
        replay_questions: int = 500,
        deliverers: Mapping[str, Deliverer] | None = None,
    ):
        self.redis = redis
        self.pii = pii
        self.enabled = enabled
        self.replay_questions = replay_questions
        # How an agent's reply reaches a channel without a socket (``mp``: a customer-service message).
        self.deliverers: dict[str, Deliverer] = dict(deliverers or {})

    # -- the chat side ----------------------------------------------------------

    async def intercept(self, text: str, session_id: str, **_: Any) -> dict[str, Any] | None:
        """While the session is handed off, keep the message for the agent; answers the chat body, or None."""
        raw = await self.redis.get(SESSION_KEY + session_id)
        if not raw:
            return None
        handoff = await Handoff.get_or_none(id=int(raw), status__in=OPEN_STATUSES)
        if handoff is None:
            await self.redis.delete(SESSION_KEY + session_id)
            return None
        await self._message(handoff, "citizen", text)
        # The chat session must outlive a long conversation with a person, or the next message
        # would start a new session and go to the assistant behind the agent's back.
        await sessions.keep_alive(self.redis, session_id)
        await self.redis.expire(SESSION_KEY + session_id, HANDOFF_TTL_S)
        waiting = handoff.status == "queued"
        # The chat contract's actions stay as they are ("smalltalk" here); the "handoff" member says a
        # person has the chat.
        return {
            "action": "smalltalk",
            "reply": "工作人员马上就来，您的消息已转给工作人员。" if waiting else "",
            "items": [],
            "quick_replies": [],
            "cards": [],
            "handoff": {"id": handoff.id, "status": handoff.status},
        }

    async def after_turn(
        self,
        text: str,
        body: dict[str, Any],
        state: dict[str, Any],
        session_id: str,
        *,
        channel: str,
        user_id: int | None,
        reply_to: str | None = None,
    ) -> dict[str, Any]:
        """Log the question for replays, keep the transcript, and queue a hand-off when one is due."""
        with contextlib.suppress(Exception):
            await governance.log_question(self.redis, text, self.replay_questions)
        transcript = list(state.get("transcript") or [])[-(TRANSCRIPT_TURNS * 2 - 2) :]
        transcript.append({"from": "citizen", "text": text[:500]})
        asked = asks_for_human(text)
        failed = int(state.get("misses", 0)) >= 2
        # The mini-program and HTTP answer on the chat itself; the official account needs the openid.
        due = self.enabled and (asked or failed) and (channel != "mp" or bool(reply_to))
        if due:
            body = {
                **body,
                # Still a fallback after two failures (and smalltalk for "a person, please"): the
                # contract's actions do not change; the "handoff" member added below says what follows.
                "action": "smalltalk" if asked else "fallback",
                "reply": QUEUED_REPLY if asked else FAILED_TWICE_REPLY,
                "quick_replies": [],
            }
        transcript.append({"from": "assistant", "text": str(body.get("reply", ""))})
        state["transcript"] = transcript
        if not due:
            return body
        handoff = await self.queue(
            channel=channel,
            session_id=session_id,
            user_id=user_id,
            openid=reply_to,
            reason="asked" if asked else "failures",
            state=state,
        )
        state["misses"] = 0
        return {**body, "handoff": {"id": handoff.id, "status": handoff.status}}

    async def queue(
        self,
        *,
        channel: str,
        session_id: str,
        user_id: int | None,
        openid: str | None,
        reason: str,
        state: dict[str, Any],
    ) -> Handoff:
        """Queue the chat with its case context: identity level, item discussed, open applications, transcript."""
        existing = await self.redis.get(SESSION_KEY + session_id)
        if existing:
            open_one = await Handoff.get_or_none(id=int(existing), status__in=OPEN_STATUSES)
            if open_one is not None:
                return open_one
        context = await case_context(user_id, state)
        handoff = await Handoff.create(
            channel=channel,
            session_id=session_id,
            user_id=user_id,
            openid=openid,
            reason=reason,
            status="queued",
            context=context,
        )
        for turn in state.get("transcript") or ():
            await self._message(handoff, turn["from"], turn["text"])
        await self.redis.set(SESSION_KEY + session_id, handoff.id, ex=HANDOFF_TTL_S)
        log.info("chat handed off", extra={"fields": {"handoff": handoff.id, "reason": reason, "channel": channel}})
        return handoff

    async def _message(self, handoff: Handoff, sender: str, text: str, staff_id: int | None = None) -> HandoffMessage:
        return await HandoffMessage.create(
            handoff=handoff, sender=sender, staff_id=staff_id, text_enc=self.pii.encrypt(text, "handoff.text")
        )

    # -- the agent side -----------------------------------------------------------

    async def claim(self, handoff_id: int, staff: Staff) -> Handoff:
        """Take a queued chat; 409 when another agent took it first (a conditional UPDATE decides)."""
        taken = await Handoff.filter(id=handoff_id, status="queued").update(
            status="active", agent_id=staff.id, agent_username=staff.username, claimed_at=_now()
        )
        handoff = await self.get(handoff_id)
        if not taken:
            raise Conflict(f"This chat is {handoff.status}" + (f" with {handoff.agent_username}" if
                           handoff.agent_username else ""), code="handoff_taken")  # fmt: skip
        await self.deliver(handoff, {"type": "handoff", "status": "active",
                                     "text": "工作人员已接入，请问有什么可以帮您？"})  # fmt: skip
        return handoff

    async def reply(self, handoff_id: int, staff: Staff, text: Any) -> HandoffMessage:
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed("text is required", details={"field": "text"})
        if len(text) > MAX_AGENT_TEXT:
            raise ValidationFailed(f"text is longer than {MAX_AGENT_TEXT} characters", details={"field": "text"})
        handoff = await self.get(handoff_id)
        if handoff.status != "active" or handoff.agent_id != staff.id:
            raise Conflict("Take this chat before replying", code="handoff_not_yours")
        message = await self._message(handoff, "agent", text.strip(), staff.id)
        await self.deliver(handoff, {"type": "agent", "text": text.strip(), "message_id": message.id})
        return message

    async def end(self, handoff_id: int, staff: Staff, close: bool) -> Handoff:
        """Hand the chat back to the assistant, or close it."""
        handoff = await self.get(handoff_id)
        if handoff.status not in OPEN_STATUSES:
            raise Conflict(f"This chat is already {handoff.status}", code="handoff_ended")
        if handoff.status == "active" and handoff.agent_id != staff.id and staff.role != "admin":
            raise Conflict("Another agent has this chat", code="handoff_not_yours")
        status = "closed" if close else "returned"
        updated = await Handoff.filter(id=handoff_id, status=handoff.status).update(status=status, ended_at=_now())
        if not updated:
            raise Conflict("This chat changed meanwhile; reload it", code="handoff_changed")
        current = await self.redis.get(SESSION_KEY + handoff.session_id)
        if current and int(current) == handoff.id:
            await self.redis.delete(SESSION_KEY + handoff.session_id)
        text = CLOSED_TEXT if close else RETURNED_TEXT
        handoff = await self.get(handoff_id)
        await self._message(handoff, "system", text, staff.id)
        await self.deliver(handoff, {"type": "handoff", "status": status, "text": text})
        return handoff

    async def get(self, handoff_id: int) -> Handoff:
        handoff = await Handoff.get_or_none(id=handoff_id)
        if handoff is None:
            raise NotFound("No such hand-off", code="handoff_not_found")
        return handoff

    async def messages(self, handoff: Handoff, after: int = 0) -> list[dict[str, Any]]:
        rows = await HandoffMessage.filter(handoff_id=handoff.id, id__gt=after).order_by("id").limit(500)
        return [
            {"id": m.id, "from": m.sender, "text": self.pii.decrypt(m.text_enc, "handoff.text"),
             "at": m.created_at.isoformat()}
            for m in rows
        ]  # fmt: skip

    # -- delivery -------------------------------------------------------------------

    async def deliver(self, handoff: Handoff, payload: dict[str, Any]) -> None:
        """Send to the citizen on the channel the chat came from; a failure is logged, never raised to the agent."""
        payload = {**payload, "handoff_id": handoff.id, "session_id": handoff.session_id}
        try:
            deliverer = self.deliverers.get(handoff.channel)
            if deliverer is not None:
                await deliverer(handoff, payload)
            else:
                message = json.dumps(payload, ensure_ascii=False)
                await self.redis.publish(SESSION_PUSH_PREFIX + handoff.session_id, message)
                if handoff.user_id is not None and handoff.channel != "ws":
                    await self.redis.publish(f"{PUSH_PREFIX}{handoff.user_id}", message)
        except Exception:
            log.warning("could not deliver to the citizen", extra={"fields": {"handoff": handoff.id}}, exc_info=True)


def official_account_delivery(gateway: WeChatGateway) -> Deliverer:
    """Agent replies to a follower of the official account, as customer-service messages (48-hour window)."""

    async def deliver(handoff: Handoff, payload: dict[str, Any]) -> None:
        text = payload.get("text")
        if not handoff.openid or not text:
            return
        await gateway.call(lambda c: c.message.send_text(handoff.openid, text))

    return deliver


async def case_context(user_id: int | None, state: dict[str, Any]) -> dict[str, Any]:
    """What the agent needs: identity level, the item being discussed, open applications (no personal data)."""
    context: dict[str, Any] = {"identity_level": "anonymous", "item": None, "applications": []}
    code = state.get("item")
    if code:
        item = await ServiceItem.get_or_none(code=str(code))
        context["item"] = {"code": str(code), "name": item.name if item else None}
    if user_id is not None:
        user = await User.get_or_none(id=user_id)
        if user is not None:
            context["identity_level"] = str(user.level)
            context["user_id"] = user.id
        rows = await Application.filter(user_id=user_id, status__in=OPEN_APPLICATION_STATUSES).order_by("-id").limit(10)
        context["applications"] = [
            {"id": a.id, "service_code": a.service_code, "service_name": a.service_name, "status": str(a.status),
             "deadline": a.deadline.isoformat() if a.deadline else None}
            for a in rows
        ]  # fmt: skip
    return context


def handoff_view(handoff: Handoff) -> dict[str, Any]:
    return {
        "id": handoff.id,
        "channel": handoff.channel,
        "session_id": handoff.session_id,
        "reason": handoff.reason,
        "status": handoff.status,
        "agent": handoff.agent_username,
        "context": handoff.context,
        "created_at": handoff.created_at.isoformat(),
        "claimed_at": handoff.claimed_at.isoformat() if handoff.claimed_at else None,
        "ended_at": handoff.ended_at.isoformat() if handoff.ended_at else None,
    }


class SessionHub(SocketRegistry[str]):
    """This worker's sockets by chat session, fed by ``shengshi:handoff_push:*`` from any worker."""

    async def listen(self, redis: Redis) -> None:
        async def forward(message: dict[str, Any]) -> None:
            channel, data = message["channel"], message["data"]
            channel = channel.decode() if isinstance(channel, bytes) else channel
            await self.deliver(channel[len(SESSION_PUSH_PREFIX) :], data.decode() if isinstance(data, bytes) else data)

        await keep_running(
            "hand-off push listener",
            lambda: listen(redis, lambda p: p.psubscribe(SESSION_PUSH_PREFIX + "*"), forward),
        )
