from __future__ import annotations

import os
from pathlib import Path

import pytest

from relman.config import Settings, load_config, load_settings, redact_url
from relman.domain.errors import ConfigError


def env_settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in list(os.environ):
        if key.startswith(("RELMAN_", "LOOM_")) or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_embedded_default_is_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(monkeypatch)
    assert s.effective_database_url() == "sqlite+aiosqlite:///./relman.db"
    assert (s.port, s.prefix) == (8000, "/api/tg-bot")


def test_seed_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(
        monkeypatch,
        LOOM_RELEASE_TG_BOT_PORT="8010",
        LOOM_RELEASE_TG_BOT_PREFIX="api/x/",
        LOOM_INTERSERVER_SECRET_KEY="s3cr3t-value",
        LOOM_RELEASE_TG_BOT_POSTGRES_CONTAINER_NAME="db.internal",
        LOOM_RELEASE_TG_BOT_POSTGRES_DB_NAME="releases",
        LOOM_RELEASE_TG_BOT_POSTGRES_USER="rel",
        LOOM_RELEASE_TG_BOT_POSTGRES_PASSWORD="p@ss:word",
    )
    assert (s.port, s.prefix) == (8010, "/api/x")
    assert s.require_secret() == "s3cr3t-value"
    url = s.effective_database_url()
    assert url == "postgresql+asyncpg://rel:p%40ss%3Aword@db.internal/releases"
    assert "p%40ss" not in redact_url(url) and "***" in redact_url(url)
    assert "s3cr3t-value" not in repr(s) and "p@ss" not in repr(s)


def test_database_url_gets_async_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(monkeypatch, DATABASE_URL="postgresql://u@h:5433/d")
    assert s.effective_database_url() == "postgresql+asyncpg://u@h:5433/d"


def test_missing_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="LOOM_INTERSERVER_SECRET_KEY"):
        env_settings(monkeypatch).require_secret()


def test_bad_port_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    env_settings(monkeypatch)
    monkeypatch.setenv("RELMAN_PORT", "eighty")
    with pytest.raises(ConfigError, match=r"setting RELMAN_PORT: .*integer"):
        load_settings(_env_file=None)


def test_relman_toml(tmp_path: Path) -> None:
    path = tmp_path / "relman.toml"
    assert load_config(path).services == {}
    path.write_text(
        """
[services.hello]
repo = "/srv/git/hello.git"
workdir = "{root}/hello"
start_command = ["sh", "start.sh"]
health = { url = "http://{address}:8004/health" }

[hosts.stage-1]
transport = "local"

[environments.stage]
hosts = ["stage-1"]

[policy]
qa = ["tg:42"]
""",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.services["hello"].health.attempts == 3
    assert config.environments["stage"].hosts == ["stage-1"]
    assert config.policy.qa == ["tg:42"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[services.x\n", "not valid TOML"),
        ("[environments.qa]\nhosts = []\n", "expected stage, production or dev:<name>"),
        ('[environments.stage]\nhosts = ["nope"]\n', "unknown host 'nope'"),
        ('[hosts.h]\naddress = "10.0.0.1"\n', "known_hosts"),
        ('[policy]\nqa = "tg:1"\n', "policy.qa"),
    ],
)
def test_bad_relman_toml_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_redact_url_masks_a_password_in_the_query_string() -> None:
    url = "postgresql+asyncpg://rel@db/releases?sslmode=require&password=q5-secret&x=1"
    shown = redact_url(url)
    assert "q5-secret" not in shown
    assert shown == "postgresql+asyncpg://rel@db/releases?sslmode=require&password=***&x=1"
    assert redact_url("postgresql://u:pw@h/d?PASSWORD=pw2") == "postgresql://u:***@h/d?PASSWORD=***"


def test_blank_ci_secrets_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(monkeypatch, RELMAN_HMAC_SECRET="", RELMAN_GITHUB_TOKEN="")
    assert (s.hmac_secret, s.github_token, s.oidc_audience) == (None, None, None)


def test_env_file_that_is_not_utf8_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_settings(monkeypatch)
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"LOOM_INTERSERVER_SECRET_KEY=\xff\xfesecret\n")
    with pytest.raises(ConfigError, match=r"^\.env: not UTF-8 text$"):
        load_settings(_env_file=env_file)


_ROLLING_HOSTS = """
[hosts.a]
address = "127.0.0.2"
transport = "local"
[hosts.b]
address = "127.0.0.3"
transport = "local"
[hosts.c]
address = "127.0.0.4"
transport = "local"
[environments.production]
hosts = ["a", "b", "c"]
"""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("batch_size = 0", r"environments\.production\.batch_size: .*greater than or equal to 1"),
        ("batch_size = -2", r"environments\.production\.batch_size: .*greater than or equal to 1"),
        ("batch_size = 4", r"batch_size: 4 is more than the environment's 3 host\(s\)"),
        ('batch_size = "2"', r"environments\.production\.batch_size: .*valid integer"),
        ("batch_size = 1.5", r"environments\.production\.batch_size: .*valid integer"),
        ("max_fail = -1", r"environments\.production\.max_fail: .*greater than or equal to 0"),
        ("max_fail = 3", r"max_fail: 3 would tolerate every one of the 3 host\(s\) failing"),
        ('max_fail = "1"', r"environments\.production\.max_fail: .*valid integer"),
    ],
)
def test_bad_rolling_settings_name_the_key(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(_ROLLING_HOSTS + line + "\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_rolling_settings(tmp_path: Path) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(_ROLLING_HOSTS + "batch_size = 2\nmax_fail = 1\n")
    production = load_config(path).environments["production"]
    assert (production.batch_size, production.max_fail) == (2, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RELMAN_PUBLIC_URL": "ftp://relman.example.org"}, r"^setting RELMAN_PUBLIC_URL: must"),
        ({"RELMAN_PUBLIC_URL": "https://"}, r"^setting RELMAN_PUBLIC_URL: must"),
        ({"RELMAN_PUBLIC_URL": "https://relman example.org"}, r"^setting RELMAN_PUBLIC_URL: "),
        ({"RELMAN_PUBLIC_URL": "https://relman.example.org/a b"}, r"^setting RELMAN_PUBLIC_URL"),
        ({"RELMAN_WEB_PREFIX": "/dash board"}, r"^setting RELMAN_WEB_PREFIX: must be a URL path"),
        ({"RELMAN_WEB_PREFIX": "/ui?x=1"}, r"^setting RELMAN_WEB_PREFIX: must be a URL path"),
        ({"RELMAN_PREFIX": "/api#x"}, r"^setting RELMAN_PREFIX: must be a URL path"),
        ({"RELMAN_WEB_PREFIX": "/api/tg-bot"}, r"^settings: RELMAN_WEB_PREFIX '/api/tg-bot' is"),
        ({"RELMAN_WEB_PREFIX": "api/tg-bot/ui/"}, r"inside the API's prefix '/api/tg-bot'"),
        (
            {"RELMAN_TELEGRAM_WEBHOOK_SECRET": "not ok"},
            r"^setting RELMAN_TELEGRAM_WEBHOOK_SECRET: 1",
        ),
    ],
)
def test_bad_web_settings_name_the_variable_in_plain_words(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    env_settings(monkeypatch)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(_env_file=None)
    assert "Value error" not in str(info.value)


def test_web_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = env_settings(
        monkeypatch,
        RELMAN_PUBLIC_URL=" https://relman.example.org/ops/ ",
        RELMAN_WEB_PREFIX="dash/",
    )
    assert (s.public_url, s.web_prefix, s.prefix) == (
        "https://relman.example.org/ops",
        "/dash",
        "/api/tg-bot",
    )
    # Next to the API's prefix (not inside it) and at the root are fine.
    assert (
        env_settings(monkeypatch, RELMAN_WEB_PREFIX="/api/tg-bot-ui").web_prefix == "/api/tg-bot-ui"
    )
    assert env_settings(monkeypatch, RELMAN_WEB_PREFIX="/").web_prefix == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ('"ftp://{address}/"', r"environments\.stage\.url: must be an http:// or https:// URL"),
        ('"http://"', r"environments\.stage\.url: must be an http:// or https:// URL"),
        ('"http://{address}:8080/a b"', r"environments\.stage\.url: must"),
        ("8080", r"environments\.stage\.url: Input should be a valid string"),
    ],
)
def test_a_bad_environment_url_names_the_key(tmp_path: Path, url: str, message: str) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(_ROLLING_HOSTS.replace("production", "stage") + f"url = {url}\n")
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "Value error" not in str(info.value)


def test_an_environment_url_is_filled_in_per_service(tmp_path: Path) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(
        _ROLLING_HOSTS.replace("production", "stage") + 'url = "http://{address}:8080/{service}"\n'
    )
    config = load_config(path)
    assert config.environment_url("stage", "hello") == "http://127.0.0.2:8080/hello"
    assert config.environment_url("production", "hello") is None


@pytest.mark.parametrize(
    ("table", "line", "message"),
    [
        ("analytics", "rollback_window_hours = 0", r"analytics\.rollback_window_hours: .*greater"),
        ("analytics", 'git_timeout = "soon"', r"analytics\.git_timeout: .*valid number"),
        ("analytics", "window = 3", r"analytics\.window: unknown key"),
        ("policy", "require_reject_reason = 2", r"policy\.require_reject_reason: .*boolean"),
    ],
)
def test_bad_analytics_and_policy_keys_are_named(
    tmp_path: Path, table: str, line: str, message: str
) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(f"[{table}]\n{line}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_a_config_error_never_shows_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "relman.toml"
    path.write_text('[hosts.h]\ntransport = "local"\npassword = ["pw-in-a-list-SENTINEL"]\n')
    with pytest.raises(
        ConfigError, match=r"hosts\.h\.password: Input should be a valid string"
    ) as info:
        load_config(path)
    assert "SENTINEL" not in str(info.value)
    env_settings(monkeypatch)
    monkeypatch.setenv("RELMAN_TELEGRAM_WEBHOOK_SECRET", "bad secret SENTINEL")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert "SENTINEL" not in str(info.value)
