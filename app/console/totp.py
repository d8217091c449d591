"""Time-based one-time passwords (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) through pyotp.

pyotp's own ``verify`` answers only yes or no; callers need the time step a code belongs to, so
that a step used once is refused the second time, hence the window is walked here.
"""

from __future__ import annotations

import time

import pyotp

STEP_S = 30
DIGITS = 6
# Codes one step either side are accepted: phone clocks drift.
WINDOW = 1


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_S)


def new_secret() -> str:
    """A random 160-bit secret in base32, the form authenticator apps take."""
    return pyotp.random_base32()


def code_at(secret: str, step: int) -> str:
    """The code of time step ``step``."""
    return _totp(secret).generate_otp(step)


def current_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // STEP_S)


def verify(secret: str, code: object, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within the window), or None: callers refuse a step used before."""
    if not isinstance(code, str):
        return None
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not code.isdigit():
        return None
    step = current_step(now)
    for candidate in range(step - WINDOW, step + WINDOW + 1):
        if pyotp.utils.strings_equal(code_at(secret, candidate), code):
            return candidate
    return None


def provisioning_uri(secret: str, username: str, issuer: str = "省事 console") -> str:
    """The ``otpauth://`` address a QR code carries for enrolment."""
    return _totp(secret).provisioning_uri(name=username, issuer_name=issuer)
