"""JSON Web Tokens with pyjwt, following RFC 8725.

- One algorithm (HS256), pinned on decode.
- ``iss``, ``aud``, ``exp``, ``iat``, ``sub``, ``jti`` and ``typ`` are required and checked.
- ``typ`` keeps access, refresh and staff tokens apart: each is accepted only where it belongs.
- The header's ``kid`` names the signing key; older keys stay accepted while rotating,
  and an unknown ``kid`` is refused (it is never used to fetch anything).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "shengshi"
CITIZEN_AUDIENCE = "shengshi-miniprogram"
STAFF_AUDIENCE = "shengshi-console"
ACCESS_TTL_S = 15 * 60
REFRESH_TTL_S = 30 * 24 * 3600
STAFF_TTL_S = 30 * 60
TOKEN_TYPES = {"access": CITIZEN_AUDIENCE, "refresh": CITIZEN_AUDIENCE, "staff": STAFF_AUDIENCE}
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub", "jti", "typ"]


class InvalidToken(Exception):
    """The token cannot be accepted here; ``reason`` is safe to show."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Issued:
    token: str
    jti: str
    expires_at: float


class TokenService:
    """Issues and checks tokens with the current key; accepts previous keys by ``kid``."""

    def __init__(self, secret: str, key_id: str = "k1", previous: dict[str, str] | None = None):
        self.key_id = key_id
        self._keys = dict(previous or {})
        self._keys[key_id] = secret

    def issue(self, typ: str, subject: str, ttl_s: int, **claims: Any) -> Issued:
        if typ not in TOKEN_TYPES:
            raise ValueError(f"unknown token type {typ}")
        now = int(time.time())
        jti = uuid.uuid4().hex
        payload = {
            "iss": ISSUER,
            "aud": TOKEN_TYPES[typ],
            "sub": subject,
            "iat": now,
            "exp": now + ttl_s,
            "jti": jti,
            "typ": typ,
            **claims,
        }
        token = jwt.encode(payload, self._keys[self.key_id], algorithm=ALGORITHM, headers={"kid": self.key_id})
        return Issued(token, jti, payload["exp"])

    def decode(self, token: str, typ: str) -> dict[str, Any]:
        """The claims of ``token`` if it is valid and of type ``typ``; else :class:`InvalidToken`."""
        if typ not in TOKEN_TYPES:
            raise ValueError(f"unknown token type {typ}")
        if not isinstance(token, str) or not token or len(token) > 4096:
            raise InvalidToken("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=TOKEN_TYPES[typ],
                issuer=ISSUER,
                options={"require": REQUIRED_CLAIMS, "verify_signature": True},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except jwt.PyJWTError:
            raise InvalidToken("invalid token") from None
        if claims.get("typ") != typ:
            raise InvalidToken(f"not an {typ} token" if typ[0] in "aeiou" else f"not a {typ} token")
        return claims
