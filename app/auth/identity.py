"""The real-name check against the identity authority (the public-security citizen identity service).

One HTTP adapter: ``POST {url} {"name", "id_number"}`` with a bearer key, answering
``{"result": "match" | "mismatch" | "not_found"}``. In development it talks to the fake in
``miniprogram_stub``; in production its URL and key are required settings, and without
them it fails closed: nobody is verified.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import httpx

log = logging.getLogger("shengshi.identity")


class IdentityResult(StrEnum):
    MATCH = "match"
    MISMATCH = "mismatch"
    NOT_FOUND = "not_found"


class IdentityUnavailable(Exception):
    """The identity service cannot answer now (not configured, down, or answering nonsense)."""


class IdentityProvider:
    def __init__(self, url: str | None, key: str | None, timeout: float = 5.0):
        self._url = url
        self._key = key
        self._timeout = timeout

    @property
    def configured(self) -> bool:
        return bool(self._url and self._key)

    async def check(self, name: str, id_number: str) -> IdentityResult:
        """Does the authority hold this person under this name?"""
        if not self.configured:
            raise IdentityUnavailable("identity service is not configured")
        assert self._url is not None
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self._url,
                    json={"name": name, "id_number": id_number},
                    headers={"Authorization": f"Bearer {self._key}"},
                )
            response.raise_for_status()
            return IdentityResult(response.json()["result"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            # Never log the name or the number; the exception type says enough.
            log.warning("identity service failed: %s", type(exc).__name__)
            raise IdentityUnavailable(type(exc).__name__) from None
