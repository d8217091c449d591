"""Settings rules: development works out of the box, production refuses insecure defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.settings import DEFAULT_DATABASE_URL, Settings, SettingsError

STRONG = "s" * 48
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
        "JWT_SECRET": STRONG,
        "PII_KEY": STRONG,
        "WECHAT_APPID": "wx1234567890",
        "MP_TOKEN": "prodtoken123",
        "MP_AES_KEY": "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut",
        "MP_APPID": "wxmp1234567890",
        "WECHAT_SECRET": STRONG,
        "IDENTITY_API_URL": "https://identity.internal/v1/check",
        "IDENTITY_API_KEY": STRONG,
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
