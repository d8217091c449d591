"""The wiring: one Services built once, collaborators shared and passed in constructors; the application
service wakes the notifier after its commit; the import rules of docs/architecture.md hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from app.catalog import load_items
from app.services import build_services
from models import Level, OutboxMessage, User
from tests.conftest import make_settings
from tests.helpers import ROOT
from tests.test_applications import SERVICE, seed, uploads


async def test_one_build_shares_every_collaborator(redis: Any) -> None:
    """The hand-off desk is the chat's hooks, the official account's gateway is built once, and the chat
    engine is not built until a process chats (the notification worker never does)."""
    services = build_services(make_settings(mp_appid="wxdevmp0000000000", mp_secret="s" * 32), redis)
    assert services.chat.hooks is services.handoffs
    assert services.chat.releases is not None
    assert services.mp_gateway is not None
    assert services.notifier.official_account is services.mp_gateway
    assert services.official_account.gateway is services.mp_gateway
    assert "mp" in services.handoffs.deliverers
    assert services.applications.outbox is services.notifier
    assert services.auth.tokens is services.tokens and services.auth.pii is services.pii
    assert services.chat.assistant is None


async def test_the_application_service_wakes_the_notifier_after_it_commits(db: None, redis: Any) -> None:
    """Creating an application commits its outbox row, then wakes the dispatcher (no handler has to)."""
    await load_items([dict(i) for i in seed() if i["code"] == SERVICE], "seed")
    services = build_services(make_settings(), redis)
    woken = services.notifier._wake
    user = await User.create(openid="o-wiring", level=Level.L2, id_number_mask="4403**********1232")
    assert not woken.is_set()
    app = await services.applications.create(user, SERVICE, {}, await uploads(SERVICE))
    assert woken.is_set()
    assert await OutboxMessage.filter(application_id=app.id).exists()


def test_the_import_rules_hold() -> None:
    """lint-imports: layers, pure intents, app.core below the features, no cycles, no tests/bench in shipped code."""
    lint_imports = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout
