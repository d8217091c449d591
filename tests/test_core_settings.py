"""Settings rules: development works out of the box, production refuses insecure defaults."""

from __future__ import annotations

import json
import os
import random
import re
import string
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.security.strength import estimate_bits
from app.core.settings import (
    DEFAULT_DATABASE_URL,
    MIN_OWN_SECRET_BITS,
    MIN_SHARED_SECRET_BITS,
    Settings,
    SettingsError,
)

# Random values (generated once for these tests): production accepts them.
JWT = "mifuE-gcJ3S5LSSTnZzaZwBKC3MX4NLqiycY0a06iZJx6Zuy5juPyXAb3i5Whfy-"
PII = "6DTRyQ8U1MEGeovChvpplkVUHWe_q7gpkcgTBpkv3WpOtnDkaw1uZ8aboJJCyhPJ"
WX_SECRET = "10ca02fbac95d749ce713824c076ad31"  # WeChat's AppSecrets are 32 hex digits
IDENTITY_KEY = "1FkY2eXYZHqUk4w6Oy--W3G9yPYM77KO"
ROOT = Path(__file__).resolve().parent.parent


def test_development_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path)})
    assert settings.env == "development"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.uses_embedded_redis
    assert len(settings.jwt_secret) >= 32 and len(settings.pii_key) >= 32
    assert settings.docs_enabled


def test_development_secrets_survive_restart(tmp_path: Path) -> None:
    first = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path)})
    second = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path)})
    assert (first.jwt_secret, first.pii_key) == (second.jwt_secret, second.pii_key)
    secrets_file = tmp_path / "dev-secrets.json"
    assert secrets_file.stat().st_mode & 0o077 == 0, "secrets file must be private to its owner"
    other = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path / "elsewhere")})
    assert other.jwt_secret != first.jwt_secret


def test_processes_starting_together_share_the_development_secrets(tmp_path: Path) -> None:
    """Two servers started at once in one folder used to race on one temporary file name: the
    slower one crashed (FileNotFoundError on rename), or kept secrets the other overwrote."""
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from app.core.settings import _development_secrets\n"
        "print(json.dumps(_development_secrets(Path(sys.argv[1]))))\n"
    )
    for attempt in range(5):
        folder = tmp_path / f"start-{attempt}"
        starts = [
            subprocess.Popen(
                [sys.executable, "-c", script, str(folder)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(6)
        ]
        results = [start.communicate(timeout=60) for start in starts]
        assert all(start.returncode == 0 for start in starts), [err.decode() for _, err in results]
        kept = json.loads((folder / "dev-secrets.json").read_text(encoding="utf-8"))
        assert all(json.loads(out) == kept for out, _ in results)
        assert [p.name for p in folder.iterdir()] == ["dev-secrets.json"]  # no temporary file left behind


def test_unreadable_development_secrets_are_replaced(tmp_path: Path) -> None:
    (tmp_path / "dev-secrets.json").write_text("{not json", encoding="utf-8")
    settings = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path)})
    kept = json.loads((tmp_path / "dev-secrets.json").read_text(encoding="utf-8"))
    assert kept == {"JWT_SECRET": settings.jwt_secret, "PII_KEY": settings.pii_key}


def test_production_names_every_missing_variable() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"SHENGSHI_ENV": "production"})
    text = str(caught.value)
    for name in (
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_SECRET",
        "PII_KEY",
        "WECHAT_APPID",
        "WECHAT_SECRET",
        "IDENTITY_API_URL",
        "IDENTITY_API_KEY",
    ):
        assert name in text


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"DATABASE_URL": "sqlite://var/x.sqlite3"}, "SQLite"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET is too short"),
        ({"PII_KEY": ""}, "PII_KEY is missing"),
    ],
)
def test_production_refuses_each_insecure_default(override: dict[str, str], complaint: str) -> None:
    env = production_env() | override
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert complaint in str(caught.value)


def production_env() -> dict[str, str]:
    return {
        "SHENGSHI_ENV": "production",
        "DATABASE_URL": "postgres://db.internal/shengshi",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "JWT_SECRET": JWT,
        "PII_KEY": PII,
        "WECHAT_APPID": "wx1234567890",
        "MP_TOKEN": "CjCxQ5EsTvrS9ORBDMuZ8NMPWDE2kFzr",
        "MP_AES_KEY": "ysQoJKtpaRXyLO2+3d+j5QL6C7XC6bhz+Bu+ngWUIww",
        "MP_APPID": "wxmp1234567890",
        "WECHAT_SECRET": WX_SECRET,
        "IDENTITY_API_URL": "https://identity.internal/v1/check",
        "IDENTITY_API_KEY": IDENTITY_KEY,
    }


def test_production_complete_is_accepted() -> None:
    settings = Settings.from_env(production_env())
    assert settings.is_production
    assert not settings.docs_enabled, "OpenAPI docs are off in production unless asked for"
    assert not settings.mount_fake_wechat


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError, match="SHENGSHI_ENV"):
        Settings.from_env({"SHENGSHI_ENV": "prod"})


def test_bad_numbers_are_named() -> None:
    with pytest.raises(SettingsError, match="REQUEST_MAX_SIZE"):
        Settings.from_env({"REQUEST_MAX_SIZE": "lots", "JWT_SECRET": "a", "PII_KEY": "b"})


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("SHENGSHI_", "DATABASE_", "REDIS_", "JWT_", "PII_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [["serve"], ["migrate"]])
def test_production_without_secrets_exits_nonzero(command: list[str]) -> None:
    result = _run(command, {"SHENGSHI_ENV": "production"})
    assert result.returncode != 0
    for name in ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "PII_KEY"):
        assert name in result.stderr


def test_serving_several_workers_on_embedded_redis_is_refused(tmp_path: Path) -> None:
    result = _run(["serve", "--workers", "2", "--port", "0"], {"SHENGSHI_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "REDIS_URL" in result.stderr and "single process" in result.stderr


# -- production refuses secrets that are easy to guess, published or from development ------------------

SECRET_VARIABLES = (
    "JWT_SECRET",
    "PII_KEY",
    "JWT_PREVIOUS_SECRETS",
    "PII_PREVIOUS_KEYS",
    "METRICS_TOKEN",
    "WECHAT_SECRET",
    "MP_SECRET",
    "MP_TOKEN",
    "MP_AES_KEY",
    "MP_PREVIOUS_AES_KEY",
    "IDENTITY_API_KEY",
    "FORWARDED_SECRET",
)
KEYRINGS = {"JWT_PREVIOUS_SECRETS": "k0:", "PII_PREVIOUS_KEYS": "0:"}


def _refusal(variable: str, value: str, **extra: str) -> str:
    if variable in KEYRINGS and ":" not in value:
        value = KEYRINGS[variable] + value
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(production_env() | {variable: value} | extra)
    return str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JWT_SECRET", "a" * 32),
        ("JWT_SECRET", "changeme" * 4),
        ("PII_KEY", "changemechangemechangemechangeme"),
        ("PII_KEY", "password" * 4),
        ("JWT_SECRET", "secret" * 6),
        ("JWT_SECRET", "my-super-secret-jwt-key-for-production"),
        ("PII_KEY", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
        ("JWT_SECRET", "k8Jq" * 8),
        ("JWT_PREVIOUS_SECRETS", "k0:" + "x" * 40),
        ("PII_PREVIOUS_KEYS", "1:" + "changeme" * 4),
        ("METRICS_TOKEN", "metrics" * 5),
        ("WECHAT_SECRET", "shengshi-dev-wxa-secret"),
        ("MP_SECRET", "shengshi-dev-mp-secret"),
        ("IDENTITY_API_KEY", "shengshi-dev-identity-key"),
        ("IDENTITY_API_KEY", "1234567890" * 4),
        ("MP_TOKEN", "prodtoken123"),
        ("MP_AES_KEY", "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"),
        ("FORWARDED_SECRET", "proxy" * 8),
    ],
)
def test_production_refuses_weak_secrets_naming_the_variable(variable: str, value: str) -> None:
    problem = next(p for p in _refusal(variable, value).split("; ") if p.startswith(variable))
    # Each refusal says what to do next.
    assert any(hint in problem for hint in ("generate one with", "set ", "remove it", "re-encrypt")), problem


def test_production_refuses_the_development_secrets(tmp_path: Path) -> None:
    """The values of this machine's development secrets file, and any value shaped like a generated one."""
    development = Settings.from_env({"SHENGSHI_VAR_DIR": str(tmp_path)})
    for variable, value in (("JWT_SECRET", development.jwt_secret), ("PII_KEY", development.pii_key)):
        assert "development secret" in _refusal(variable, value, SHENGSHI_VAR_DIR=str(tmp_path))
    # A file written before development secrets carried their prefix is recognised by its contents.
    old = {"JWT_SECRET": "dmJ0a2lTcXhGWU5Yc0pXaFlQZ1NwcG9jaWd1a3pR", "PII_KEY": PII[::-1]}
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "dev-secrets.json").write_text(json.dumps(old), encoding="utf-8")
    text = _refusal("JWT_SECRET", old["JWT_SECRET"], SHENGSHI_VAR_DIR=str(tmp_path / "old"))
    assert "JWT_SECRET is a development secret" in text
    # Copied from another machine's file: the shape gives it away.
    other_machine = "shengshi-dev-" + JWT[:48]
    for variable in ("JWT_SECRET", "PII_KEY", "METRICS_TOKEN", "IDENTITY_API_KEY"):
        assert f"{variable} is a generated development secret" in _refusal(variable, other_machine)


def _documented_values() -> dict[str, set[str]]:
    """Values the README's settings table and .env.example show for each secret variable (paths and URLs
    in the same rows belong to the file and URL settings beside them)."""
    found: dict[str, set[str]] = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        names = [n for n in SECRET_VARIABLES if f"`{n}`" in line.split("|")[1]] if line.startswith("| `") else []
        values = {v for v in re.findall(r"`([^`]+)`", line) if "/" not in v and not v.isupper()}
        for name in names:
            found.setdefault(name, set()).update(values)
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        for name, value in re.findall(r"^#?\s*([A-Z_]+)=(\S+)", line):
            if name in SECRET_VARIABLES:
                found.setdefault(name, set()).add(value)
    return found


def test_production_refuses_every_value_the_docs_show() -> None:
    documented = _documented_values()
    assert {"MP_TOKEN", "MP_AES_KEY", "JWT_PREVIOUS_SECRETS", "PII_PREVIOUS_KEYS"} <= set(documented)
    for variable, values in documented.items():
        for value in values:
            assert variable in _refusal(variable, value), (variable, value)


def test_production_wants_different_keys_for_tokens_and_personal_data() -> None:
    assert "JWT_SECRET and PII_KEY must differ" in _refusal("PII_KEY", JWT)


def test_random_secrets_pass_the_estimate_and_patterns_do_not() -> None:
    """Hex, base64 and alphanumeric keys from a seeded generator all pass; patterns never do."""
    rng = random.Random(20261206)
    alphabets = {"hex": "0123456789abcdef", "base64url": string.ascii_letters + string.digits + "-_"}
    for alphabet in alphabets.values():
        for _ in range(2000):
            value = "".join(rng.choice(alphabet) for _ in range(32))
            assert estimate_bits(value) >= MIN_OWN_SECRET_BITS, value
    for _ in range(2000):
        token = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
        assert estimate_bits(token) >= MIN_SHARED_SECRET_BITS, token
    for pattern in ("0" * 64, "abcd" * 16, "0123456789" * 6, "zyxwvutsrq" * 4, "Password1!" * 4, "qwertyuiop" * 4):
        assert estimate_bits(pattern) < MIN_SHARED_SECRET_BITS, pattern


def test_production_accepts_strong_previous_keys_and_a_metrics_token() -> None:
    settings = Settings.from_env(
        production_env()
        | {
            "JWT_PREVIOUS_SECRETS": "k0:" + PII[::-1],
            "PII_PREVIOUS_KEYS": "0:" + JWT[::-1],
            "METRICS_TOKEN": IDENTITY_KEY[::-1] + "Qz",
        }
    )
    assert settings.metrics_token == IDENTITY_KEY[::-1] + "Qz"
