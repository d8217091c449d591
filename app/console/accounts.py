"""Staff accounts: created with a typed or generated password and a TOTP secret to enrol; roles; disabling."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from app.console import totp
from app.console.roles import ROLES
from app.console.staff import hash_password
from app.core.errors import Conflict, NotFound, ValidationFailed
from app.core.security.pii import PiiCipher
from models import Staff

MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{3,64}$")
TOTP_FIELD = "staff.totp_secret"


@dataclass
class NewAccount:
    staff: Staff
    password: str
    generated: bool
    totp_secret: str
    totp_uri: str


def check_role(role: Any) -> str:
    if role not in ROLES:
        raise ValidationFailed(f"role must be one of {', '.join(ROLES)}", details={"field": "role"})
    return str(role)


def check_password(password: Any) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= 256:
        raise ValidationFailed(f"a password has {MIN_PASSWORD} to 256 characters", details={"field": "password"})
    return password


def generate_password() -> str:
    return secrets.token_urlsafe(18)


async def create_account(username: Any, role: Any, password: Any, pii: PiiCipher, department: Any = None) -> NewAccount:
    """A new account: the password typed (12+ characters) or generated, and a fresh TOTP secret (encrypted)."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise ValidationFailed(
            "username: 3 to 64 letters, digits, dots, dashes, underscores", details={"field": "username"}
        )
    role = check_role(role)
    generated = password in (None, "")
    password = generate_password() if generated else check_password(password)
    secret = totp.new_secret()
    try:
        staff = await Staff.create(
            username=username,
            password_hash=hash_password(password),
            role=role,
            department=str(department)[:128] if isinstance(department, str) and department else None,
            totp_secret=pii.encrypt(secret, TOTP_FIELD),
        )
    except IntegrityError:
        raise Conflict(f"A staff account named {username!r} already exists", code="duplicate") from None
    return NewAccount(staff, password, generated, secret, totp.provisioning_uri(secret, username))


async def get_account(staff_id: int) -> Staff:
    """One staff account, or 404."""
    staff = await Staff.get_or_none(id=staff_id)
    if staff is None:
        raise NotFound("No such staff account")
    return staff


async def update_account(staff_id: int, changes: dict[str, Any], acting: Staff) -> tuple[dict, dict]:
    """Change an account's ``role`` or ``is_active`` (nobody disables their own); answers its view before and after."""
    staff = await get_account(staff_id)
    before = staff_view(staff)
    if "role" in changes:
        staff.role = check_role(changes["role"])
    if "is_active" in changes:
        if not isinstance(changes["is_active"], bool):
            raise ValidationFailed("is_active must be true or false", details={"field": "is_active"})
        if staff.id == acting.id and not changes["is_active"]:
            raise ValidationFailed("You cannot disable your own account", details={"field": "is_active"})
        staff.is_active = changes["is_active"]
    await staff.save(update_fields=["role", "is_active"])
    return before, staff_view(staff)


async def set_password(staff_id: int, typed: Any) -> tuple[Staff, str | None]:
    """A new password: the one typed (checked), or a generated one, which is answered (shown once)."""
    staff = await get_account(staff_id)
    password = check_password(typed) if typed else generate_password()
    staff.password_hash = hash_password(password)
    await staff.save(update_fields=["password_hash"])
    return staff, None if typed else password


async def new_totp(staff: Staff, pii: PiiCipher) -> tuple[str, str]:
    """Replace the account's TOTP secret (a lost phone); answers the secret and its otpauth address."""
    secret = totp.new_secret()
    staff.totp_secret = pii.encrypt(secret, TOTP_FIELD)
    await staff.save(update_fields=["totp_secret"])
    return secret, totp.provisioning_uri(secret, staff.username)


def staff_view(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.id,
        "username": staff.username,
        "role": staff.role,
        "department": staff.department,
        "is_active": staff.is_active,
        "totp_enrolled": bool(staff.totp_secret),
        "created_at": staff.created_at.isoformat(),
    }
