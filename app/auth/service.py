"""Citizen login, sessions and real-name verification.

Login: ``wx.login`` code → ``code2Session`` (through wechatpy, off the loop) → user
found or created by openid → our own access token (15 min) and refresh token
(30 days, rotated on every use). ``session_key`` stays on the server: encrypted,
in Redis, with a TTL. A refresh token used twice revokes its whole family.

Real name: the ID number is checked locally (shape, birth date, region, check
digit), then by the identity authority; name and number are stored encrypted,
with masks for display and an HMAC blind index that binds one number to one
account. Five failed checks a day lock the user out until the next day; a number
bound to another account counts and answers as a mismatch.

Security state lives in the database, Redis only caches it: a logout or a revoked family is
``refresh_tokens.revoked_at`` (the cache of ``shengshi:session:<family>`` is refilled from it
on a miss, so a flushed Redis never means "not revoked"), and the real-name attempts of a day are
rows of ``real_name_attempts``.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio import Redis
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from app.auth.identity import IdentityProvider, IdentityResult, IdentityUnavailable
from app.core.errors import (
    BadRequest,
    Conflict,
    RateLimited,
    ServiceUnavailable,
    ShengshiError,
    Unauthorized,
    ValidationFailed,
)
from app.core.security.idcard import InvalidIdNumber, normalise_id_number, normalise_name
from app.core.security.pii import PiiCipher, mask_id_number, mask_name, mask_phone
from app.core.security.tokens import ACCESS_TTL_S, REFRESH_TTL_S, InvalidToken, TokenService
from app.core.wechat import WeChatError, WeChatGateway
from app.notifications.push import end_login
from models import Level, RealNameAttempts, RefreshToken, User

log = logging.getLogger("shengshi.auth")

CHINA = ZoneInfo("Asia/Shanghai")
SESSION_KEY_TTL_S = 3 * 24 * 3600
MAX_REAL_NAME_FAILURES = 5
# Cache of a login family's state, refilled from refresh_tokens on a miss.
SESSION_STATE_PREFIX = "shengshi:session:"
# A live family is re-read from the database this often: the longest a revocation can go unseen
# if Redis is restored from a snapshot taken before it (a flush or an empty restart: never).
LIVE_CACHE_S = 60
FIELD_NAME, FIELD_ID, FIELD_PHONE, FIELD_SESSION_KEY = (
    "user.real_name",
    "user.id_number",
    "user.phone",
    "wx.session_key",
)


def user_view(user: User) -> dict[str, Any]:
    """What the client may see of a user: masks only, never clear personal information."""
    return {
        "id": user.id,
        "level": str(user.level),
        "real_name": user.real_name_mask,
        "id_number": user.id_number_mask,
        "phone": user.phone_mask,
        "verified_at": user.verified_at.isoformat() if user.verified_at else None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


@dataclass
class Principal:
    """The caller behind a valid access token."""

    user_id: int
    level: str
    family: str
    jti: str
    expires_at: int


class AuthService:
    def __init__(
        self,
        redis: Redis,
        tokens: TokenService,
        pii: PiiCipher,
        wechat: WeChatGateway,
        identity: IdentityProvider,
    ):
        self.redis = redis
        self.tokens = tokens
        self.pii = pii
        self.wechat = wechat
        self.identity = identity

    # -- login and sessions --------------------------------------------------

    async def login(self, code: str) -> dict[str, Any]:
        try:
            session = await self.wechat.code_to_session(code)
        except WeChatError as exc:
            raise _login_error(exc) from None
        openid = session.get("openid")
        if not openid:
            raise ServiceUnavailable("WeChat answered without an openid; try again", code="wechat_unavailable")
        user = await self._user_for(str(openid), session.get("unionid"))
        if session.get("session_key"):
            await self.redis.set(
                f"shengshi:wxsk:{user.id}",
                self.pii.encrypt(str(session["session_key"]), FIELD_SESSION_KEY),
                ex=SESSION_KEY_TTL_S,
            )
        return await self.issue_pair(user)

    async def _user_for(self, openid: str, unionid: Any) -> User:
        user = await User.get_or_none(openid=openid)
        if user is None:
            try:
                user = await User.create(openid=openid, unionid=unionid or None)
            except IntegrityError:
                # Two first logins of the same person at once: the other one created the row.
                user = await User.get(openid=openid)
        elif unionid and user.unionid != unionid:
            user.unionid = str(unionid)
            await user.save(update_fields=["unionid", "updated_at"])
        return user

    async def issue_pair(self, user: User, family: str | None = None) -> dict[str, Any]:
        family = family or uuid.uuid4().hex
        access = self.tokens.issue("access", str(user.id), ACCESS_TTL_S, fam=family, lvl=str(user.level))
        refresh = self.tokens.issue("refresh", str(user.id), REFRESH_TTL_S, fam=family)
        await RefreshToken.create(
            jti=refresh.jti,
            family=family,
            user_id=user.id,
            expires_at=dt.datetime.fromtimestamp(refresh.expires_at, dt.UTC),
        )
        return {
            "access_token": access.token,
            "refresh_token": refresh.token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TTL_S,
            "user": user_view(user),
        }

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        claims = self._decode(refresh_token, "refresh")
        now = dt.datetime.now(dt.UTC)
        # One conditional UPDATE spends the token: of two concurrent uses exactly one wins.
        spent = await RefreshToken.filter(jti=claims["jti"], used_at=None, revoked_at=None).update(used_at=now)
        # A token issued by a refresh that raced a logout is live in a revoked family: refuse it too.
        if spent and await _family_revoked_in_db(str(claims.get("fam") or "")):
            raise Unauthorized("This session has ended; log in again", code="session_revoked")
        reused = False
        if not spent:
            row = await RefreshToken.get_or_none(jti=claims["jti"])
            if row is None or row.revoked_at is not None:
                raise Unauthorized("This session has ended; log in again", code="session_revoked")
            # A rotated-out token came back: someone holds a copy. End every session of the family.
            await RefreshToken.filter(family=row.family, revoked_at=None).update(revoked_at=now)
            await self._mark_family_revoked(row.family)
            reused = True
        if reused:
            log.warning("refresh token reused; family revoked", extra={"fields": {"user_id": claims["sub"]}})
            raise Unauthorized("This session was used elsewhere and has been ended; log in again", code="token_reused")
        user = await User.get_or_none(id=int(claims["sub"]))
        if user is None:
            raise Unauthorized("This session has ended; log in again", code="session_revoked")
        return await self.issue_pair(user, family=str(claims["fam"]))

    async def logout(self, principal: Principal) -> None:
        await RefreshToken.filter(family=principal.family, revoked_at=None).update(revoked_at=dt.datetime.now(dt.UTC))
        await self._mark_family_revoked(principal.family)

    async def _mark_family_revoked(self, family: str) -> None:
        # The database already says so; the cache must not keep answering "live" until it expires.
        await self.redis.set(SESSION_STATE_PREFIX + family, "revoked", ex=ACCESS_TTL_S + 60)
        # Its WebSockets close too, on whichever worker holds them.
        await end_login(self.redis, family)

    async def family_revoked(self, family: str) -> bool:
        """Whether the login ``family`` was logged out or revoked: the cache, else the database."""
        key = SESSION_STATE_PREFIX + family
        cached = await self.redis.get(key)
        if cached is not None:
            return bool(cached == "revoked")
        revoked = await _family_revoked_in_db(family)
        if revoked:
            await self.redis.set(key, "revoked", ex=ACCESS_TTL_S + 60)
        else:
            # NX: a revocation written meanwhile wins over this (possibly older) reading.
            await self.redis.set(key, "live", ex=LIVE_CACHE_S, nx=True)
        return revoked

    def _decode(self, token: str, typ: str) -> dict[str, Any]:
        try:
            return self.tokens.decode(token, typ)
        except InvalidToken as exc:
            raise Unauthorized(f"Invalid {typ} token: {exc.reason}", code="invalid_token") from None

    async def authenticate(self, access_token: str) -> Principal:
        claims = self._decode(access_token, "access")
        family = str(claims.get("fam") or "")
        if not family or await self.family_revoked(family):
            raise Unauthorized("This session has ended; log in again", code="session_revoked")
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise Unauthorized("Invalid access token", code="invalid_token") from None
        return Principal(user_id, str(claims.get("lvl", "L1")), family, str(claims["jti"]), int(claims["exp"]))

    # -- real name and phone -------------------------------------------------

    async def verify_real_name(self, user: User, raw_name: Any, raw_id_number: Any) -> User:
        if user.level == Level.L2:
            raise Conflict("Your real name is already verified", code="already_verified")
        try:
            name = normalise_name(raw_name)
        except ValueError as exc:
            raise ValidationFailed(str(exc), details={"field": "name"}) from None
        try:
            id_number = normalise_id_number(raw_id_number)
        except InvalidIdNumber as exc:
            raise ValidationFailed(exc.reason, details={"field": "id_number"}) from None

        day = dt.datetime.now(CHINA).date()
        if await RealNameAttempts.filter(user_id=user.id, day=day, attempts__gte=MAX_REAL_NAME_FAILURES).exists():
            raise self._locked_out()

        index = self.pii.blind_index(id_number, FIELD_ID)
        # A number bound to another account is a failed attempt answered like any mismatch (and after
        # the same authority call): the answer must not tell whether a number is registered here.
        bound_elsewhere = await User.filter(id_number_index=index).exclude(id=user.id).exists()

        # The attempt is claimed before the authority is asked, so parallel requests cannot exceed the limit.
        if not await _claim_real_name_attempt(user.id, day):
            raise self._locked_out()
        try:
            result = await self.identity.check(name, id_number)
        except IdentityUnavailable:
            await RealNameAttempts.filter(user_id=user.id, day=day, attempts__gt=0).update(attempts=F("attempts") - 1)
            raise ServiceUnavailable(
                "Identity verification is unavailable now; try again later", code="identity_unavailable"
            ) from None
        if bound_elsewhere or result is not IdentityResult.MATCH:
            raise await self._failed_attempt(user.id, day)

        user.real_name_enc = self.pii.encrypt(name, FIELD_NAME)
        user.real_name_mask = mask_name(name)
        user.id_number_enc = self.pii.encrypt(id_number, FIELD_ID)
        user.id_number_mask = mask_id_number(id_number)
        user.id_number_index = index
        user.level = Level.L2
        user.verified_at = dt.datetime.now(dt.UTC)
        try:
            await user.save()
        except IntegrityError:
            # Another account bound the number meanwhile: the same answer as above.
            raise await self._failed_attempt(user.id, day) from None
        await RealNameAttempts.filter(user_id=user.id).delete()
        return user

    async def _failed_attempt(self, user_id: int, day: dt.date) -> ShengshiError:
        """The answer to a failed real-name attempt (already counted): a mismatch, or the day's lock."""
        row = await RealNameAttempts.get_or_none(user_id=user_id, day=day)
        remaining = MAX_REAL_NAME_FAILURES - (row.attempts if row else MAX_REAL_NAME_FAILURES)
        if remaining <= 0:
            return self._locked_out()
        return ValidationFailed(
            f"姓名与身份证号码不一致，请核对后重试（今日还可尝试{remaining}次）",
            code="identity_mismatch",
            details={"remaining_attempts": remaining},
        )

    @staticmethod
    def _next_midnight() -> int:
        tomorrow = dt.datetime.now(CHINA).date() + dt.timedelta(days=1)
        return int(dt.datetime.combine(tomorrow, dt.time(), CHINA).timestamp())

    def _locked_out(self) -> RateLimited:
        retry_after = max(self._next_midnight() - int(dt.datetime.now(dt.UTC).timestamp()), 1)
        return RateLimited(
            "今日实名认证失败次数过多，请明天再试",
            code="real_name_locked",
            headers={"Retry-After": str(retry_after)},
            details={"retry_after": retry_after},
        )

    async def bind_phone(self, user: User, code: Any) -> User:
        if not isinstance(code, str) or not code.strip() or len(code) > 256:
            raise ValidationFailed("code is required", details={"field": "code"})
        try:
            info = await self.wechat.phone_number(code.strip())
        except WeChatError as exc:
            raise _login_error(exc) from None
        phone = str(info.get("purePhoneNumber") or info.get("phoneNumber") or "")
        if not phone:
            raise ServiceUnavailable("WeChat answered without a phone number; try again", code="wechat_unavailable")
        user.phone_enc = self.pii.encrypt(phone, FIELD_PHONE)
        user.phone_mask = mask_phone(phone)
        await user.save(update_fields=["phone_enc", "phone_mask", "updated_at"])
        return user


async def _family_revoked_in_db(family: str) -> bool:
    # Logout and reuse revoke every row of the family at once; one revoked row means the family ended.
    return not family or await RefreshToken.filter(family=family, revoked_at__isnull=False).exists()


async def _claim_real_name_attempt(user_id: int, day: dt.date) -> bool:
    """Count one real-name attempt of ``user_id`` on ``day``; False when the day's attempts are used up."""
    for _ in range(3):
        claimed = await RealNameAttempts.filter(user_id=user_id, day=day, attempts__lt=MAX_REAL_NAME_FAILURES).update(
            attempts=F("attempts") + 1
        )
        if claimed:
            return True
        try:
            await RealNameAttempts.create(user_id=user_id, day=day, attempts=1)
            return True
        except IntegrityError:
            # The row exists: at the limit (the UPDATE again says so), or created by a parallel attempt.
            continue
    return False


def _login_error(exc: WeChatError) -> Exception:
    """WeChat's answer to a code, as an error the client can act on."""
    if exc.errcode == 40029:
        return BadRequest("The login code is invalid; call wx.login again", code="invalid_code")
    if exc.errcode == 40163:
        return BadRequest("The login code was already used; call wx.login again", code="code_used")
    if exc.errcode == 40226:
        return BadRequest("WeChat blocked this user from logging in", code="user_blocked")
    if exc.errcode in (45011, 45009):
        return RateLimited("Too many login attempts; wait a minute", headers={"Retry-After": "60"})
    if exc.errcode is not None and 40000 <= exc.errcode < 50000 and exc.errcode not in (40001, 40013, 40125):
        return BadRequest(f"WeChat refused the code (errcode {exc.errcode})", code="wechat_refused")
    return ServiceUnavailable("WeChat cannot be reached now; try again shortly", code="wechat_unavailable")
