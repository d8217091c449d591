"""Staff accounts: created with a typed or generated password and a TOTP secret to enrol; roles; disabling."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from tortoise.exceptions import IntegrityError

from app.console import totp
from app.errors import Conflict, ValidationFailed
from app.roles import ROLES
from app.staff import hash_password
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


async def create_account(username: Any, role: Any, password: Any, pii: Any, department: Any = None) -> NewAccount:
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


async def new_totp(staff: Staff, pii: Any) -> tuple[str, str]:
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
