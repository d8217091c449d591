"""JWT rules (RFC 8725): every way a token can be wrong is refused."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from app.core.security.tokens import CITIZEN_AUDIENCE, ISSUER, InvalidToken, TokenService

SECRET = "s" * 64
service = TokenService(SECRET, "k1")


def forge(claims: dict, *, key: str = SECRET, kid: str = "k1", alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def good_claims(**overrides: object) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": CITIZEN_AUDIENCE,
        "sub": "1",
        "iat": now,
        "exp": now + 600,
        "jti": "j1",
        "typ": "access",
        "fam": "f1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def test_issued_token_round_trips_with_kid() -> None:
    issued = service.issue("access", "42", 900, fam="f")
    assert jwt.get_unverified_header(issued.token)["kid"] == "k1"
    claims = service.decode(issued.token, "access")
    assert claims["sub"] == "42" and claims["typ"] == "access"


def test_forged_good_token_is_accepted() -> None:
    # The control: the forging helper makes acceptable tokens, so each refusal below is for its one defect.
    assert service.decode(forge(good_claims()), "access")["sub"] == "1"


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    flipped = "A" if signature[5] != "A" else "B"
    return f"{head}.{body}.{signature[:5]}{flipped}{signature[6:]}"


def _none_alg_token() -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT", "kid": "k1"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(good_claims()).encode()).rstrip(b"=")
    return f"{header.decode()}.{body.decode()}."


@pytest.mark.parametrize(
    ("token_factory", "reason"),
    [
        (lambda: forge(good_claims(exp=int(time.time()) - 60)), "expired"),
        (lambda: forge(good_claims(exp=None)), "invalid"),
        (lambda: forge(good_claims(iat=None)), "invalid"),
        (lambda: forge(good_claims(jti=None)), "invalid"),
        (lambda: forge(good_claims(sub=None)), "invalid"),
        (lambda: forge(good_claims(), key="t" * 48), "invalid"),
        (lambda: _tampered(forge(good_claims())), "invalid"),
        (_none_alg_token, "invalid"),
        (lambda: forge(good_claims(), alg="HS512"), "invalid"),
        (lambda: forge(good_claims(aud="shengshi-console")), "invalid"),
        (lambda: forge(good_claims(aud=None)), "invalid"),
        (lambda: forge(good_claims(iss="someone-else")), "invalid"),
        (lambda: forge(good_claims(iss="shengsh")), "invalid"),
        (lambda: forge(good_claims(iss=None)), "invalid"),
        (lambda: forge(good_claims(typ="refresh")), "not an access token"),
        (lambda: forge(good_claims(typ=None)), "invalid"),
        (lambda: forge(good_claims(), kid="k9"), "unknown signing key"),
        (lambda: forge(good_claims(), kid="../../etc/passwd"), "unknown signing key"),
        (lambda: "not.a.jwt", "malformed"),
        (lambda: "", "malformed"),
    ],
    ids=[
        "expired",
        "no-exp",
        "no-iat",
        "no-jti",
        "no-sub",
        "wrong-key",
        "tampered-signature",
        "alg-none",
        "other-alg",
        "wrong-audience",
        "no-audience",
        "wrong-issuer",
        "partial-issuer",
        "no-issuer",
        "wrong-typ",
        "no-typ",
        "unknown-kid",
        "hostile-kid",
        "garbage",
        "empty",
    ],
)
def test_bad_tokens_are_refused(token_factory, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidToken) as caught:
        service.decode(token_factory(), "access")
    assert reason in caught.value.reason


def test_refresh_token_is_not_an_access_token_and_back() -> None:
    refresh = service.issue("refresh", "1", 600, fam="f")
    with pytest.raises(InvalidToken):
        service.decode(refresh.token, "access")
    access = service.issue("access", "1", 600, fam="f")
    with pytest.raises(InvalidToken):
        service.decode(access.token, "refresh")
    with pytest.raises(InvalidToken):
        service.decode(access.token, "staff")


def test_key_rotation_keeps_old_tokens_valid() -> None:
    old = TokenService("o" * 48, "k1")
    issued_before = old.issue("access", "7", 600, fam="f")
    rotated = TokenService("n" * 48, "k2", previous={"k1": "o" * 48})
    assert rotated.decode(issued_before.token, "access")["sub"] == "7"
    assert jwt.get_unverified_header(rotated.issue("access", "7", 600).token)["kid"] == "k2"
    # Dropping the old key from the ring ends those tokens.
    with pytest.raises(InvalidToken):
        TokenService("n" * 48, "k2").decode(issued_before.token, "access")
