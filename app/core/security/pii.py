"""Personal information at rest: AES-GCM with a versioned key, HMAC blind indexes, server-side masks.

A ciphertext reads ``v<version>.<base64(nonce || ciphertext)>``; the field's
name is bound as associated data, so a ciphertext moved to another column does
not decrypt. Blind indexes (HMAC-SHA256) allow uniqueness checks without
decrypting; they use a key derived from the current PII key, so rotating that
key means recomputing them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"shengshi-pii", info=purpose).derive(secret.encode())


class PiiCipher:
    """Encrypts, decrypts, indexes and masks personal information."""

    def __init__(self, key: str, version: int = 1, previous: dict[int, str] | None = None):
        self.version = version
        self._aead = {version: AESGCM(_derive(key, b"aes-gcm"))}
        for old_version, old_key in (previous or {}).items():
            self._aead.setdefault(old_version, AESGCM(_derive(old_key, b"aes-gcm")))
        self._index_key = _derive(key, b"blind-index")

    def encrypt(self, plaintext: str, field: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead[self.version].encrypt(nonce, plaintext.encode(), field.encode())
        return f"v{self.version}." + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, field: str) -> str:
        prefix, _, body = token.partition(".")
        version = int(prefix[1:])
        raw = base64.urlsafe_b64decode(body)
        return self._aead[version].decrypt(raw[:12], raw[12:], field.encode()).decode()

    def blind_index(self, value: str, field: str) -> str:
        return hmac.new(self._index_key, f"{field}:{value}".encode(), hashlib.sha256).hexdigest()


def mask_name(name: str) -> str:
    """李四 → 李*, 王小明 → 王**: the family name stays, the rest is hidden."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def mask_id_number(number: str) -> str:
    """440306199003071232 → 4403**********1232."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
