"""relman.toml and settings mistakes a newcomer makes (issue 15 item 7): each is refused at
load with the file's line, the key and what to do, never found at the first deploy."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from relman.config import (
    MIN_SECRET_LENGTH,
    Environment,
    Host,
    RelmanConfig,
    key_line,
    load_config,
    load_settings,
    require_runnable,
)
from relman.domain.errors import ConfigError

SERVICE = """\
[services.hello]
repo = "/srv/git/hello.git"
workdir = "{root}/hello"
start_command = ["sh", "start.sh"]
health = { url = "http://{address}:8004/health" }
"""


def refusal(tmp_path: Path, text: str) -> str:
    path = tmp_path / "relman.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    return message.removeprefix(str(path))


def test_a_typo_gives_the_line_and_the_key_meant(tmp_path: Path) -> None:
    text = SERVICE.replace("start_command", "start_comand")
    assert refusal(tmp_path, text) == (
        ":4: services.hello.start_comand: unknown key (did you mean start_command?)"
    )


def test_a_typo_in_a_table_name_and_in_a_nested_table(tmp_path: Path) -> None:
    assert refusal(tmp_path, "\n\n[service.hello]\nrepo = 'x'\n") == (
        ":3: service: unknown key (did you mean services?)"
    )
    text = SERVICE.replace("health = {", "health = { atempts = 2,")
    assert refusal(tmp_path, text) == (
        ":5: services.hello.health.atempts: unknown key (did you mean attempts?)"
    )
    # A table written as a header of its own, with quoting.
    text = '[hosts.a]\ntransport = "local"\n[environments."dev:alice"]\nhosts = ["a"]\nownr = "x"\n'
    assert refusal(tmp_path, text) == (
        ':5: environments."dev:alice".ownr: unknown key (did you mean owner?)'
    )


def test_an_unknown_host_names_the_line_and_the_closest_host(tmp_path: Path) -> None:
    text = '[hosts.prod-1]\ntransport = "local"\n\n[environments.production]\nhosts = ["prod-l"]\n'
    assert refusal(tmp_path, text) == (
        ":5: environments.production.hosts.0: environment 'production' names unknown host "
        "'prod-l' (did you mean prod-1?)"
    )


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("htp//{address}:18004/health", "is not an http:// or https:// URL with a host"),
        ("ftp://{address}/health", "is not an http:// or https:// URL with a host"),
        ("http:///health", "is not an http:// or https:// URL with a host"),
        ("http://{adress}:8004/health", "unknown placeholder {adress}"),
        ("http://{address}:80x4/health", "the port is not a number"),
    ],
)
def test_a_health_url_that_cannot_work_is_refused_at_load(
    tmp_path: Path, url: str, why: str
) -> None:
    text = SERVICE.replace("http://{address}:8004/health", url)
    message = refusal(tmp_path, text)
    assert message.startswith(":5: services.hello.health.url: ")
    assert why in message


def test_a_bad_smoke_url_is_refused_naming_its_key(tmp_path: Path) -> None:
    message = refusal(tmp_path, SERVICE + 'smoke_urls = ["http://{address}:1/m", "/metrics"]\n')
    assert message.startswith(":6: services.hello.smoke_urls: ")
    assert "'/metrics' is not an http:// or https:// URL" in message


def test_good_urls_still_load(tmp_path: Path) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(
        SERVICE.replace("http://{address}:8004/health", "https://{address}/{root}/health?x=1")
        + 'smoke_urls = ["http://[::1]:8004/metrics"]\n',
        encoding="utf-8",
    )
    assert load_config(path).services["hello"].smoke_urls == ["http://[::1]:8004/metrics"]


SHARED = (
    SERVICE.replace("{root}/hello", "/srv/hello")
    + """
[hosts.stage-1]
address = "10.0.0.5"
known_hosts = "/etc/relman/known_hosts"

[hosts.prod-1]
address = "10.0.0.5"
known_hosts = "/etc/relman/known_hosts"

[environments.stage]
hosts = ["stage-1"]

[environments.production]
hosts = ["prod-1"]
"""
)


def test_two_environments_sharing_a_checkout_on_one_machine_are_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, SHARED) == (
        ":19: environments.production.hosts: environments 'stage' (host 'stage-1') and "
        "'production' (host 'prod-1') would share the working directory /srv/hello of "
        "service 'hello' on one machine: give each environment its own host or host `root` "
        "(workdir '/srv/hello')"
    )


def test_own_folders_or_own_machines_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "relman.toml"
    path.write_text(SHARED.replace('address = "10.0.0.5"', 'address = "10.0.0.6"', 1))
    assert set(load_config(path).environments) == {"stage", "production"}
    rooted = SERVICE + (
        '[hosts.a]\ntransport = "local"\nroot = "/srv/stage"\n'
        '[hosts.b]\ntransport = "local"\nroot = "/srv/prod/"\n'
        '[environments.stage]\nhosts = ["a"]\n[environments.production]\nhosts = ["b"]\n'
    )
    path.write_text(rooted)
    assert load_config(path).hosts["b"].root == "/srv/prod/"
    # Local hosts are all this machine, whatever their address: one folder is one checkout.
    path.write_text(rooted.replace('root = "/srv/prod/"', 'root = "/srv/stage/"'))
    with pytest.raises(ConfigError, match="would share the working directory /srv/stage/hello"):
        load_config(path)


def test_key_line_finds_dotted_keys_and_falls_back_to_the_header() -> None:
    text = "a = 1\n[services.x]\nhealth.url = 'u'\n\n[services.y]\nrepo = 1\n"
    assert key_line(text, ("services", "x", "health", "url")) == 3
    assert key_line(text, ("services", "y", "workdir")) == 5
    assert key_line(text, ("a",)) == 1
    assert key_line(text, ("nowhere",)) is None


def clean_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key in list(os.environ):
        if key.startswith(("RELMAN_", "LOOM_")) or key == "DATABASE_URL":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)


def test_a_short_operator_secret_is_refused_when_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clean_env(monkeypatch, RELMAN_OPERATOR_SECRET="tooshort")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert str(info.value) == (
        f"setting RELMAN_OPERATOR_SECRET: too short: use at least {MIN_SECRET_LENGTH} "
        "characters (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
    )
    assert "tooshort" not in str(info.value)
    clean_env(monkeypatch, RELMAN_HMAC_SECRET="x" * 31)
    with pytest.raises(ConfigError, match=r"^setting RELMAN_HMAC_SECRET: too short"):
        load_settings(_env_file=None)


def test_the_operator_secret_may_not_be_cis_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    same = "s" * 40
    clean_env(monkeypatch, RELMAN_OPERATOR_SECRET=same, LOOM_INTERSERVER_SECRET_KEY=same)
    with pytest.raises(ConfigError, match=r"^settings: RELMAN_OPERATOR_SECRET must differ"):
        load_settings(_env_file=None)


GITHUB_CONFIG = RelmanConfig(
    hosts={"box": Host(transport="local", root="/p"), "s": Host(transport="local", root="/s")},
    environments={
        "stage": Environment(hosts=["s"], executor="github"),
        "production": Environment(hosts=["box"], executor="github"),
    },
)


def test_the_github_executor_without_a_token_cannot_start_a_worker() -> None:
    with pytest.raises(ConfigError) as info:
        require_runnable(GITHUB_CONFIG, github_client=False)
    assert str(info.value) == (
        "RELMAN_GITHUB_TOKEN is not set, but environment 'production' has executor = "
        '"github": relman dispatches its workflow on approval with that token '
        '(actions:write); set it, or use executor = "local"'
    )
    require_runnable(GITHUB_CONFIG, github_client=True)
    require_runnable(RelmanConfig(), github_client=False)
    # stage's workflow starts from the tag push: relman dispatches nothing there
    stage_only = GITHUB_CONFIG.model_copy(
        update={"environments": {"stage": Environment(hosts=["s"], executor="github")}}
    )
    require_runnable(stage_only, github_client=False)


def test_the_github_executor_needs_each_services_repository() -> None:
    config = RelmanConfig.model_validate(
        {
            **GITHUB_CONFIG.model_dump(exclude_none=True),
            "services": {
                "hello": {
                    "repo": "x",
                    "workdir": "{root}/h",
                    "start_command": ["true"],
                    "health": {"url": "http://{address}/"},
                }
            },
        }
    )
    with pytest.raises(ConfigError, match=r"^services\.hello\.github_repository is not set"):
        require_runnable(config, github_client=True)
