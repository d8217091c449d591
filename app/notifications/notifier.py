"""Delivering the outbox: at least once, never lost, never twice to the same channel.

    outbox rows ──dispatcher──▶ Redis Stream ──consumer group──▶ deliver per channel
                                                    │  ▲
                       retryable failure ──▶ retry ZSET (backoff + jitter) ──▶ dead letters

- The dispatcher claims undispatched outbox rows (one conditional UPDATE marks them
  dispatched by this dispatcher; several dispatchers never get the same row), then copies
  what it claimed into the stream: one stream entry per row. A crash between the claim and
  the XADD leaves the row dispatched and unfinished, and the sweep dispatches it again.
- Consumers read their own pending entries first, then new ones, and claim entries
  left idle by dead consumers (XAUTOCLAIM). An entry is acknowledged only after its
  delivery is recorded; a consumer being cancelled acknowledges nothing it did not finish.
- Each delivery has an idempotency key (application:event:channel) and a record in
  ``deliveries``. Before anything is sent, a consumer claims the record atomically
  (``claimed``, with its owner and time; ``sending`` just before the WeChat call): a second
  copy of the entry finds it claimed or finished and sends nothing. A ``sending`` claim
  older than the claim timeout belongs to a consumer that died in the WeChat call: it is
  recorded ``uncertain`` (maybe sent), never sent again blindly; staff list and replay it.
- Channels: ``inapp`` (a stored notification, pushed to the user's open WebSockets through
  Redis pub/sub), ``subscribe`` (a WeChat subscribe message, only with a grant),
  ``template`` (the official account's template message, for followers).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import random
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from app.core.background import keep_running, listen, stop_requested
from app.core.redis_client import is_embedded
from app.core.wechat import WeChatError, WeChatGateway
from models import Delivery, Follower, Notification, OutboxMessage, SubscriptionGrant, User

log = logging.getLogger("shengshi.notify")

STREAM = "shengshi:notifications"
# On the embedded Redis the consumer waits this long at most between reads, unless woken by an XADD
# of this process (a real Redis blocks instead).
EMBEDDED_POLL_S = 0.5
GROUP = "deliver"
RETRY_KEY = "shengshi:notifications:retry"
PUSH_PREFIX = "shengshi:push:"
# A committed transition wakes the dispatcher at once instead of waiting for its next poll.
KICK_CHANNEL = "shengshi:outbox:kick"
FINISHED = frozenset({"sent", "skipped", "refused", "uncertain", "dead"})
# A delivery's claim: "claimed" while its consumer prepares it (nothing sent yet: a dead owner's claim
# is taken over), "sending" just before the WeChat call (a dead owner's claim becomes "uncertain").
HELD = frozenset({"claimed", "sending"})
# deliver()'s answer when another consumer holds a live claim: the entry stays pending and is looked
# at again once idle (by then the owner has finished, or is known to be dead).
BUSY = "busy"
# WeChat's answers that no retry will change.
REFUSED = {43101: "user refused or quota used", 47003: "template data invalid", 43004: "not following"}
CLAIM_IDLE_MS = 30_000


@dataclass(frozen=True)
class Template:
    template_id: str
    title: str
    purpose: str
    long_term: bool


def default_templates(progress_id: str) -> list[Template]:
    return [Template(progress_id, "办件进度提醒", "每一步办理进度（受理、补正、审批、办结）", True)]


class Retry(Exception):
    """A failure worth trying again later."""


class LostClaim(Exception):
    """This consumer's claim was taken over (it was slower than the claim timeout): it must not send."""


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Notifier:
    """Dispatcher, consumer and retry pump over one Redis and one WeChat gateway."""

    def __init__(
        self,
        redis: Any,
        wechat: WeChatGateway,
        templates: list[Template],
        *,
        retry_base_s: float = 2.0,
        max_attempts: int = 5,
        name: str | None = None,
        claim_idle_ms: int = CLAIM_IDLE_MS,
        redispatch_after_s: float = 120.0,
        official_account: WeChatGateway | None = None,
        mp_template_id: str = "",
    ):
        self.redis = redis
        self._appended = asyncio.Event()  # set by every XADD of this notifier
        self.wechat = wechat
        self.templates = templates
        self.retry_base_s = retry_base_s
        self.max_attempts = max_attempts
        self.name = name or consumer_name()
        # Longer than the slowest delivery, or a live consumer's work would be claimed and done twice.
        # The same time bounds a delivery's claim: one held longer belongs to a dead consumer.
        self.claim_idle_ms = claim_idle_ms
        self.claim_timeout = dt.timedelta(milliseconds=claim_idle_ms)
        # Longer than a delivery with all its retries can take, so only lost messages are dispatched again.
        self.redispatch_after_s = redispatch_after_s
        self._wake = asyncio.Event()
        self.official_account = official_account
        self.mp_template_id = mp_template_id

    # -- dispatcher ---------------------------------------------------------------

    def _token(self) -> str:
        """A claim's owner: this notifier and a nonce (a restarted process never mistakes an old claim for its own)."""
        return f"{self.name[:48]}:{uuid.uuid4().hex[:12]}"

    async def dispatch_once(self, limit: int = 200) -> int:
        """Stream the undispatched outbox rows this dispatcher claims; no other dispatcher streams them."""
        token, rows = await self._claim_rows(limit, dispatched_at=None)
        await self._stream(token, rows)
        return len(rows)

    async def redispatch_stale(self) -> int:
        """Dispatch again what was dispatched long ago and never finished (lost with a Redis restart)."""
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.redispatch_after_s)
        token, rows = await self._claim_rows(500, delivered_at=None, dispatched_at__lt=cutoff)
        await self._stream(token, rows)
        if rows:
            log.warning("dispatched %d unfinished notifications again", len(rows))
        return len(rows)

    async def _claim_rows(self, limit: int, **conditions: Any) -> tuple[str, list[OutboxMessage]]:
        """Mark candidate rows dispatched by this call with one conditional UPDATE; answer the rows it got.

        The UPDATE checks the conditions again row by row (PostgreSQL re-reads a row that another
        transaction changed meanwhile; SQLite has one writer), so each row goes to exactly one dispatcher.
        """
        token = self._token()
        ids = await OutboxMessage.filter(**conditions).order_by("id").limit(limit).values_list("id", flat=True)
        if not ids:
            return token, []
        now = dt.datetime.now(dt.UTC)
        if not await OutboxMessage.filter(id__in=ids, **conditions).update(dispatched_at=now, dispatched_by=token):
            return token, []
        return token, list(await OutboxMessage.filter(id__in=ids, dispatched_by=token).order_by("id"))

    async def _stream(self, token: str, rows: list[OutboxMessage]) -> None:
        for n, row in enumerate(rows):
            try:
                await self._append({"outbox_id": str(row.id), "attempt": "0"})
            except BaseException:
                # Redis is away: give back the rows not streamed, to be dispatched as soon as it is back
                # (if even this fails, the sweep dispatches them again after redispatch_after_s).
                with contextlib.suppress(Exception):
                    await OutboxMessage.filter(id__in=[r.id for r in rows[n:]], dispatched_by=token).update(
                        dispatched_at=None, dispatched_by=None
                    )
                raise

    async def kick(self) -> None:
        """New outbox rows are committed: wake the dispatcher here and in every other process."""
        self._wake.set()
        with contextlib.suppress(Exception):
            await self.redis.publish(KICK_CHANNEL, "1")

    async def run_kick_listener(self) -> None:
        async def wake(_: dict[str, Any]) -> None:
            self._wake.set()

        await keep_running("kick listener", lambda: listen(self.redis, lambda p: p.subscribe(KICK_CHANNEL), wake))

    async def run_dispatcher(self, idle_s: float = 0.5) -> None:
        loop = asyncio.get_running_loop()
        last_sweep = 0.0

        async def turn() -> None:
            nonlocal last_sweep
            while True:
                if stop_requested():
                    raise asyncio.CancelledError
                if loop.time() - last_sweep > min(10.0, self.redispatch_after_s / 2):
                    last_sweep = loop.time()
                    await self.redispatch_stale()
                if not await self.dispatch_once():
                    # Poll now and then anyway: a kick can be missed while Redis is away.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), idle_s)
                    self._wake.clear()

        await keep_running("dispatcher", turn)

    # -- consumer -----------------------------------------------------------------

    async def ensure_group(self) -> None:
        try:
            await self.redis.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _append(self, fields: dict[str, str]) -> None:
        await self.redis.xadd(STREAM, fields)
        self._appended.set()

    async def run_consumer(self, block_ms: int = 1000) -> None:
        """Own pending entries first, then new ones; claim those idle too long. Reconnects by itself."""

        async def turn() -> None:
            await self.ensure_group()
            await self._consume(block_ms)

        await keep_running("consumer", turn)

    async def _consume(self, block_ms: int) -> None:
        cursor = "0-0"
        last_claim = 0.0
        loop = asyncio.get_running_loop()
        # The embedded fakeredis keeps a CPU busy for as long as an XREADGROUP blocks (and starves
        # the database thread of the GIL): there, read without blocking and wait between empty reads.
        embedded = is_embedded(self.redis)
        while True:
            if stop_requested():
                raise asyncio.CancelledError
            if embedded:
                response = await self.redis.xreadgroup(GROUP, self.name, {STREAM: cursor}, count=50)
            else:
                response = await self.redis.xreadgroup(GROUP, self.name, {STREAM: cursor}, count=50, block=block_ms)
            entries = response[0][1] if response else []
            if embedded and not entries and cursor == ">":
                # Entries come from this process there (one worker only): woken by our own XADD.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._appended.wait(), EMBEDDED_POLL_S)
                self._appended.clear()
            if cursor != ">":
                # Own pending entries first, each once (one left pending as busy is not read again in
                # a loop): then new ones.
                cursor = entries[-1][0] if entries else ">"
            for entry_id, fields in entries:
                await self.handle(entry_id, fields)
            if loop.time() - last_claim > min(5.0, self.claim_idle_ms / 2000):
                last_claim = loop.time()
                await self.claim_idle()

    async def claim_idle(self) -> int:
        result = await self.redis.xautoclaim(STREAM, GROUP, self.name, self.claim_idle_ms, start_id="0-0", count=50)
        claimed = result[1] if len(result) > 1 else []
        for entry_id, fields in claimed:
            if fields:
                await self.handle(entry_id, fields)
        return len(claimed)

    async def handle(self, entry_id: str, fields: dict[str, str]) -> None:
        """Deliver one entry and acknowledge it; a cancellation leaves it pending for someone else."""
        outbox = await OutboxMessage.get_or_none(id=int(fields["outbox_id"]))
        attempt = int(fields.get("attempt", "0"))
        if outbox is not None and await self.deliver(outbox, attempt) == BUSY:
            # Another consumer holds the delivery (with an entry of its own): left pending, this entry
            # is claimed again once idle, and then finds the delivery finished or its owner dead.
            return
        await self.redis.xack(STREAM, GROUP, entry_id)

    async def deliver(self, outbox: OutboxMessage, attempt: int) -> str:
        """Deliver one outbox message on its channel under an atomic claim; answer its status.

        ``BUSY`` means another consumer holds a live claim on it: this call sent nothing.
        """
        token, status = await self._claim(outbox)
        if token is None:
            if status in FINISHED:
                await self._finished(outbox)
            return status
        try:
            status, detail = await getattr(self, f"_deliver_{outbox.channel}")(outbox, token)
        except LostClaim:
            return BUSY
        except Retry as exc:
            if attempt + 1 >= self.max_attempts:
                status, detail = "dead", f"gave up after {attempt + 1} attempts: {exc}"
            else:
                status, detail = "retrying", str(exc)
        if not await self._record(outbox, token, status, detail[:250], attempt + 1):
            # Staff replayed it meanwhile (this consumer was slower than the claim timeout): theirs now.
            log.warning("a delivery's claim was taken over", extra={"fields": {"outbox_id": outbox.id}})
            return BUSY
        if status == "retrying":
            await self._schedule_retry(outbox, attempt + 1)
        if status in FINISHED:
            await self._finished(outbox)
        return status

    async def _claim(self, outbox: OutboxMessage) -> tuple[str | None, str]:
        """Take the delivery for this consumer, atomically: answer (owner token, "claimed"), or (None, its
        status) when it is finished, or (None, BUSY) when another consumer holds a live claim."""
        key = outbox.idempotency_key
        token = self._token()
        # Each turn either wins, or sees a change someone else made; a few turns settle any race.
        for _ in range(5):
            now = dt.datetime.now(dt.UTC)
            record = await Delivery.get_or_none(idempotency_key=key)
            if record is None:
                try:
                    await Delivery.create(
                        idempotency_key=key, outbox_id=outbox.id, channel=outbox.channel, status="claimed",
                        owner=token, claimed_at=now,
                    )  # fmt: skip
                    return token, "claimed"
                except IntegrityError:
                    continue  # another consumer created it first
            if record.status in FINISHED:
                return None, record.status
            if record.status in HELD and record.claimed_at is not None and now - record.claimed_at < self.claim_timeout:
                return None, BUSY
            mine = Delivery.filter(id=record.id, status=record.status, owner=record.owner)
            if record.status == "sending":
                # Its consumer died during the WeChat call: the message may have arrived. Staff decide.
                if await mine.update(status="uncertain", detail="the worker stopped while sending"):
                    log.warning("a delivery may have been sent", extra={"fields": {"outbox_id": outbox.id}})
                    return None, "uncertain"
                continue
            # Waiting for a retry or a replay, or claimed by a consumer that died before calling WeChat.
            if await mine.update(status="claimed", owner=token, claimed_at=now):
                return token, "claimed"
        return None, BUSY

    async def _finished(self, outbox: OutboxMessage) -> None:
        await OutboxMessage.filter(id=outbox.id, delivered_at=None).update(delivered_at=dt.datetime.now(dt.UTC))

    async def _record(
        self, outbox: OutboxMessage, token: str, status: str, detail: str, attempts: int | None = None
    ) -> bool:
        """Write the outcome if this consumer still owns the delivery (an ``uncertain`` mark keeps the owner)."""
        values: dict[str, Any] = {"status": status, "detail": detail}
        if attempts is not None:
            values["attempts"] = attempts
        return bool(await Delivery.filter(idempotency_key=outbox.idempotency_key, owner=token).update(**values))

    async def _schedule_retry(self, outbox: OutboxMessage, attempt: int) -> None:
        # Exponential backoff with full jitter.
        delay = random.uniform(0, self.retry_base_s * 2**attempt)
        due = dt.datetime.now(dt.UTC).timestamp() + delay
        await self.redis.zadd(RETRY_KEY, {json.dumps({"outbox_id": outbox.id, "attempt": attempt}): due})

    async def pump_retries_once(self) -> int:
        now = dt.datetime.now(dt.UTC).timestamp()
        due = await self.redis.zrangebyscore(RETRY_KEY, 0, now, start=0, num=100)
        moved = 0
        for member in due:
            # Whoever removes it moves it: several pumps never duplicate a retry.
            if await self.redis.zrem(RETRY_KEY, member):
                entry = json.loads(member)
                await self._append({"outbox_id": str(entry["outbox_id"]), "attempt": str(entry["attempt"])})
                moved += 1
        return moved

    async def run_retry_pump(self, idle_s: float = 0.2) -> None:
        async def turn() -> None:
            while True:
                if stop_requested():
                    raise asyncio.CancelledError
                if not await self.pump_retries_once():
                    await asyncio.sleep(idle_s)

        await keep_running("retry pump", turn)

    # -- channels ---------------------------------------------------------------

    async def _deliver_inapp(self, outbox: OutboxMessage, token: str) -> tuple[str, str]:
        payload = outbox.payload
        title = f"{payload['service_name']}：{payload['status_text']}"
        body = payload["status_text"]
        if payload.get("missing_materials"):
            body += "，请补正：" + "、".join(payload["missing_materials"])
        elif payload.get("note"):
            body += "。" + payload["note"]
        try:
            note = await Notification.create(
                idempotency_key=outbox.idempotency_key, user_id=outbox.user_id, application_id=outbox.application_id,
                title=title[:128], body=body, data=payload,
            )  # fmt: skip
        except IntegrityError:
            note = await Notification.get(idempotency_key=outbox.idempotency_key)
        message = {"type": "notification", "notification": notification_view(note)}
        with contextlib.suppress(Exception):
            # The stored notification is the truth; a push that fails is caught up on reconnect.
            await self.redis.publish(f"{PUSH_PREFIX}{outbox.user_id}", json.dumps(message, ensure_ascii=False))
        return "sent", ""

    async def _deliver_subscribe(self, outbox: OutboxMessage, token: str) -> tuple[str, str]:
        template = self.templates[0]
        user = await User.get_or_none(id=outbox.user_id)
        if user is None:
            return "skipped", "no such user"
        grant = await self._claim_grant(user.id, template)
        if grant is None:
            return "skipped", "no subscription grant"
        payload = outbox.payload
        data = {
            "thing1": {"value": payload["service_name"][:20]},
            "phrase2": {"value": payload["status_text"][:5]},
            "time3": {"value": payload["at"][:16].replace("T", " ")},
            "thing4": {"value": (payload.get("note") or payload["status_text"])[:20]},
        }
        page = f"pages/application/detail?id={payload['application_id']}"
        try:
            return await self._send(
                outbox,
                token,
                template.template_id,
                lambda: self.wechat.send_subscribe_message(user.openid, template.template_id, data, page=page),
            )
        except (Retry, LostClaim):
            # Not sent: the grant is still the user's for the next attempt.
            await self._release_grant(grant, template)
            raise

    async def _send(self, outbox: OutboxMessage, token: str, detail: str, call: Any) -> tuple[str, str]:
        """Call WeChat once, if this consumer's claim still holds, marked 'sending' first; classify the answer."""
        sending = Delivery.filter(idempotency_key=outbox.idempotency_key, owner=token, status="claimed")
        if not await sending.update(status="sending", detail=detail, claimed_at=dt.datetime.now(dt.UTC)):
            raise LostClaim
        try:
            await call()
        except WeChatError as exc:
            if exc.errcode in REFUSED:
                return "refused", f"{exc.errcode}: {REFUSED[exc.errcode]}"
            if exc.maybe_sent:
                # It may have arrived: retrying could send it twice. Staff can see and replay it.
                return "uncertain", "no answer after the request was sent"
            # Known not sent: a crash from here on must not leave it looking "maybe sent".
            await self._record(outbox, token, "retrying", "")
            raise Retry(f"{exc.errcode}: {exc.errmsg}" if exc.errcode is not None else exc.errmsg) from None
        return "sent", detail

    async def _claim_grant(self, user_id: int, template: Template) -> SubscriptionGrant | None:
        grants = SubscriptionGrant.filter(user_id=user_id, template_id=template.template_id)
        if template.long_term:
            return await grants.first()
        for grant in await grants.filter(used_at=None).order_by("id").limit(5):
            if await SubscriptionGrant.filter(id=grant.id, used_at=None).update(used_at=dt.datetime.now(dt.UTC)):
                return grant
        return None

    async def _release_grant(self, grant: SubscriptionGrant, template: Template) -> None:
        if not template.long_term:
            await SubscriptionGrant.filter(id=grant.id).update(used_at=None)

    async def _deliver_template(self, outbox: OutboxMessage, token: str) -> tuple[str, str]:
        """The official account's template message, to users who follow it (linked by unionid)."""
        if self.official_account is None or not self.mp_template_id:
            return "skipped", "official account not configured"
        user = await User.get_or_none(id=outbox.user_id)
        follower = None
        if user is not None:
            follower = await Follower.filter(user_id=user.id, subscribed=True).first()
            if follower is None and user.unionid:
                follower = await Follower.filter(unionid=user.unionid, subscribed=True).first()
        if follower is None:
            return "skipped", "not a follower of the official account"
        payload = outbox.payload
        data = {
            "first": {"value": f"您的办件「{payload['service_name']}」有新进度"},
            "keyword1": {"value": payload["service_name"]},
            "keyword2": {"value": payload["status_text"]},
            "keyword3": {"value": payload["at"][:16].replace("T", " ")},
            "remark": {"value": payload.get("note") or "点击查看详情"},
        }
        mini_program = {"pagepath": f"pages/application/detail?id={payload['application_id']}"}
        gateway = self.official_account
        return await self._send(
            outbox,
            token,
            self.mp_template_id,
            lambda: gateway.call(
                lambda c: c.message.send_template(follower.openid, self.mp_template_id, data, mini_program=mini_program)
            ),
        )

    # -- staff tools ------------------------------------------------------------------

    async def replay(self, idempotency_key: str) -> bool:
        """Send a dead or uncertain delivery again (a staff decision), once: of two replays, one wins."""
        record = await Delivery.get_or_none(idempotency_key=idempotency_key)
        if record is None:
            return False
        replaying = Delivery.filter(id=record.id, status__in=["dead", "uncertain"])
        if not await replaying.update(status="replaying", detail="replayed by staff"):
            return False
        # Unfinished again, and dispatched now: if this stream entry is lost, the sweep dispatches it again.
        await OutboxMessage.filter(id=record.outbox_id).update(
            delivered_at=None, dispatched_at=dt.datetime.now(dt.UTC), dispatched_by=self._token()
        )
        await self._append({"outbox_id": str(record.outbox_id), "attempt": "0"})
        return True


def notification_view(note: Notification) -> dict[str, Any]:
    return {
        "id": note.id,
        "application_id": note.application_id,
        "title": note.title,
        "body": note.body,
        "data": note.data,
        "read": note.read_at is not None,
        "created_at": note.created_at.isoformat(),
    }
