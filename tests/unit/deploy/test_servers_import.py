"""``.env.servers`` (seed 003) → relman.toml tables; ``password_env`` on hosts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from relman.config import Host, RelmanConfig
from relman.domain.errors import ConfigError
from relman.servers_import import import_servers, parse_servers, read_servers_file

#: The seed's file, with a distinct password per server so a leak of any one shows.
SEED_FILE = """\
# API Configuration
LOOM_RELEASE_TG_BOT_API_URL=https://api.example.com/api/tg-bot
LOOM_INTERSERVER_SECRET_KEY=your-secret-key-XYZ

# Developer servers
developer1_HOST=192.168.1.10
developer1_PASSWORD=pw-dev-one-$HOME

developer2_HOST=192.168.1.11
developer2_PASSWORD='pw dev two'

# Stage server
STAGE_HOST=192.168.1.20
STAGE_PASSWORD="pw-stage-#3"

# Production server
PROD_HOST=192.168.1.30
PROD_PASSWORD=pw-prod-4
"""
PASSWORDS = ["pw-dev-one", "pw dev two", "pw-stage-#3", "pw-prod-4", "your-secret-key-XYZ"]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".env.servers"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_seed_file_becomes_hosts_and_environments(tmp_path: Path) -> None:
    text = import_servers(write(tmp_path, SEED_FILE), known_hosts="/etc/relman/kh")
    for secret in PASSWORDS:
        assert secret not in text
    data = tomllib.loads(text)
    assert data["hosts"] == {
        "stage": {
            "address": "192.168.1.20",
            "user": "root",
            "password_env": "STAGE_PASSWORD",
            "known_hosts": "/etc/relman/kh",
        },
        "production": {
            "address": "192.168.1.30",
            "user": "root",
            "password_env": "PROD_PASSWORD",
            "known_hosts": "/etc/relman/kh",
        },
        "developer1": {
            "address": "192.168.1.10",
            "user": "root",
            "password_env": "developer1_PASSWORD",
            "known_hosts": "/etc/relman/kh",
        },
        "developer2": {
            "address": "192.168.1.11",
            "user": "root",
            "password_env": "developer2_PASSWORD",
            "known_hosts": "/etc/relman/kh",
        },
    }
    assert data["environments"] == {
        "stage": {"hosts": ["stage"]},
        "production": {"hosts": ["production"]},
        "dev:developer1": {"hosts": ["developer1"], "owner": "developer1"},
        "dev:developer2": {"hosts": ["developer2"], "owner": "developer2"},
    }
    assert '[environments."dev:developer1"]' in text
    # the LOOM_* settings are named as not imported, their values never shown
    assert "Not imported: LOOM_INTERSERVER_SECRET_KEY, LOOM_RELEASE_TG_BOT_API_URL" in text
    # what it prints is a valid relman configuration
    config = RelmanConfig.model_validate(data)
    assert config.hosts["developer1"].password_env == "developer1_PASSWORD"
    assert config.hosts["developer1"].password is None


def test_user_port_user_at_host_and_key_only_servers() -> None:
    servers = parse_servers(
        {
            "STAGE_HOST": "deploy@stage.internal",
            "STAGE_PORT": "2222",
            "developer7_HOST": "10.0.0.7",
            "developer7_USER": "alice",
            "developer7_PASSWORD": "",
            "developer10_HOST": "10.0.0.10",
            "PRODUCTION_HOST": "prod.internal",
            "OTHER": None,
        }
    )
    by_name = {s.name: s for s in servers.servers}
    assert list(by_name) == ["stage", "production", "developer7", "developer10"]
    assert (by_name["stage"].address, by_name["stage"].user, by_name["stage"].port) == (
        "stage.internal",
        "deploy",
        2222,
    )
    assert by_name["developer7"].user == "alice"
    assert by_name["developer7"].password_env is None  # empty password: key auth
    assert by_name["production"].environment == "production"
    assert by_name["developer10"].environment == "dev:developer10"
    assert servers.ignored == ["OTHER"]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"developer1_PASSWORD": "pw-secret-1"}, r"developer1_PASSWORD without a value for"),
        ({"STAGE_HOST": ""}, "STAGE_HOST"),
        ({"STAGE_HOST": "a b"}, "STAGE_HOST is not a host"),
        ({"STAGE_HOST": "s", "STAGE_PORT": "99999"}, "STAGE_PORT must be a port"),
        ({"PROD_HOST": "p", "PRODUCTION_HOST": "q"}, "name the same server"),
        ({"LOOM_INTERSERVER_SECRET_KEY": "k"}, "no servers found"),
    ],
)
def test_mistakes_are_config_errors_naming_the_variable(
    values: dict[str, str | None], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        parse_servers(values, source="servers.env")
    assert "pw-secret-1" not in str(caught.value)
    assert str(caught.value).startswith("servers.env: ")


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        read_servers_file(tmp_path / "absent")


def test_the_file_is_read_literally_without_interpolation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-dotenv expands ${VAR} from relman's environment by default; not here.
    monkeypatch.setenv("RELMAN_TEST_ELSEWHERE", "10.9.9.9")
    servers = read_servers_file(write(tmp_path, "STAGE_HOST=${RELMAN_TEST_ELSEWHERE}\n"))
    assert servers.servers[0].address == "${RELMAN_TEST_ELSEWHERE}"


# --- Host.password_env -------------------------------------------------------------------


def ssh_host(**extra: object) -> Host:
    values: dict[str, object] = {"address": "10.0.0.9", "known_hosts": "/etc/relman/kh"}
    values.update(extra)
    return Host.model_validate(values)


def test_password_env_is_read_when_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    host = ssh_host(password_env="developer1_PASSWORD")
    monkeypatch.setenv("developer1_PASSWORD", "pw-from-env")
    assert host.resolve_password() == "pw-from-env"
    assert "pw-from-env" not in repr(host)
    monkeypatch.setenv("developer1_PASSWORD", "changed")
    assert host.resolve_password() == "changed"  # read at use, not at load


def test_a_missing_password_variable_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("developer9_PASSWORD", raising=False)
    host = ssh_host(password_env="developer9_PASSWORD")
    with pytest.raises(ConfigError, match="developer9_PASSWORD") as caught:
        host.resolve_password()
    assert caught.value.details["variable"] == "developer9_PASSWORD"
    monkeypatch.setenv("developer9_PASSWORD", "")
    with pytest.raises(ConfigError, match="not set"):
        host.resolve_password()


def test_password_and_password_env_are_exclusive_and_checked() -> None:
    assert ssh_host().resolve_password() is None
    assert ssh_host(password=SecretStr("inline-pw")).resolve_password() == "inline-pw"
    with pytest.raises(ValidationError, match="not both"):
        ssh_host(password="inline-pw", password_env="X_PASSWORD")
    with pytest.raises(ValidationError, match="not a variable name"):
        ssh_host(password_env="1-bad name")
