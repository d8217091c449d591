"""Settings read from the environment, with rules that depend on where we run.

In ``development`` (the default) everything has a working default: an SQLite
file, an embedded Redis, and secrets generated once and kept under ``var/`` so
a restart keeps sessions valid. In ``production`` the process refuses to start
on any of those defaults and names every variable that needs setting, and on secrets that are
easy to guess, published (the development values, the examples in the docs) or copied from a
development secrets file (see :func:`_secret_problems`).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.core.security.strength import weakness

DEFAULT_DATABASE_URL = "sqlite://var/shengshi.sqlite3"
ENVIRONMENTS = ("development", "production")
# Secrets shorter than this are refused in production (RFC 8725 §3.5: enough entropy).
MIN_SECRET_LENGTH = 32
# Estimated bits (app/security/strength.py) production wants: in this service's own keys, and in
# secrets issued or chosen elsewhere (WeChat's, the identity authority's, the proxy's).
MIN_OWN_SECRET_BITS = 80
MIN_SHARED_SECRET_BITS = 48
# Every generated development secret starts so; production refuses any secret that does.
DEV_SECRET_PREFIX = "shengshi-dev-"  # noqa: S105 (a marker, not a secret)
GENERATE_HINT = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"

# Development defaults of the WeChat official account (issue: official account).
DEV_MP_TOKEN = "shengshi-dev-token"  # noqa: S105 (development only; production requires its own)
DEV_MP_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DEV_MP_APPID = "wxdevmp0000000000"
DEV_MP_SECRET = "shengshi-dev-mp-secret"  # noqa: S105 (development only, answered by the fake platform)
DEV_WXA_APPID = "wxdevmini00000000"
DEV_IDENTITY_KEY = "shengshi-dev-identity-key"
DEV_WXA_SECRET = "shengshi-dev-wxa-secret"  # noqa: S105 (development only, answered by the fake platform)


class SettingsError(Exception):
    """The environment does not describe a runnable configuration."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _int(env: Mapping[str, str], name: str, default: int, problems: list[str]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        problems.append(f"{name} must be an integer, got {raw!r}")
        return default


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """Every setting of the service; build it with :meth:`from_env`."""

    env: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    jwt_secret: str = ""
    jwt_secret_id: str = "k1"  # noqa: S105 (a key id, not a secret)
    jwt_previous_secrets: dict[str, str] = field(default_factory=dict)
    pii_key: str = ""
    pii_key_version: int = 1
    pii_previous_keys: dict[int, str] = field(default_factory=dict)
    request_max_size: int = 1_048_576
    log_level: str = "INFO"
    docs_enabled: bool = True
    forwarded_secret: str | None = None
    real_ip_header: str | None = None
    proxies_count: int | None = None
    graceful_shutdown_timeout: float = 15.0
    var_dir: Path = Path("var")
    wechat_api_base: str = ""
    wechat_appid: str = DEV_WXA_APPID
    wechat_secret: str = DEV_WXA_SECRET
    mount_fake_wechat: bool = False
    rate_limit_enabled: bool = True
    run_worker_in_process: bool = True
    notify_retry_base_s: float = 2.0
    notify_claim_idle_ms: int = 30_000
    notify_redispatch_s: float = 120.0
    subscribe_template_id: str = "shengshi-progress-dev"
    mp_appid: str = DEV_MP_APPID
    mp_secret: str = DEV_MP_SECRET
    mp_template_id: str = "shengshi-mp-progress-dev"
    # The official account's webhook (/wechat/mp): token, EncodingAESKey (and the previous one while rotating).
    mp_token: str = DEV_MP_TOKEN
    mp_aes_key: str = DEV_MP_AES_KEY
    mp_previous_aes_key: str = ""
    mp_reply_budget_s: float = 4.0
    mp_item_url: str = ""
    mp_site_url: str = "https://mp.weixin.qq.com/"
    identity_api_url: str | None = None
    identity_api_key: str | None = None
    # The operations console (see docs/console.md).
    staff_totp_required: bool = False
    staff_idle_timeout_s: int = 15 * 60
    handoff_enabled: bool = True
    replay_questions: int = 500
    # Bearer token for GET /metrics; unset: open in development, 404 in production.
    metrics_token: str | None = None
    # The region (GB/T 2260) the assistant answers for when a citizen has not chosen one (docs/catalog.md).
    default_region: str = "440000"

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_embedded_redis(self) -> bool:
        return not self.redis_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read and check the environment; raise :class:`SettingsError` naming every problem."""
        env = dict(os.environ if environ is None else environ)
        problems: list[str] = []
        mode = env.get("SHENGSHI_ENV", "development").strip() or "development"
        if mode not in ENVIRONMENTS:
            raise SettingsError([f"SHENGSHI_ENV must be one of {', '.join(ENVIRONMENTS)}, got {mode!r}"])
        production = mode == "production"
        var_dir = Path(env.get("SHENGSHI_VAR_DIR", "var"))

        database_url = env.get("DATABASE_URL", "").strip()
        redis_url = env.get("REDIS_URL", "").strip() or None
        jwt_secret = env.get("JWT_SECRET", "").strip()
        pii_key = env.get("PII_KEY", "").strip()
        wechat_api_base = env.get("WECHAT_API_BASE", "").strip()
        wechat_appid = env.get("WECHAT_APPID", "").strip()
        wechat_secret = env.get("WECHAT_SECRET", "").strip()
        identity_api_url = env.get("IDENTITY_API_URL", "").strip() or None
        identity_api_key = env.get("IDENTITY_API_KEY", "").strip() or None

        if production:
            if not database_url:
                problems.append("DATABASE_URL is missing (production needs PostgreSQL)")
            elif database_url.startswith("sqlite"):
                problems.append("DATABASE_URL points at SQLite (production needs PostgreSQL)")
            if not redis_url:
                problems.append("REDIS_URL is missing (the embedded Redis is single-process and development only)")
            for name, value in (("JWT_SECRET", jwt_secret), ("PII_KEY", pii_key)):
                if not value:
                    problems.append(f"{name} is missing")
                elif len(value) < MIN_SECRET_LENGTH:
                    problems.append(f"{name} is too short (at least {MIN_SECRET_LENGTH} characters)")
            required: tuple[tuple[str, str | None], ...] = (
                ("WECHAT_APPID", wechat_appid),
                ("WECHAT_SECRET", wechat_secret),
                ("IDENTITY_API_URL", identity_api_url),
                ("IDENTITY_API_KEY", identity_api_key),
                ("MP_TOKEN", env.get("MP_TOKEN", "").strip()),
                ("MP_AES_KEY", env.get("MP_AES_KEY", "").strip()),
                ("MP_APPID", env.get("MP_APPID", "").strip()),
            )
            problems.extend(f"{name} is missing" for name, value in required if not value)
        else:
            database_url = database_url or DEFAULT_DATABASE_URL
            if not jwt_secret or not pii_key:
                generated = _development_secrets(var_dir)
                jwt_secret = jwt_secret or generated["JWT_SECRET"]
                pii_key = pii_key or generated["PII_KEY"]
            wechat_appid = wechat_appid or DEV_WXA_APPID
            wechat_secret = wechat_secret or DEV_WXA_SECRET

        proxies_raw = env.get("PROXIES_COUNT", "").strip()
        proxies_count = _int(env, "PROXIES_COUNT", 0, problems) if proxies_raw else None
        settings = cls(
            env=mode,
            database_url=database_url,
            redis_url=redis_url,
            jwt_secret=jwt_secret,
            jwt_secret_id=env.get("JWT_KEY_ID", "k1").strip() or "k1",
            jwt_previous_secrets=_parse_keyring(env.get("JWT_PREVIOUS_SECRETS", ""), "JWT_PREVIOUS_SECRETS", problems),
            pii_key=pii_key,
            pii_key_version=_int(env, "PII_KEY_VERSION", 1, problems),
            pii_previous_keys={
                int(k): v
                for k, v in _parse_keyring(env.get("PII_PREVIOUS_KEYS", ""), "PII_PREVIOUS_KEYS", problems).items()
                if k.isdigit()
            },
            request_max_size=_int(env, "REQUEST_MAX_SIZE", 1_048_576, problems),
            log_level=env.get("LOG_LEVEL", "INFO").strip().upper() or "INFO",
            docs_enabled=_bool(env, "DOCS_ENABLED", not production),
            forwarded_secret=env.get("FORWARDED_SECRET", "").strip() or None,
            real_ip_header=env.get("REAL_IP_HEADER", "").strip() or None,
            proxies_count=proxies_count,
            graceful_shutdown_timeout=float(_int(env, "GRACEFUL_SHUTDOWN_TIMEOUT", 15, problems)),
            var_dir=var_dir,
            wechat_api_base=wechat_api_base,
            wechat_appid=wechat_appid,
            wechat_secret=wechat_secret,
            mount_fake_wechat=not production and not wechat_api_base,
            identity_api_url=identity_api_url,
            identity_api_key=identity_api_key,
            rate_limit_enabled=_bool(env, "RATE_LIMIT_ENABLED", True),
            run_worker_in_process=_bool(env, "RUN_WORKER_IN_PROCESS", not production),
            notify_retry_base_s=float(env.get("NOTIFY_RETRY_BASE_S", "").strip() or 2.0),
            notify_claim_idle_ms=_int(env, "NOTIFY_CLAIM_IDLE_MS", 30_000, problems),
            notify_redispatch_s=float(_int(env, "NOTIFY_REDISPATCH_S", 120, problems)),
            subscribe_template_id=env.get("SUBSCRIBE_TEMPLATE_ID", "").strip() or "shengshi-progress-dev",
            mp_appid=env.get("MP_APPID", "").strip() or ("" if production else DEV_MP_APPID),
            mp_secret=env.get("MP_SECRET", "").strip() or ("" if production else DEV_MP_SECRET),
            mp_template_id=env.get("MP_TEMPLATE_ID", "").strip() or "shengshi-mp-progress-dev",
            mp_token=env.get("MP_TOKEN", "").strip() or ("" if production else DEV_MP_TOKEN),
            mp_aes_key=env.get("MP_AES_KEY", "").strip() or ("" if production else DEV_MP_AES_KEY),
            mp_previous_aes_key=env.get("MP_PREVIOUS_AES_KEY", "").strip(),
            mp_reply_budget_s=_float(env, "MP_REPLY_BUDGET_S", 4.0, problems),
            mp_item_url=env.get("MP_ITEM_URL", "").strip(),
            mp_site_url=env.get("MP_SITE_URL", "").strip() or "https://mp.weixin.qq.com/",
            # Production always asks staff for a second factor; development may turn it on.
            staff_totp_required=production or _bool(env, "STAFF_TOTP_REQUIRED", False),
            staff_idle_timeout_s=_int(env, "STAFF_IDLE_TIMEOUT_S", 15 * 60, problems),
            handoff_enabled=_bool(env, "HANDOFF_ENABLED", True),
            replay_questions=_int(env, "REPLAY_QUESTIONS", 500, problems),
            metrics_token=env.get("METRICS_TOKEN", "").strip() or None,
            default_region=env.get("DEFAULT_REGION", "").strip() or "440000",
        )
        if not re.fullmatch(r"\d{6}", settings.default_region):
            problems.append("DEFAULT_REGION must be a six-digit GB/T 2260 region code, e.g. 440000")
        if settings.request_max_size <= 0 or settings.request_max_size > 50_000_000:
            problems.append("REQUEST_MAX_SIZE must be between 1 and 50000000 bytes")
        problems.extend(_official_account_problems(settings))
        if production:
            problems.extend(_secret_problems(settings))
        if problems:
            raise SettingsError(problems)
        return settings


def _float(env: Mapping[str, str], name: str, default: float, problems: list[str]) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        problems.append(f"{name} must be a number, got {raw!r}")
        return default


def _official_account_problems(settings: Settings) -> list[str]:
    """WeChat's console rules: a token of 3 to 32 characters, a 43-character EncodingAESKey."""
    problems = []
    token = settings.mp_token
    if token and not (3 <= len(token) <= 32 and token.isascii() and token.replace("-", "").replace("_", "").isalnum()):
        problems.append("MP_TOKEN must be 3 to 32 letters, digits, '-' or '_'")
    for name, key in (("MP_AES_KEY", settings.mp_aes_key), ("MP_PREVIOUS_AES_KEY", settings.mp_previous_aes_key)):
        if key and not is_encoding_aes_key(key):
            problems.append(f"{name} must be the 43-character EncodingAESKey from the WeChat console")
    if settings.is_production and (token == DEV_MP_TOKEN or settings.mp_aes_key == DEV_MP_AES_KEY):
        problems.append("MP_TOKEN and MP_AES_KEY must not be the development values")
    if not 0 < settings.mp_reply_budget_s <= 4.5:
        problems.append("MP_REPLY_BUDGET_S must be above 0 and at most 4.5 seconds (WeChat waits 5)")
    return problems


def is_encoding_aes_key(key: str) -> bool:
    """43 base64 characters that decode to a 32-byte AES key."""
    if len(key) != 43 or not key.isascii():
        return False
    try:
        return len(base64.b64decode(key + "=", validate=True)) == 32
    except ValueError:
        return False


def _secret_problems(settings: Settings) -> list[str]:
    """Production's secrets: long and hard enough to guess, never a published or development value."""
    known = {
        DEV_MP_TOKEN: "the development value",
        DEV_MP_AES_KEY: "the development value",
        DEV_MP_SECRET: "the development value",
        DEV_WXA_SECRET: "the development value",
        DEV_IDENTITY_KEY: "the development value",
        # The placeholders of .env.example.
        "old-secret": "the example in .env.example",
        "old-key": "the example in .env.example",
    }
    local = _read_development_secrets(settings.var_dir / "dev-secrets.json") or {}
    known.update(
        {value: f"a development secret from {settings.var_dir / 'dev-secrets.json'}" for value in local.values()}
    )
    own = [("JWT_SECRET", settings.jwt_secret, GENERATE_HINT), ("PII_KEY", settings.pii_key, GENERATE_HINT)]
    if settings.metrics_token:
        own.append(("METRICS_TOKEN", settings.metrics_token, GENERATE_HINT))
    # An old key may be weak too: it still opens what it protected.
    own += [
        (f"JWT_PREVIOUS_SECRETS (key id {kid})", v, "remove it (tokens signed with it end: citizens log in again)")
        for kid, v in settings.jwt_previous_secrets.items()
    ]
    own += [
        (f"PII_PREVIOUS_KEYS (version {ver})", v, "re-encrypt the rows it encrypted under PII_KEY, then remove it")
        for ver, v in settings.pii_previous_keys.items()
    ]
    shared = [
        ("WECHAT_SECRET", settings.wechat_secret, "the AppSecret from the mini-program's WeChat console"),
        ("MP_SECRET", settings.mp_secret, "the AppSecret from the official account's console"),
        ("MP_TOKEN", settings.mp_token, "32 random letters and digits, also entered in the console"),
        ("MP_AES_KEY", settings.mp_aes_key, "the EncodingAESKey generated by the console"),
        ("MP_PREVIOUS_AES_KEY", settings.mp_previous_aes_key, "the EncodingAESKey the console had before"),
        ("IDENTITY_API_KEY", settings.identity_api_key or "", "the key the identity authority issued"),
        ("FORWARDED_SECRET", settings.forwarded_secret or "", "the secret your proxy sends, 32 random characters"),
    ]
    problems = []
    checks = [(name, value, advice, MIN_OWN_SECRET_BITS, MIN_SECRET_LENGTH) for name, value, advice in own]
    checks += [(name, value, f"set {hint}", MIN_SHARED_SECRET_BITS, 0) for name, value, hint in shared]
    for name, value, advice, bits, length in checks:
        if not value or (name in ("JWT_SECRET", "PII_KEY") and len(value) < MIN_SECRET_LENGTH):
            continue  # missing or short: already said
        if (name, value) in (("MP_TOKEN", DEV_MP_TOKEN), ("MP_AES_KEY", DEV_MP_AES_KEY)):
            continue  # said by _official_account_problems
        if value in known:
            reason: str | None = f"is {known[value]}"
        elif value.lower().startswith(DEV_SECRET_PREFIX):
            reason = "is a generated development secret (it starts with shengshi-dev-)"
        else:
            reason = weakness(value, min_bits=bits, min_length=length)
        if reason:
            problems.append(f"{name} {reason}: {advice}")
    if settings.jwt_secret and settings.jwt_secret == settings.pii_key:
        problems.append(f"JWT_SECRET and PII_KEY must differ (one key per purpose): {GENERATE_HINT}")
    return problems


def _parse_keyring(raw: str, name: str, problems: list[str]) -> dict[str, str]:
    """Parse ``id:secret,id:secret`` (older keys still accepted while rotating)."""
    ring: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        key_id, sep, secret = part.partition(":")
        if not sep or not key_id or not secret:
            problems.append(f"{name} must look like 'id:secret,id:secret'")
            continue
        ring[key_id] = secret
    return ring


def _read_development_secrets(path: Path) -> dict[str, str] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and data.get("JWT_SECRET") and data.get("PII_KEY"):
        return {"JWT_SECRET": str(data["JWT_SECRET"]), "PII_KEY": str(data["PII_KEY"])}
    return None


def _development_secrets(var_dir: Path) -> dict[str, str]:
    """Secrets generated on first start and kept, so restarts keep sessions and data readable.

    Processes starting together in one folder (two local servers, a server and its worker) must end
    up with the same secrets: each writes its own private temporary file and links it into place
    only if no file is there yet; the others read the file that won.
    """
    path = var_dir / "dev-secrets.json"
    existing = _read_development_secrets(path)
    if existing is not None:
        return existing
    # The prefix marks them as development secrets: production refuses any secret that carries it.
    data = {name: DEV_SECRET_PREFIX + secrets.token_urlsafe(48) for name in ("JWT_SECRET", "PII_KEY")}
    var_dir.mkdir(parents=True, exist_ok=True)
    # mkstemp: a name of this process's own, readable by the owner only (the file holds secrets).
    fd, tmp = tempfile.mkstemp(dir=var_dir, prefix=".dev-secrets-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        try:
            os.link(tmp, path)  # atomic, and fails if the file exists
        except FileExistsError:
            existing = _read_development_secrets(path)
            if existing is not None:
                return existing  # another process got there first
            os.replace(tmp, path)  # an unreadable or incomplete old file: replace it
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    return data
