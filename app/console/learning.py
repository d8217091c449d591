"""Learning from failures: unmatched, fallback and unhelpful-rated questions, clustered, turned into data.

A cluster becomes training phrases of an existing intent, a synonym, or a new intent (all
in the draft, published like any edit), or is dismissed. Either way its texts are marked
resolved and leave the list.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from app.assistant import intent_data, sessions
from app.console import governance
from app.core.errors import NotFound, ValidationFailed
from intents.clusters import cluster
from intents.text import normalise
from models import QuestionResolution, UnmatchedQuestion

MAX_QUESTIONS = 5000
DECISIONS = ("phrases", "synonym", "new_intent", "dismiss")


async def open_questions(days: int) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Unresolved question texts of the last ``days`` with how often each was asked, and by what (action)."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await (
        UnmatchedQuestion.filter(created_at__gte=since)
        .order_by("-id")
        .limit(MAX_QUESTIONS)
        .values_list("text", "action")
    )
    resolved = set(await QuestionResolution.filter(text__in=list({t for t, _ in rows})).values_list("text", flat=True))
    counts: Counter[str] = Counter()
    kinds: dict[str, Counter[str]] = {}
    for text, action in rows:
        if text in resolved:
            continue
        counts[text] += 1
        kinds.setdefault(text, Counter())[action] += 1
    return counts, kinds


async def clusters(days: int = 30, threshold: float | None = None) -> list[dict[str, Any]]:
    counts, kinds = await open_questions(days)
    groups = await asyncio.to_thread(cluster, counts, *(() if threshold is None else (threshold,)))
    out = []
    for group in groups:
        view = group.to_dict()
        by_kind: Counter[str] = Counter()
        for text, _ in group.members:
            by_kind.update(kinds.get(text, Counter()))
        view["kinds"] = dict(by_kind)
        out.append(view)
    return out


async def resolve(cluster_id: str, body: dict[str, Any], username: str, staff_id: int, days: int = 30) -> dict:
    """Apply a decision to a cluster; answers what was done (and the draft's before/after for the audit)."""
    found = next((c for c in await clusters(days) if c["id"] == cluster_id), None)
    if found is None:
        raise NotFound("No such cluster any more: reload the list", code="cluster_not_found")
    decision = body.get("decision")
    if decision not in DECISIONS:
        raise ValidationFailed(f"decision must be one of {', '.join(DECISIONS)}", details={"field": "decision"})
    members = [t["text"] for t in found["texts"]]
    chosen = body.get("texts", members)
    if not isinstance(chosen, list) or not all(isinstance(t, str) and t in members for t in chosen) or not chosen:
        raise ValidationFailed("texts must be some of the cluster's texts", details={"field": "texts"})
    result: dict[str, Any] = {"cluster": cluster_id, "decision": decision, "texts": chosen}
    before = after = None
    if decision != "dismiss":
        items = await governance.catalog_by_code()
        if decision == "phrases":
            intent_id = body.get("intent_id")
            if not isinstance(intent_id, str):
                raise ValidationFailed("intent_id is required", details={"field": "intent_id"})
            before, after, version = await governance.edit_draft(
                lambda d: intent_data.add_phrases(d, intent_id, chosen, items), username
            )
            result["intent_id"] = intent_id
        elif decision == "synonym":
            word = body.get("word")
            values = body.get("values")
            before, after, version = await governance.edit_draft(
                lambda d: intent_data.set_synonym(d, word, values), username
            )
            result["word"] = word
        else:
            made: dict[str, str] = {}

            def create(d: dict[str, Any]) -> dict[str, Any]:
                new, made["id"] = intent_data.create_intent(d, {**body, "phrases": chosen}, items)
                return new

            before, after, version = await governance.edit_draft(create, username)
            result["intent_id"] = made["id"]
        result["draft_version"] = version
    detail = json.dumps({k: v for k, v in result.items() if k in ("intent_id", "word")}, ensure_ascii=False)[:200]
    # Every text of the cluster leaves the list (texts not chosen were judged along with the others).
    for text in members:
        existing = await QuestionResolution.get_or_none(text=text)
        if existing is None:
            await QuestionResolution.create(text=text, decision=decision, detail=detail, staff_id=staff_id)
    result["draft_change"] = intent_data.diff(before, after) if before is not None and after is not None else None
    return result


async def record_unhelpful(redis: Redis, session_id: Any, channel: str = "http") -> bool:
    """The citizen said the last answer did not help: its question joins the learning material."""
    if not isinstance(session_id, str) or len(session_id) != 32:
        raise ValidationFailed("session_id is required", details={"field": "session_id"})
    state = await sessions.load_state(redis, session_id)
    if state is None:
        raise NotFound("No such chat session (they last 30 minutes)", code="session_not_found")
    questions = [t["text"] for t in state.get("transcript") or () if t.get("from") == "citizen"]
    if not questions:
        return False
    text = normalise(questions[-1])[:500]
    if text:
        await UnmatchedQuestion.create(text=text, action="unhelpful", channel=channel[:16])
    return bool(text)
