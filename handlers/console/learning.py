"""The console's learning list under /api/v1/admin: failed questions in clusters, each turned into data or dismissed."""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, json
from sanic_ext import openapi

from app.console import audit, learning
from app.console.staff import require_staff
from app.core.request_input import int_arg
from handlers.common import audit_context, json_object

bp = Blueprint("console_learning", url_prefix="/admin")


# -- learning from failures ---------------------------------------------------------------


@bp.get("/clusters")
@openapi.parameter("days", int)
@require_staff("intents.read")
async def clusters(request: Request) -> HTTPResponse:
    """Unmatched, fallback and unhelpful-rated questions, grouped into clusters of similar ones with counts."""
    days = int_arg(request, "days", 30, 1, 365)
    return json({"days": days, "items": (await learning.clusters(days))[:200]})


@bp.post("/clusters/<cluster_id:str>/resolve")
@openapi.body({"application/json": {"decision": str, "intent_id": str, "word": str, "values": list, "name": str,
                                    "items": list, "texts": list}})  # fmt: skip
@require_staff("intents.edit")
async def cluster_resolve(request: Request, cluster_id: str) -> HTTPResponse:
    """Turn a cluster into training phrases, a synonym or a new intent (in the draft), or dismiss it."""
    body = json_object(request)
    days = int_arg(request, "days", 30, 1, 365)
    result = await learning.resolve(cluster_id[:40], body, request.ctx.staff.username, request.ctx.staff.id, days)
    change = result.get("draft_change")
    after = {k: v for k, v in result.items() if k != "draft_change"}
    after["draft"] = change and {"intents": change["intents"], "synonyms": change["synonyms"]}
    await audit.record(
        audit_context(request),
        f"cluster.{result['decision']}",
        f"cluster:{cluster_id[:40]}",
        before={"texts": result["texts"]},
        after=after,
    )
    return json(result)
