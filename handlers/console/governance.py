"""The console's intents under /api/v1/admin: the draft (intents, synonyms, dictionary, families), test, replay,
publish, releases and rollback."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.assistant import intent_data
from app.console import audit, governance
from app.console.staff import require_staff
from app.core.errors import ValidationFailed
from app.core.request_input import INT_MAX, int_arg, parse_int
from app.services import services
from handlers.assistant import chat_text
from handlers.common import audit_context, json_object
from models import IntentRelease

bp = Blueprint("console", url_prefix="/admin")


def _username(request: Request) -> str:
    return str(request.ctx.staff.username)


# -- intents: reading and editing the draft ------------------------------------------------


@bp.get("/intents")
@openapi.parameter("q", str)
@require_staff("intents.read")
async def intents_list(request: Request) -> HTTPResponse:
    """Every intent of the draft (catalog items and custom intents), filtered by q."""
    state, data = await governance.draft()
    items = await governance.catalog_by_code()
    query = (request.args.get("q") or "")[:50]
    return json(
        {
            "draft_version": state.draft_version,
            "live": state.live_number,
            "items": intent_data.intent_list(data, items, query)[:300],
        }
    )


@bp.get("/intents/<intent_id:str>")
@require_staff("intents.read")
async def intent_detail(request: Request, intent_id: str) -> HTTPResponse:
    """One intent of the draft: phrases, keywords, items, answer template, and the family it belongs to."""
    state, data = await governance.draft()
    view = intent_data.intent_view(data, intent_id, await governance.catalog_by_code())
    view["families"] = [f for f in data["families"] if any(o["code"] in view["items"] for o in f["options"])]
    view["draft_version"] = state.draft_version
    return json(view)


async def _edit(request: Request, action: str, target: str, change: Any) -> dict[str, Any]:
    before, after, version = await governance.edit_draft(change, _username(request))
    changes = intent_data.diff(before, after)
    await audit.record(
        audit_context(request), action, target, before=_slice(before, changes), after=_slice(after, changes)
    )
    return {"draft_version": version, "change": changes}


def _slice(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The parts of a document an edit touched: the audit keeps those, not the whole document."""
    return {
        "intents": {c["id"]: data["intents"].get(c["id"]) for c in changes["intents"]},
        "synonyms": {s["word"]: data["synonyms"].get(s["word"]) for s in changes["synonyms"]},
        "families": [f for f in data["families"] if f["id"] in {c["id"] for c in changes["families"]}],
        "dictionary_changed": bool(changes["dictionary"]["added"] or changes["dictionary"]["removed"]),
    }


@bp.post("/intents")
@openapi.body({"application/json": {"id": str, "name": str, "items": list, "phrases": list, "keywords": list}})
@require_staff("intents.edit")
async def intent_create(request: Request) -> HTTPResponse:
    """A new intent leading to one or more items (in the draft)."""
    body = json_object(request)
    items = await governance.catalog_by_code()
    made: dict[str, str] = {}

    def create(d: dict[str, Any]) -> dict[str, Any]:
        new, made["id"] = intent_data.create_intent(d, body, items)
        return new

    result = await _edit(request, "intent.create", str(body.get("name", ""))[:128], create)
    return json({"id": made["id"], **result}, status=201)


@bp.put("/intents/<intent_id:str>")
@openapi.body({"application/json": {"name": str, "items": list, "phrases": list, "keywords": list,
                                    "answer_template": str}})  # fmt: skip
@require_staff("intents.edit")
async def intent_update(request: Request, intent_id: str) -> HTTPResponse:
    """Replace some of an intent's fields in the draft."""
    body = json_object(request)
    items = await governance.catalog_by_code()
    return json(
        await _edit(request, "intent.update", intent_id, lambda d: intent_data.update_intent(d, intent_id, body, items))
    )


@bp.post("/intents/<intent_id:str>/phrases")
@openapi.body({"application/json": {"text": str}})
@require_staff("intents.edit")
async def intent_add_phrase(request: Request, intent_id: str) -> HTTPResponse:
    """Add one training phrase to an intent in the draft."""
    text = json_object(request).get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("text is required", details={"field": "text"})
    items = await governance.catalog_by_code()
    return json(
        await _edit(
            request, "intent.add_phrase", intent_id, lambda d: intent_data.add_phrases(d, intent_id, [text], items)
        )
    )


@bp.delete("/intents/<intent_id:str>")
@require_staff("intents.edit")
async def intent_delete(request: Request, intent_id: str) -> HTTPResponse:
    """Remove a custom intent from the draft."""
    return json(await _edit(request, "intent.delete", intent_id, lambda d: intent_data.delete_intent(d, intent_id)))


@bp.get("/synonyms")
@require_staff("intents.read")
async def synonyms(request: Request) -> HTTPResponse:
    """The draft's synonyms and the tokenizer's user dictionary."""
    state, data = await governance.draft()
    return json({"draft_version": state.draft_version, "synonyms": data["synonyms"],
                 "dictionary": data["dictionary"]})  # fmt: skip


@bp.put("/synonyms/<word:str>")
@openapi.body({"application/json": {"values": list}})
@require_staff("intents.edit")
async def synonym_set(request: Request, word: str) -> HTTPResponse:
    """Set what a word people use means in official words."""
    values = json_object(request).get("values")
    word = unquote(word)
    return json(await _edit(request, "synonym.set", word, lambda d: intent_data.set_synonym(d, word, values)))


@bp.delete("/synonyms/<word:str>")
@require_staff("intents.edit")
async def synonym_delete(request: Request, word: str) -> HTTPResponse:
    """Remove a synonym from the draft."""
    word = unquote(word)
    return json(await _edit(request, "synonym.delete", word, lambda d: intent_data.delete_synonym(d, word)))


@bp.put("/dictionary")
@openapi.body({"application/json": {"words": list}})
@require_staff("intents.edit")
async def dictionary_set(request: Request) -> HTTPResponse:
    """Replace the words the tokenizer keeps whole."""
    words = json_object(request).get("words")
    return json(await _edit(request, "dictionary.set", "dictionary", lambda d: intent_data.set_dictionary(d, words)))


@bp.get("/families")
@require_staff("intents.read")
async def families(request: Request) -> HTTPResponse:
    """The draft's intent families: a question and its options."""
    state, data = await governance.draft()
    return json({"draft_version": state.draft_version, "families": data["families"]})


@bp.put("/families/<family_id:str>")
@openapi.body({"application/json": {"name": str, "question": str, "options": list}})
@require_staff("intents.edit")
async def family_set(request: Request, family_id: str) -> HTTPResponse:
    """Create or replace a family in the draft."""
    body = json_object(request)
    items = await governance.catalog_by_code()
    return json(
        await _edit(request, "family.set", family_id, lambda d: intent_data.set_family(d, family_id, body, items))
    )


@bp.delete("/families/<family_id:str>")
@require_staff("intents.edit")
async def family_delete(request: Request, family_id: str) -> HTTPResponse:
    """Remove a family from the draft."""
    return json(await _edit(request, "family.delete", family_id, lambda d: intent_data.delete_family(d, family_id)))


# -- draft lifecycle ------------------------------------------------------------------------


@bp.get("/draft")
@require_staff("intents.read")
async def draft_status(request: Request) -> HTTPResponse:
    """The draft's version, the release it started from, and what differs from the live release."""
    state, data = await governance.draft()
    live = await governance.get_release(int(state.live_number or 1))
    replay = await governance.stored_replay(request.app.ctx.redis, state.draft_version)
    return json(
        {
            "draft_version": state.draft_version,
            "live": state.live_number,
            "base": state.draft_base,
            "edited": state.draft is not None,
            "updated_by": state.updated_by,
            "replayed": bool(replay and replay.get("live_number") == state.live_number),
            "diff": intent_data.diff(live.data, data),
        }
    )


@bp.delete("/draft")
@require_staff("intents.edit")
async def draft_discard(request: Request) -> HTTPResponse:
    """Throw the draft away (it becomes the live release again)."""
    state, _ = await governance.draft()
    version = await governance.discard_draft(_username(request))
    await audit.record(audit_context(request), "draft.discard", f"draft:{state.draft_version}",
                       before={"edited": state.draft is not None}, after={"draft_version": version})  # fmt: skip
    return json({"draft_version": version})


@bp.post("/intents/test")
@openapi.body({"application/json": {"text": str}})
@require_staff("intents.test")
async def intents_test(request: Request) -> HTTPResponse:
    """Run the draft engine on a text: the reply, ranked candidates with scores, and the matched tokens."""
    body = json_object(request)
    text = chat_text(body)
    engine, version = await services(request).draft_engines.get()
    return json(
        {
            "text": text,
            "draft_version": version,
            "draft": governance.explain(engine, text),
            "live": governance.explain(await services(request).chat.engine(), text),
        }
    )


@bp.post("/intents/replay")
@openapi.body({"application/json": {"limit": int}})
@require_staff("intents.test")
async def intents_replay(request: Request) -> HTTPResponse:
    """Replay the draft on the last logged questions and the development set: changed answers, accuracy."""
    body = json_object(request) if request.body else {}
    limit = body.get("limit", request.app.ctx.settings.replay_questions)
    if not isinstance(limit, int) or not 0 <= limit <= 5000:
        raise ValidationFailed("limit must be between 0 and 5000", details={"field": "limit"})
    wired = services(request)
    return json(await governance.replay(wired.redis, await wired.chat.engine(), wired.draft_engines, limit))


@bp.post("/intents/publish")
@openapi.body({"application/json": {"note": str}})
@require_staff("intents.publish")
async def intents_publish(request: Request) -> HTTPResponse:
    """Publish the replayed draft as a new immutable release; every worker reloads."""
    body = json_object(request) if request.body else {}
    note = body.get("note", "")
    if not isinstance(note, str):
        raise ValidationFailed("note must be text", details={"field": "note"})
    state, _ = await governance.draft()
    release = await governance.publish(request.app.ctx.redis, _username(request), note)
    await audit.record(audit_context(request), "release.publish", f"release:{release.number}",
                       before={"live": state.live_number}, after={"live": release.number, "note": note[:500],
                       "checksum": release.checksum, "replay": release.replay})  # fmt: skip
    return json(governance.release_view(release, release.number), status=201)


@bp.get("/releases")
@require_staff("intents.read")
async def releases(request: Request) -> HTTPResponse:
    """Every release, newest first, and which one is live."""
    state = await governance.ensure_initialised()
    rows = await IntentRelease.all().order_by("-number").limit(200)
    return json({"live": state.live_number, "items": [governance.release_view(r, state.live_number) for r in rows]})


@bp.get("/releases/diff")
@openapi.parameter("from", int)
@openapi.parameter("to", str)
@require_staff("intents.read")
async def releases_diff(request: Request) -> HTTPResponse:
    """What changed between two releases (``to`` may be ``draft``; both default to the live release)."""
    state, draft_data = await governance.draft()
    live = int(state.live_number or 1)
    start = int_arg(request, "from", live, 1, INT_MAX)
    to_raw = request.args.get("to") or str(live)
    if to_raw == "draft":
        target = draft_data
    elif (to_number := parse_int(to_raw, 1, INT_MAX)) is not None:
        target = (await governance.get_release(to_number)).data
    else:
        raise ValidationFailed("to must be a release number or draft", details={"field": "to"})
    return json({"from": start, "to": to_raw, **intent_data.diff((await governance.get_release(start)).data, target)})


@bp.get("/releases/<number:int>")
@require_staff("intents.read")
async def release_detail(request: Request, number: int) -> HTTPResponse:
    """One release with its data."""
    state = await governance.ensure_initialised()
    release = await governance.get_release(number)
    return json({**governance.release_view(release, state.live_number), "data": release.data})


@bp.post("/releases/<number:int>/rollback")
@require_staff("intents.publish")
async def release_rollback(request: Request, number: int) -> HTTPResponse:
    """Make an earlier release live again; every worker reloads."""
    previous, current = await governance.rollback(request.app.ctx.redis, number, _username(request))
    await audit.record(audit_context(request), "release.rollback", f"release:{number}", before={"live": previous},
                       after={"live": current})  # fmt: skip
    return json({"live": current, "previous": previous})
