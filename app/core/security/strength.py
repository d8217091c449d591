"""How guessable a secret is: a rough, conservative estimate that refuses the obviously weak.

The estimate (in bits) counts ``log2(alphabet)`` for each character that is not
explained by what came before it: a run of one character (``aaaa``), a sequence (``abcd``,
``4321``), a repeat of an earlier stretch (``k8Jqk8Jq``) or part of a common word (``changeme``,
``password``, ``secret`` …). Random strings keep nearly all of their length: 32 random hex
characters estimate about 115 bits, 64 of base64 about 320; ``changemechangeme…`` estimates 0.

The alphabet is the character classes used (hex digits count as 16), at most twice the distinct
characters seen. Requiring many distinct characters (say 20) instead would refuse hex keys:
``openssl rand -hex 32`` has only 16 possible characters, and 256 bits.
"""

from __future__ import annotations

import math

# Words people put in secrets; found case-insensitively anywhere in the value.
COMMON_WORDS = (
    "changeme",
    "password",
    "passwd",
    "secret",
    "default",
    "example",
    "sample",
    "shengshi",
    "admin",
    "letmein",
    "welcome",
    "qwerty",
    "asdf",
    "zxcv",
    "token",
    "production",
    "prod",
    "staging",
    "develop",
    "test",
    "dummy",
    "placeholder",
    "please",
    "insecure",
    "private",
    "super",
    "key",
    "jwt",
    "pii",
    "wechat",
    "weixin",
    "metrics",
    "root",
    "login",
    "master",
    "hello",
    "abc",
)


def estimate_bits(secret: str) -> float:
    """A conservative estimate of the bits of entropy in ``secret`` (see the module's docstring)."""
    if not secret:
        return 0.0
    lowered = secret.lower()
    explained = [False] * len(secret)
    for word in COMMON_WORDS:
        start = lowered.find(word)
        while start != -1:
            explained[start : start + len(word)] = [True] * len(word)
            start = lowered.find(word, start + 1)
    counted = 0
    for i, char in enumerate(secret):
        if explained[i]:
            continue
        if i >= 1 and char == secret[i - 1]:
            continue  # a run: aaaa
        if i >= 2 and ord(char) - ord(secret[i - 1]) == ord(secret[i - 1]) - ord(secret[i - 2]) in (1, -1):
            continue  # a sequence: abcd, 4321
        if i >= 2 and secret.find(secret[i - 2 : i + 1], 0, i) != -1:
            continue  # the last three characters appeared before: a repeat
        counted += 1
    return counted * math.log2(_alphabet(secret))


def _alphabet(secret: str) -> int:
    """How many characters each position could have held: the classes used (hex counts as 16), but at
    most twice the distinct characters seen, so a string drawn from three letters is not credited 26."""
    if all(c in "0123456789abcdef" for c in secret) or all(c in "0123456789ABCDEF" for c in secret):
        classes = 16
    else:
        classes = sum(
            size
            for present, size in (
                (any(c.islower() for c in secret), 26),
                (any(c.isupper() for c in secret), 26),
                (any(c.isdigit() for c in secret), 10),
                (any(not c.isalnum() for c in secret), 33),
            )
            if present
        )
    return max(min(classes, 2 * len(set(secret))), 2)


def weakness(secret: str, *, min_bits: float, min_length: int = 0) -> str | None:
    """Why ``secret`` is too weak (a phrase to follow its variable's name), or None when it is acceptable."""
    if len(secret) < min_length:
        return f"is too short (at least {min_length} characters)"
    bits = estimate_bits(secret)
    if bits < min_bits:
        return (
            f"is too easy to guess (about {bits:.0f} bits by our estimate, at least {min_bits:.0f} needed: "
            "repeats, sequences and common words count for nothing)"
        )
    return None
