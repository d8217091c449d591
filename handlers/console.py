"""The operations console's API under /api/v1/admin: accounts, audit, intents, releases, clusters, hand-offs.

Who may do what (a forbidden role gets 403, a citizen token 401):

- ``viewer``: read intents, releases, diffs and clusters.
- ``editor``: also edit the draft, test, replay, act on clusters.
- ``publisher``: read, test, replay, publish and roll back.
- ``agent``: the hand-off desk.
- ``admin``: everything, and staff accounts and the audit log.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.console import accounts, audit, governance, intent_data, learning
from app.console.handoff import OPEN_STATUSES, handoff_view
from app.errors import NotFound, ValidationFailed
from app.request_input import BIGINT_MAX, INT_MAX, int_arg, parse_int
from app.staff import require_staff, staff_logout
from handlers.chat import chat_text
from handlers.common import json_object
from models import AuditEntry, Handoff, IntentRelease, Staff

bp = Blueprint("console", url_prefix="/admin")
chat_bp = Blueprint("chat_handoff", url_prefix="/chat")

READERS = ("viewer", "editor", "publisher", "admin")
EDITORS = ("editor", "admin")
TESTERS = ("editor", "publisher", "admin")
PUBLISHERS = ("publisher", "admin")
AGENTS = ("agent", "admin")
ADMINS = ("admin",)


def _username(request: Request) -> str:
    return str(request.ctx.staff.username)


# -- session ------------------------------------------------------------------------


@bp.get("/me")
@require_staff()
async def me(request: Request) -> HTTPResponse:
    """The logged-in staff member."""
    return json(accounts.staff_view(request.ctx.staff))


@bp.post("/logout")
@require_staff()
async def logout(request: Request) -> HTTPResponse:
    """End this staff session now."""
    await staff_logout(request.app.ctx.redis, str(request.ctx.staff_claims["jti"]))
    await audit.record(request, "staff.logout", request.ctx.staff.username)
    return json({"logged_out": True})


# -- accounts and audit (admin) -------------------------------------------------------------


@bp.get("/staff")
@require_staff(*ADMINS)
async def staff_list(request: Request) -> HTTPResponse:
    """Every staff account."""
    return json({"items": [accounts.staff_view(s) for s in await Staff.all().order_by("id")]})


@bp.post("/staff")
@openapi.body({"application/json": {"username": str, "role": str, "password": str, "department": str}})
@require_staff(*ADMINS)
async def staff_create(request: Request) -> HTTPResponse:
    """Create an account; the generated password (when none is given) and the TOTP secret are shown once."""
    body = json_object(request)
    made = await accounts.create_account(
        body.get("username"), body.get("role"), body.get("password"), request.app.ctx.pii, body.get("department")
    )
    view = accounts.staff_view(made.staff)
    await audit.record(request, "staff.create", made.staff.username, after=view)
    return json(
        {**view, "password": made.password if made.generated else None, "totp_secret": made.totp_secret,
         "totp_uri": made.totp_uri},
        status=201,
    )  # fmt: skip


async def _staff(staff_id: int) -> Staff:
    staff = await Staff.get_or_none(id=staff_id)
    if staff is None:
        raise NotFound("No such staff account")
    return staff


@bp.patch("/staff/<staff_id:int>")
@openapi.body({"application/json": {"role": str, "is_active": bool}})
@require_staff(*ADMINS)
async def staff_update(request: Request, staff_id: int) -> HTTPResponse:
    """Change an account's role or disable it."""
    body = json_object(request)
    staff = await _staff(staff_id)
    before = accounts.staff_view(staff)
    if "role" in body:
        staff.role = accounts.check_role(body["role"])
    if "is_active" in body:
        if not isinstance(body["is_active"], bool):
            raise ValidationFailed("is_active must be true or false", details={"field": "is_active"})
        if staff.id == request.ctx.staff.id and not body["is_active"]:
            raise ValidationFailed("You cannot disable your own account", details={"field": "is_active"})
        staff.is_active = body["is_active"]
    await staff.save(update_fields=["role", "is_active"])
    after = accounts.staff_view(staff)
    await audit.record(request, "staff.update", staff.username, before=before, after=after)
    return json(after)


@bp.post("/staff/<staff_id:int>/password")
@openapi.body({"application/json": {"password": str}})
@require_staff(*ADMINS)
async def staff_password(request: Request, staff_id: int) -> HTTPResponse:
    """Set a new password (typed, or generated and shown once)."""
    from app.staff import hash_password

    body = json_object(request) if request.body else {}
    staff = await _staff(staff_id)
    typed = body.get("password")
    password = accounts.check_password(typed) if typed else accounts.generate_password()
    staff.password_hash = hash_password(password)
    await staff.save(update_fields=["password_hash"])
    await audit.record(request, "staff.password", staff.username, after={"generated": not typed})
    return json({"id": staff.id, "password": None if typed else password})


@bp.post("/staff/<staff_id:int>/totp")
@require_staff(*ADMINS)
async def staff_totp(request: Request, staff_id: int) -> HTTPResponse:
    """A new TOTP secret for an account (shown once, to enrol again)."""
    staff = await _staff(staff_id)
    secret, uri = await accounts.new_totp(staff, request.app.ctx.pii)
    await audit.record(request, "staff.totp_reset", staff.username)
    return json({"id": staff.id, "totp_secret": secret, "totp_uri": uri})


@bp.get("/audit")
@openapi.parameter("action", str)
@openapi.parameter("staff", str)
@openapi.parameter("before_id", int)
@openapi.parameter("limit", int)
@require_staff(*ADMINS)
async def audit_log(request: Request) -> HTTPResponse:
    """The audit log, newest first (filter by action prefix or staff username; page with before_id)."""
    query = AuditEntry.all()
    action = (request.args.get("action") or "").strip()
    if action:
        query = query.filter(action__startswith=action[:64])
    who = (request.args.get("staff") or "").strip()
    if who:
        query = query.filter(staff_username=who[:64])
    before_id = int_arg(request, "before_id", 0, 0, BIGINT_MAX)
    if before_id:
        query = query.filter(id__lt=before_id)
    rows = await query.order_by("-id").limit(int_arg(request, "limit", 100, 1, 500))
    return json({"items": [audit.entry_view(e) for e in rows]})


# -- intents: reading and editing the draft ------------------------------------------------


@bp.get("/intents")
@openapi.parameter("q", str)
@require_staff(*READERS)
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
@require_staff(*READERS)
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
    await audit.record(request, action, target, before=_slice(before, changes), after=_slice(after, changes))
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
@require_staff(*EDITORS)
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
@require_staff(*EDITORS)
async def intent_update(request: Request, intent_id: str) -> HTTPResponse:
    """Replace some of an intent's fields in the draft."""
    body = json_object(request)
    items = await governance.catalog_by_code()
    return json(
        await _edit(request, "intent.update", intent_id, lambda d: intent_data.update_intent(d, intent_id, body, items))
    )


@bp.post("/intents/<intent_id:str>/phrases")
@openapi.body({"application/json": {"text": str}})
@require_staff(*EDITORS)
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
@require_staff(*EDITORS)
async def intent_delete(request: Request, intent_id: str) -> HTTPResponse:
    """Remove a custom intent from the draft."""
    return json(await _edit(request, "intent.delete", intent_id, lambda d: intent_data.delete_intent(d, intent_id)))


@bp.get("/synonyms")
@require_staff(*READERS)
async def synonyms(request: Request) -> HTTPResponse:
    """The draft's synonyms and the tokenizer's user dictionary."""
    state, data = await governance.draft()
    return json({"draft_version": state.draft_version, "synonyms": data["synonyms"],
                 "dictionary": data["dictionary"]})  # fmt: skip


@bp.put("/synonyms/<word:str>")
@openapi.body({"application/json": {"values": list}})
@require_staff(*EDITORS)
async def synonym_set(request: Request, word: str) -> HTTPResponse:
    """Set what a word people use means in official words."""
    values = json_object(request).get("values")
    word = unquote(word)
    return json(await _edit(request, "synonym.set", word, lambda d: intent_data.set_synonym(d, word, values)))


@bp.delete("/synonyms/<word:str>")
@require_staff(*EDITORS)
async def synonym_delete(request: Request, word: str) -> HTTPResponse:
    """Remove a synonym from the draft."""
    word = unquote(word)
    return json(await _edit(request, "synonym.delete", word, lambda d: intent_data.delete_synonym(d, word)))


@bp.put("/dictionary")
@openapi.body({"application/json": {"words": list}})
@require_staff(*EDITORS)
async def dictionary_set(request: Request) -> HTTPResponse:
    """Replace the words the tokenizer keeps whole."""
    words = json_object(request).get("words")
    return json(await _edit(request, "dictionary.set", "dictionary", lambda d: intent_data.set_dictionary(d, words)))


@bp.get("/families")
@require_staff(*READERS)
async def families(request: Request) -> HTTPResponse:
    """The draft's intent families: a question and its options."""
    state, data = await governance.draft()
    return json({"draft_version": state.draft_version, "families": data["families"]})


@bp.put("/families/<family_id:str>")
@openapi.body({"application/json": {"name": str, "question": str, "options": list}})
@require_staff(*EDITORS)
async def family_set(request: Request, family_id: str) -> HTTPResponse:
    """Create or replace a family in the draft."""
    body = json_object(request)
    items = await governance.catalog_by_code()
    return json(
        await _edit(request, "family.set", family_id, lambda d: intent_data.set_family(d, family_id, body, items))
    )


@bp.delete("/families/<family_id:str>")
@require_staff(*EDITORS)
async def family_delete(request: Request, family_id: str) -> HTTPResponse:
    """Remove a family from the draft."""
    return json(await _edit(request, "family.delete", family_id, lambda d: intent_data.delete_family(d, family_id)))


# -- draft lifecycle ------------------------------------------------------------------------


@bp.get("/draft")
@require_staff(*READERS)
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
@require_staff(*EDITORS)
async def draft_discard(request: Request) -> HTTPResponse:
    """Throw the draft away (it becomes the live release again)."""
    state, _ = await governance.draft()
    version = await governance.discard_draft(_username(request))
    await audit.record(request, "draft.discard", f"draft:{state.draft_version}",
                       before={"edited": state.draft is not None}, after={"draft_version": version})  # fmt: skip
    return json({"draft_version": version})


@bp.post("/intents/test")
@openapi.body({"application/json": {"text": str}})
@require_staff(*TESTERS)
async def intents_test(request: Request) -> HTTPResponse:
    """Run the draft engine on a text: the reply, ranked candidates with scores, and the matched tokens."""
    body = json_object(request)
    text = chat_text(body)
    engine, version = await request.app.ctx.draft_engines.get()
    return json(
        {
            "text": text,
            "draft_version": version,
            "draft": governance.explain(engine, text),
            "live": governance.explain(request.app.ctx.chat.assistant, text),
        }
    )


@bp.post("/intents/replay")
@openapi.body({"application/json": {"limit": int}})
@require_staff(*TESTERS)
async def intents_replay(request: Request) -> HTTPResponse:
    """Replay the draft on the last logged questions and the development set: changed answers, accuracy."""
    body = json_object(request) if request.body else {}
    limit = body.get("limit", request.app.ctx.settings.replay_questions)
    if not isinstance(limit, int) or not 0 <= limit <= 5000:
        raise ValidationFailed("limit must be between 0 and 5000", details={"field": "limit"})
    ctx = request.app.ctx
    return json(await governance.replay(ctx.redis, ctx.chat.assistant, ctx.draft_engines, limit))


@bp.post("/intents/publish")
@openapi.body({"application/json": {"note": str}})
@require_staff(*PUBLISHERS)
async def intents_publish(request: Request) -> HTTPResponse:
    """Publish the replayed draft as a new immutable release; every worker reloads."""
    body = json_object(request) if request.body else {}
    note = body.get("note", "")
    if not isinstance(note, str):
        raise ValidationFailed("note must be text", details={"field": "note"})
    state, _ = await governance.draft()
    release = await governance.publish(request.app.ctx.redis, _username(request), note)
    await audit.record(request, "release.publish", f"release:{release.number}",
                       before={"live": state.live_number}, after={"live": release.number, "note": note[:500],
                       "checksum": release.checksum, "replay": release.replay})  # fmt: skip
    return json(governance.release_view(release, release.number), status=201)


@bp.get("/releases")
@require_staff(*READERS)
async def releases(request: Request) -> HTTPResponse:
    """Every release, newest first, and which one is live."""
    state = await governance.ensure_initialised()
    rows = await IntentRelease.all().order_by("-number").limit(200)
    return json({"live": state.live_number, "items": [governance.release_view(r, state.live_number) for r in rows]})


@bp.get("/releases/diff")
@openapi.parameter("from", int)
@openapi.parameter("to", str)
@require_staff(*READERS)
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
@require_staff(*READERS)
async def release_detail(request: Request, number: int) -> HTTPResponse:
    """One release with its data."""
    state = await governance.ensure_initialised()
    release = await governance.get_release(number)
    return json({**governance.release_view(release, state.live_number), "data": release.data})


@bp.post("/releases/<number:int>/rollback")
@require_staff(*PUBLISHERS)
async def release_rollback(request: Request, number: int) -> HTTPResponse:
    """Make an earlier release live again; every worker reloads."""
    previous, current = await governance.rollback(request.app.ctx.redis, number, _username(request))
    await audit.record(request, "release.rollback", f"release:{number}", before={"live": previous},
                       after={"live": current})  # fmt: skip
    return json({"live": current, "previous": previous})


# -- learning from failures ---------------------------------------------------------------


@bp.get("/clusters")
@openapi.parameter("days", int)
@require_staff(*READERS)
async def clusters(request: Request) -> HTTPResponse:
    """Unmatched, fallback and unhelpful-rated questions, grouped into clusters of similar ones with counts."""
    days = int_arg(request, "days", 30, 1, 365)
    return json({"days": days, "items": (await learning.clusters(days))[:200]})


@bp.post("/clusters/<cluster_id:str>/resolve")
@openapi.body({"application/json": {"decision": str, "intent_id": str, "word": str, "values": list, "name": str,
                                    "items": list, "texts": list}})  # fmt: skip
@require_staff(*EDITORS)
async def cluster_resolve(request: Request, cluster_id: str) -> HTTPResponse:
    """Turn a cluster into training phrases, a synonym or a new intent (in the draft), or dismiss it."""
    body = json_object(request)
    days = int_arg(request, "days", 30, 1, 365)
    result = await learning.resolve(cluster_id[:40], body, _username(request), request.ctx.staff.id, days)
    change = result.get("draft_change")
    after = {k: v for k, v in result.items() if k != "draft_change"}
    after["draft"] = change and {"intents": change["intents"], "synonyms": change["synonyms"]}
    await audit.record(
        request,
        f"cluster.{result['decision']}",
        f"cluster:{cluster_id[:40]}",
        before={"texts": result["texts"]},
        after=after,
    )
    return json(result)


# -- the hand-off desk ----------------------------------------------------------------------


@bp.get("/handoffs")
@openapi.parameter("status", str)
@require_staff(*AGENTS)
async def handoffs(request: Request) -> HTTPResponse:
    """Handed-off chats: queued and active by default, oldest first."""
    status = request.args.get("status") or "open"
    allowed = ("open", "queued", "active", "returned", "closed")
    if status not in allowed:
        raise ValidationFailed(f"status must be one of {', '.join(allowed)}", details={"field": "status"})
    statuses = list(OPEN_STATUSES) if status == "open" else [status]
    order = "id" if status == "open" or status == "queued" else "-id"
    rows = await Handoff.filter(status__in=statuses).order_by(order).limit(200)
    return json({"items": [handoff_view(h) for h in rows]})


@bp.get("/handoffs/<handoff_id:int>")
@openapi.parameter("after", int)
@require_staff(*AGENTS)
async def handoff_detail(request: Request, handoff_id: int) -> HTTPResponse:
    """One hand-off with its case context and transcript (messages after ``after``)."""
    desk = request.app.ctx.handoffs
    handoff = await desk.get(handoff_id)
    after = int_arg(request, "after", 0, 0, BIGINT_MAX)
    return json({**handoff_view(handoff), "messages": await desk.messages(handoff, after)})


@bp.post("/handoffs/<handoff_id:int>/claim")
@require_staff(*AGENTS)
async def handoff_claim(request: Request, handoff_id: int) -> HTTPResponse:
    """Take a queued chat (409 if another agent took it)."""
    handoff = await request.app.ctx.handoffs.claim(handoff_id, request.ctx.staff)
    await audit.record(request, "handoff.claim", f"handoff:{handoff_id}", before={"status": "queued"},
                       after={"status": handoff.status, "agent": handoff.agent_username})  # fmt: skip
    return json(handoff_view(handoff))


@bp.post("/handoffs/<handoff_id:int>/messages")
@openapi.body({"application/json": {"text": str}})
@require_staff(*AGENTS)
async def handoff_reply(request: Request, handoff_id: int) -> HTTPResponse:
    """Reply to the citizen in their chat."""
    message = await request.app.ctx.handoffs.reply(handoff_id, request.ctx.staff, json_object(request).get("text"))
    # The audit keeps that a reply was sent, not its text (the transcript has it, encrypted).
    await audit.record(request, "handoff.reply", f"handoff:{handoff_id}", after={"message_id": message.id})
    return json({"id": message.id}, status=201)


@bp.post("/handoffs/<handoff_id:int>/release")
@openapi.body({"application/json": {"close": bool}})
@require_staff(*AGENTS)
async def handoff_release(request: Request, handoff_id: int) -> HTTPResponse:
    """Hand the chat back to the assistant, or close it (``close: true``)."""
    body = json_object(request) if request.body else {}
    close = body.get("close", False)
    if not isinstance(close, bool):
        raise ValidationFailed("close must be true or false", details={"field": "close"})
    desk = request.app.ctx.handoffs
    before = (await desk.get(handoff_id)).status
    handoff = await desk.end(handoff_id, request.ctx.staff, close)
    await audit.record(request, "handoff.close" if close else "handoff.return", f"handoff:{handoff_id}",
                       before={"status": before}, after={"status": handoff.status})  # fmt: skip
    return json(handoff_view(handoff))


# -- the citizen side: rating an answer, reading an agent's replies -----------------------------


@chat_bp.post("/feedback")
@openapi.body({"application/json": {"session_id": str, "helpful": bool}})
async def chat_feedback(request: Request) -> HTTPResponse:
    """Rate the last answer of a chat; an unhelpful one goes to the console's learning list."""
    body = json_object(request)
    helpful = body.get("helpful")
    if not isinstance(helpful, bool):
        raise ValidationFailed("helpful must be true or false", details={"field": "helpful"})
    recorded = False
    if not helpful:
        recorded = await learning.record_unhelpful(request.app.ctx.redis, body.get("session_id"))
    return json({"recorded": recorded})


@chat_bp.get("/handoff/<session_id:str>")
@openapi.parameter("after", int)
async def chat_handoff(request: Request, session_id: str) -> HTTPResponse:
    """A handed-off chat's agent and system messages (the session id, a random secret, is the key)."""
    if len(session_id) != 32:
        raise NotFound("No hand-off for this chat")
    handoff = await Handoff.filter(session_id=session_id).order_by("-id").first()
    if handoff is None:
        raise NotFound("No hand-off for this chat")
    after = int_arg(request, "after", 0, 0, BIGINT_MAX)
    messages = [m for m in await request.app.ctx.handoffs.messages(handoff, after) if m["from"] in ("agent", "system")]
    return json({"id": handoff.id, "status": handoff.status, "messages": messages})
