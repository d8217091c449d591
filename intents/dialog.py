"""The assistant: one message and the session's state in, one reply and the new state out.

Pure and transport-free: HTTP, WebSocket, the official account and the CLI all
call :meth:`Assistant.respond` and carry the state themselves (Redis, with a
30-minute TTL, in the service). Actions:

- ``answer``: one item, with its card (一次告知: conditions, materials, time limit, where).
- ``clarify``: close candidates offered as quick replies.
- ``ask_slot``: an intent family (护照 → 首次 / 换发 / 补发) asks its question; the next
  message, typed or tapped, fills it.
- ``fallback``: not a government service, or not understood: say so, offer 12345 and
  browsing by category; never a confident wrong item.
- ``smalltalk``: greeting, thanks, asking for a person, office hours.
- ``progress``: "my application": the transport fills in the user's applications.

Before matching, :mod:`intents.triage` reads what kind of message it is; the reply's ``triage``
says it (``service``, ``progress``, ``complaint``, ``suggestion``, ``smalltalk``, ``out_of_scope``).
A complaint or a suggestion is an ``answer`` of its channel item (劳动保障监察, 12315, 12345) with a
reply that says so, unless it also asks for a service the index finds clearly; a long message is
matched on its asking sentences; a life event named alone gets its items as a card (``clarify``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from intents.engine import Candidate, IntentIndex, MatchResult
from intents.text import has_cjk, normalise
from intents.triage import Triage, TriageRules, life_event_items

HOTLINE = "12345"
# Intents whose id starts with this are topics that are not government services: when one ranks
# first the assistant declines, and they are never offered as items.
OUT_OF_SCOPE_PREFIX = "oos:"


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on coverage (share of the question matched) and margin (lead over the second)."""

    fallback_coverage: float = 0.05
    # An absolute BM25 score: it grows with the catalog's IDF, so re-measure it when the catalog grows a lot.
    fallback_score: float = 12.0
    # Below this share matched in official terms, a weakly matched question is declined (0: off).
    fallback_core: float = 0.0
    weak_coverage: float = 0.35
    clarify_coverage: float = 0.22
    clarify_margin: float = 0.08
    family_margin: float = 0.15
    # Latin-letter (pinyin) questions yield fewer kinds of features, so less total evidence.
    latin_score_factor: float = 0.5
    # An out-of-scope topic declines the question when its score times this reaches the best item's:
    # a wrong confident answer costs more than an honest "not a government service".
    out_of_scope_boost: float = 1.0
    # A complaint that also asks for a service is answered with the service when the index finds it this clearly.
    request_coverage: float = 0.05
    request_score: float = 30.0
    # A long message's asking sentences are matched alone when they find an item at least this well.
    question_coverage: float = 0.3
    # ... or, when it asks without the words of a service request, when its complaint evidence is at most this.
    request_complaint: int = 6
    # A long message's question must be matched at least this well, or the message is declined.
    long_coverage: float = 0.03


@dataclass(frozen=True)
class FamilyOption:
    label: str
    code: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Family:
    id: str
    name: str
    question: str
    options: tuple[FamilyOption, ...]

    @property
    def codes(self) -> frozenset[str]:
        return frozenset(o.code for o in self.options)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Family:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            question=str(data["question"]),
            options=tuple(
                FamilyOption(str(o["label"]), str(o["code"]), tuple(normalise(w) for w in o.get("words", ())))
                for o in data["options"]
            ),
        )


@dataclass
class Reply:
    """What the assistant says; ``to_dict`` is the chat contract."""

    action: str
    reply: str
    items: list[dict[str, Any]] = field(default_factory=list)
    quick_replies: list[str] = field(default_factory=list)
    cards: list[dict[str, Any]] = field(default_factory=list)
    matched: MatchResult | None = None
    # What kind of message it was: service, progress, complaint, suggestion, smalltalk, out_of_scope.
    triage: str = "service"

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "reply": self.reply,
            "items": self.items,
            "quick_replies": self.quick_replies,
            "cards": self.cards,
            "triage": self.triage,
        }


# Built-in intents, matched on the normalised text before the index.
_GREETING = re.compile(r"^(你好|您好|hi|hello|hey|哈喽|嗨|在吗|在不在|早上好|下午好|晚上好|早安|有人吗|小助手)+$")
_IDENTITY = re.compile(
    r"^(你是谁|你叫什么|你是什么|你是机器人吗|你能做什么|你会什么|你有什么功能|你可以做什么|能做什么)$"
)
_THANKS = re.compile(r"(谢谢|感谢|多谢|thank|thx|辛苦了|好的明白|明白了|知道了)")
# Not a bare "人工": in Cantonese it means wages (拖欠人工), and "残疾人工资" contains it too.
# Asking for a person (not a bare 人工: Cantonese wages); the console's hand-off desk uses it too.
HUMAN_REQUEST = re.compile(r"(转人工|人工服务|人工客服|找人工|要人工|真人|客服|工作人员|接线员)")
_PROGRESS = re.compile(
    r"(办件进度|申请进度|进度查询|查进度|我的申请|我的办件|到哪一步|办到哪|审批到|审核到哪|办好了没|办完了没|办得怎么样|受理了没|批下来了没)"
)
_OFFICE = re.compile(
    r"(几点上班|几点下班|上班时间|办公时间|工作时间|周末上班|周末办公|节假日上班|大厅在哪|服务中心在哪|政务中心在哪)"
)
_SMALLTALK_ANY = re.compile("|".join(p.pattern for p in (HUMAN_REQUEST, _OFFICE)))
_SMALLTALK_NOISE = re.compile(
    r"(政务服务中心|政务中心|服务中心|办事大厅|大厅|窗口|你们|请问|你好|您好|哦|啊|呀|吧|吗|呢|的|了|一下|我|想|要|找|帮|请|转|\s)+"
)
# What may be left beside a smalltalk pattern for it to still be smalltalk ("请帮我转人工" yes,
# "放射工作人员证办理" no: that is a request that happens to contain 工作人员).
_SMALLTALK_REST = 4


def asks_for_human(text: str) -> bool:
    """True for a short message asking for a person (转人工, 人工客服 …)."""
    return _asks_for_human(normalise(text).replace(" ", ""))


def _asks_for_human(compact: str) -> bool:
    return bool(HUMAN_REQUEST.search(compact)) and len(compact) <= 20


def _confidence(candidate: Candidate, best: Candidate) -> float:
    """0–1, best first: how much of the question the best intent covers, scaled by each one's score."""
    relative = candidate.score / best.score if best.score > 0 else 0.0
    return round(max(0.0, min(1.0, best.coverage)) ** 0.5 * relative, 2)


class Assistant:
    """Decides what to say; holds an immutable index snapshot and the families."""

    def __init__(
        self,
        index: IntentIndex,
        families: Sequence[Family] = (),
        categories: Sequence[str] = (),
        thresholds: Thresholds | None = None,
        triage: TriageRules | None = None,
    ):
        self.index = index
        self.families = {family.id: family for family in families}
        self.family_of = {option.code: family for family in families for option in family.options}
        self.categories = list(categories)
        self.thresholds = thresholds or Thresholds()
        self.triage = triage or TriageRules({})
        self._channel_codes = frozenset(c.code for c in self.triage.channels)
        self.life_events = life_event_items(
            [i.payload for i in index.intents if not i.id.startswith(OUT_OF_SCOPE_PREFIX)]
        )

    # -- the one entry point -----------------------------------------------

    def respond(
        self, text: str, state: Mapping[str, Any] | None = None, *, elder: bool = False
    ) -> tuple[Reply, dict[str, Any]]:
        """Answer ``text`` given the session ``state``; return the reply and the new state."""
        state = dict(state or {})
        triage = self.triage.read(text)
        reply = self._respond(text, triage, state)
        if reply.action == "fallback":
            state["misses"] = int(state.get("misses", 0)) + 1
        else:
            state["misses"] = 0
        if reply.action == "answer" and reply.items:
            state["item"] = reply.items[0]["code"]
        state["turns"] = int(state.get("turns", 0)) + 1
        if elder:
            reply = self._for_elders(reply)
        return reply, state

    def _respond(self, text: str, triage: Triage, state: dict[str, Any]) -> Reply:
        normalised = triage.normalised
        pending = self.families.get(str(state.pop("pending_family", "") or ""))
        if pending is not None:
            chosen = self._pick_option(pending, normalised)
            if chosen is not None:
                return self._answer(self.index.search(text, restrict=frozenset({chosen.code})), chosen.code)
        if not normalised or normalised.replace(" ", "").isdigit():
            # Nothing but digits (a phone number, a code) names no service.
            return self._fallback(None)
        compact = normalised.replace(" ", "")
        if _PROGRESS.search(compact):
            return Reply("progress", "正在为您查询办件进度。", triage="progress")
        if triage.life_event is not None and triage.life_event in self.life_events:
            return self._life_event(text, triage.life_event)
        builtin = self._builtin(compact)
        if builtin is not None:
            return builtin
        t = self.thresholds
        report = triage.reports
        if triage.request:
            result, out_of_scope = self._search_in_scope(triage.request)
        else:
            result, out_of_scope = self._search_in_scope(text, normalised)
        if triage.long and triage.request:
            # A long message: its question when the index finds that clearly, else the whole text
            # (a question like "该怎么办" says little; the background then says what it is about).
            found = result.best
            if out_of_scope or found is None or found.score < t.request_score or found.coverage < t.question_coverage:
                result, out_of_scope = self._search_in_scope(text, normalised)
        if report is not None:
            # The best service that is not itself a complaint channel ("…态度很差，公租房怎么申请").
            asked = next((c for c in result.candidates if c.intent.id not in self._channel_codes), None)
            asks_clearly = (
                (triage.service_request or (triage.asks and triage.complaint <= t.request_complaint))
                and not out_of_scope
                and asked is not None
                and asked.score >= t.request_score
                and asked.coverage >= t.request_coverage
            )
            if not asks_clearly:
                return self._route(report, triage, result)
            if asked is not None and asked is not result.best:
                return self._answer(result, asked.intent.id)
        if out_of_scope:
            return self._fallback(result)
        best = result.best
        min_score = t.fallback_score * (t.latin_score_factor if not has_cjk(normalised) else 1.0)
        if (
            best is None
            or best.coverage < t.fallback_coverage
            or best.score < min_score
            or (best.core_coverage < t.fallback_core and best.coverage < t.weak_coverage)
            or (triage.long and best.coverage < t.long_coverage)
        ):
            return self._fallback(result)
        family, option = self._family_choice(result, normalised)
        if option is not None:
            # The family's members lead and the message itself says which one ("续" → 再次签注).
            return self._answer(result, option.code)
        if family is not None:
            state["pending_family"] = family.id
            return Reply(
                "ask_slot",
                family.question,
                items=self._items(result),
                quick_replies=[o.label for o in family.options],
                matched=result,
            )
        if result.margin < t.clarify_margin and best.coverage < t.clarify_coverage:
            names = [c.intent.name for c in result.candidates[:3]]
            return Reply(
                "clarify",
                "您想办理的是下面哪一项？",
                items=self._items(result),
                quick_replies=names,
                matched=result,
            )
        return self._answer(result, best.intent.id)

    # -- pieces ----------------------------------------------------------------

    def _search_in_scope(self, text: str, normalised: str | None = None) -> tuple[MatchResult, bool]:
        """Catalog candidates only, and whether an out-of-scope topic outranked them all."""
        result = self.index.search(text, limit=8, normalised=normalised)
        in_scope = tuple(c for c in result.candidates if not c.intent.id.startswith(OUT_OF_SCOPE_PREFIX))
        negative = next((c for c in result.candidates if c.intent.id.startswith(OUT_OF_SCOPE_PREFIX)), None)
        declined = negative is not None and (
            not in_scope or negative.score * self.thresholds.out_of_scope_boost >= in_scope[0].score
        )
        return MatchResult(result.text, result.normalised, in_scope[:5]), declined

    def _builtin(self, compact: str) -> Reply | None:
        """Smalltalk, only when the message carries nothing else: "能否申请公租房" beside 上班时间 is a request."""
        if _SMALLTALK_ANY.search(compact):
            rest = _SMALLTALK_NOISE.sub("", _SMALLTALK_ANY.sub("", compact))
            if len(rest) > _SMALLTALK_REST:
                return None
        reply = self._smalltalk(compact)
        if reply is not None:
            reply.triage = "smalltalk"
        return reply

    def _smalltalk(self, compact: str) -> Reply | None:
        if _asks_for_human(compact):
            return Reply(
                "smalltalk",
                f"需要人工服务的话，可以拨打{HOTLINE}政务服务便民热线，工作人员会为您解答。",
                quick_replies=["人工服务", "按分类浏览"],
            )
        if _OFFICE.search(compact):
            return Reply(
                "smalltalk",
                "各级政务服务中心一般周一至周五 9:00–12:00、14:00–17:30 办公（部分大厅周六上午开放，以当地公告为准）。"
                "告诉我您要办的事，我可以告诉您具体的办理地点和能否网上办。",
            )
        if _IDENTITY.match(compact):
            return Reply(
                "smalltalk",
                "我是省事小助手，可以帮您找到要办的政务服务事项，告诉您条件、材料、时限和去哪办，还能查办件进度。",
                quick_replies=["出生入户", "护照办理", "公积金提取", "社保卡"],
            )
        if _GREETING.match(compact):
            return Reply(
                "smalltalk",
                "您好！我是省事小助手。告诉我您想办什么事，比如“孩子刚出生怎么上户口”“公积金怎么提取”。",
                quick_replies=["出生入户", "护照办理", "公积金提取", "社保卡"],
            )
        if _THANKS.search(compact) and len(_SMALLTALK_NOISE.sub("", _THANKS.sub("", compact))) <= 2:
            return Reply("smalltalk", "不客气，还有其他需要随时问我。")
        return None

    def _route(self, kind: str, triage: Triage, result: MatchResult) -> Reply:
        """A complaint or a suggestion: its channel item, with a reply that says where it goes."""
        channel = triage.channel if kind == "complaint" else self.triage.suggestion_channel
        if channel is None or channel.code not in self.index.by_id:
            reply = self._fallback(result)
            reply.triage = kind
            return reply
        # The services the message also touches come after the channel, when the index finds them clearly.
        related = result.best is not None and result.best.score >= self.thresholds.request_score
        reply = self._answer(result if related else MatchResult(result.text, result.normalised, ()), channel.code)
        said = channel.reply if kind == "complaint" else self.triage.suggestion_reply
        reply.reply = f"{said}{reply.reply}" if said else reply.reply
        reply.triage = kind
        return reply

    def _life_event(self, text: str, event: str) -> Reply:
        """A life event named alone: its items as one card, the closest to the message first."""
        codes = [c for c in self.life_events[event] if c in self.index.by_id]
        ranked = [c.intent.id for c in self.index.search(text, limit=len(codes), restrict=frozenset(codes)).candidates]
        ordered = ranked + [c for c in codes if c not in ranked]
        items: list[dict[str, Any]] = [{"code": c, "name": self.index.by_id[c].name, "score": 1.0} for c in ordered]
        card = {"type": "life_event", "event": event, "items": [{"code": i["code"], "name": i["name"]} for i in items]}
        return Reply(
            "clarify",
            f"「{event}」相关的事项共{len(items)}项，请选择您要办理的：",
            items=items,
            quick_replies=[str(i["name"]) for i in items[:6]],
            cards=[card],
        )

    def _family_choice(self, result: MatchResult, normalised: str) -> tuple[Family | None, FamilyOption | None]:
        """When a family's members lead closely: the option the message names, or the family to ask about."""
        top = result.candidates[:3]
        family = self.family_of.get(top[0].intent.id)
        if family is None or len(top) < 2:
            return None, None
        siblings = [c for c in top[1:] if self.family_of.get(c.intent.id) is family]
        if not siblings or siblings[0].score < top[0].score * (1 - self.thresholds.family_margin):
            return None, None
        option = self._pick_option(family, normalised)
        return (None, option) if option is not None else (family, None)

    @staticmethod
    def _pick_option(family: Family, normalised: str) -> FamilyOption | None:
        compact = normalised.replace(" ", "")
        for option in family.options:
            if normalise(option.label).replace(" ", "") == compact:
                return option
        hits = [o for o in family.options if any(w and w in compact for w in o.words)]
        return hits[0] if len(hits) == 1 else None

    def _items(self, result: MatchResult, limit: int = 5) -> list[dict[str, Any]]:
        best = result.candidates[0]
        return [
            {"code": c.intent.id, "name": c.intent.name, "score": _confidence(c, best)}
            for c in result.candidates[:limit]
        ]

    def _answer(self, result: MatchResult, code: str) -> Reply:
        intent = self.index.by_id[code]
        items = self._items(result) if result.candidates else [{"code": code, "name": intent.name, "score": 1.0}]
        if items[0]["code"] != code:
            items = [{"code": code, "name": intent.name, "score": 1.0}, *[i for i in items if i["code"] != code]]
        card = service_card(intent.payload)
        return Reply(
            "answer",
            answer_text(intent.payload),
            items=items,
            quick_replies=["办理", "换一个问题"],
            cards=[card],
            matched=result,
        )

    def _fallback(self, result: MatchResult | None) -> Reply:
        return Reply(
            "fallback",
            f"抱歉，我没能找到对应的政务服务事项，这个问题可能不属于政务服务。您可以换个说法，"
            f"或拨打{HOTLINE}政务服务便民热线咨询，也可以按分类浏览办事指南。",
            quick_replies=["按分类浏览", f"拨打{HOTLINE}", *self.categories[:4]],
            matched=result,
            triage="out_of_scope",
        )

    @staticmethod
    def _for_elders(reply: Reply) -> Reply:
        """长辈模式: shorter sentences, fewer options."""
        short = reply.reply.split("。")[0] + "。" if "。" in reply.reply else reply.reply
        return Reply(
            reply.action, short, reply.items[:2], reply.quick_replies[:2], reply.cards, reply.matched, reply.triage
        )


def service_card(item: Mapping[str, Any]) -> dict[str, Any]:
    """The item's card: everything needed to prepare in one go (一次告知)."""
    if not item:
        return {}
    return {
        "type": "service",
        "code": item.get("code"),
        "name": item.get("name"),
        "department": item.get("department"),
        "online_level": item.get("online_level"),
        "max_visits": item.get("max_visits"),
        "promised_time_limit_days": item.get("promised_time_limit_days"),
        "legal_time_limit_days": item.get("legal_time_limit_days"),
        "fee": item.get("fee"),
        "conditions": list(item.get("conditions") or ()),
        "materials": [
            {
                "name": m.get("name"),
                "required": m.get("required"),
                "copies": m.get("copies"),
                "electronic_licence": m.get("electronic_licence"),
            }
            for m in item.get("materials") or ()
        ],
        "steps": list(item.get("steps") or ()),
        "offline_locations": list(item.get("offline_locations") or ()),
        "actions": [{"label": "办理", "type": "apply", "code": item.get("code")}],
    }


def answer_text(item: Mapping[str, Any]) -> str:
    if not item:
        return "为您找到以下事项。"
    required = [m["name"] for m in item.get("materials") or () if m.get("required")]
    days = item.get("promised_time_limit_days")
    limit = "即办" if days == 0 else f"承诺{days}个工作日内办结"
    visits = item.get("max_visits")
    where = "全程网办，不用跑" if visits == 0 else f"最多跑{visits}次"
    text = f"为您找到「{item.get('name')}」，由{item.get('department')}办理，{limit}，{where}。"
    if required:
        text += "需要准备：" + "、".join(required[:6]) + "。"
    return text
