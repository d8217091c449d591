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
import re
from collections.abc import Callable

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


def mask_card(number: str) -> str:
    """6222021234567890128 → 6222***********0128: a bank card number keeps its first and last four digits."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


# What people type: full-width digits, and numbers in groups ("138 1234 5678", "6222-0212-...").
_FULL_WIDTH = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")
_GAP = r"[ \t\u3000-]?"
_ID_NUMBER = re.compile(rf"(?<![0-9])[1-9](?:{_GAP}[0-9]){{16}}{_GAP}[0-9Xx](?![0-9])")
_CARD = re.compile(rf"(?<![0-9])[0-9](?:{_GAP}[0-9]){{15,18}}(?![0-9])")
_MOBILE = re.compile(rf"(?<![0-9+])(?:\+?86{_GAP})?1[3-9][0-9](?:{_GAP}[0-9]){{8}}(?![0-9])")
_DIGIT = re.compile(r"[0-9０-９]")
_SHORTEST = 11


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _digits(found: str) -> str:
    return "".join(c for c in found if c.isalnum()).upper()


def _replace(pattern: re.Pattern[str], text: str, mask: Callable[[str], str | None]) -> str:
    """``text`` with each match of ``pattern`` (found in its half-width form) masked, the rest untouched."""
    probe = text.translate(_FULL_WIDTH)
    out, last = [], 0
    for match in pattern.finditer(probe):
        masked = mask(_digits(match.group()))
        if masked is not None:
            out += [text[last : match.start()], masked]
            last = match.end()
    return "".join(out) + text[last:] if out else text


def mask_personal_numbers(text: str) -> str:
    """``text`` with resident ID numbers, mobile numbers and bank card numbers (Luhn) masked.

    The one masking of free text (chat messages, hand-off transcripts, logs) before it is kept:
    ``身份证440306199003071232`` → ``身份证4403**********1232``, ``13812345678`` → ``138****5678``.
    An ID number with a wrong check digit is still someone's (mistyped) number, so any 18 characters
    of that shape are masked; a card number must pass the Luhn check.
    """
    if len(_DIGIT.findall(text)) < _SHORTEST:
        return text
    text = _replace(_ID_NUMBER, text, mask_id_number)
    text = _replace(_CARD, text, lambda n: mask_card(n) if _luhn(n) else None)
    return _replace(_MOBILE, text, lambda n: mask_phone(n[-11:]))
