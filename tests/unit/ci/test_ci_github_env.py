"""Reading a runner's environment for ``relman ci``: GitHub's variables, the API settings."""

from __future__ import annotations

import pytest

from relman.ci.github_env import (
    DEFAULT_ATTEMPTS,
    DEFAULT_BACKOFF,
    DEFAULT_TIMEOUT,
    api_settings,
    github_run,
)
from relman.domain.errors import ConfigError

GITHUB = {
    "GITHUB_RUN_ID": "9001",
    "GITHUB_REF": "refs/tags/v1.2.3",
    "GITHUB_ACTOR": "developer_name",
    "GITHUB_SERVER_URL": "https://github.example.com/",
    "GITHUB_REPOSITORY": "org/loom-content",
}


def test_github_run_reads_the_default_variables_and_builds_the_action_link() -> None:
    run = github_run(GITHUB)
    assert (run.run_id, run.ref, run.actor) == ("9001", "refs/tags/v1.2.3", "developer_name")
    assert run.action_link == "https://github.example.com/org/loom-content/actions/runs/9001"
    assert run.require_actor() == "developer_name"
    assert run.require_run_id() == "9001"
    assert run.audit_actor == "gh:developer_name"


def test_github_server_defaults_to_github_com_and_blank_means_unset() -> None:
    run = github_run({**GITHUB, "GITHUB_SERVER_URL": "  "})
    assert run.action_link == "https://github.com/org/loom-content/actions/runs/9001"
    assert github_run({"GITHUB_RUN_ID": "1"}).action_link == ""


@pytest.mark.parametrize(
    ("missing", "call"),
    [
        ("GITHUB_ACTOR", lambda run: run.require_actor()),
        ("GITHUB_ACTOR", lambda run: run.audit_actor),
        ("GITHUB_RUN_ID", lambda run: run.require_run_id()),
    ],
)
def test_a_missing_github_variable_is_named(missing: str, call: object) -> None:
    run = github_run({**GITHUB, missing: ""})
    with pytest.raises(ConfigError, match=f"^{missing} is not set"):
        call(run)  # type: ignore[operator]


def test_api_settings_from_the_seed_names() -> None:
    api = api_settings(
        {
            "LOOM_RELEASE_TG_BOT_API_URL": "https://relman.example.com/api/tg-bot/",
            "LOOM_INTERSERVER_SECRET_KEY": "s3cret-value",
        }
    )
    assert api.url == "https://relman.example.com/api/tg-bot"
    assert (api.url_var, api.secret_var) == (
        "LOOM_RELEASE_TG_BOT_API_URL",
        "LOOM_INTERSERVER_SECRET_KEY",
    )
    assert api.secret == "s3cret-value"
    assert (api.attempts, api.backoff, api.timeout) == (
        DEFAULT_ATTEMPTS,
        DEFAULT_BACKOFF,
        DEFAULT_TIMEOUT,
    )
    assert "s3cret-value" not in repr(api)


def test_relman_names_win_like_in_the_server_settings() -> None:
    api = api_settings(
        {
            "RELMAN_API_URL": "http://127.0.0.1:8000/api/tg-bot",
            "LOOM_RELEASE_TG_BOT_API_URL": "https://elsewhere/api",
            "RELMAN_SECRET_KEY": "mine",
            "LOOM_INTERSERVER_SECRET_KEY": "seed",
            "RELMAN_API_ATTEMPTS": "2",
            "RELMAN_API_BACKOFF": "0",
            "RELMAN_API_TIMEOUT": "1.5",
        }
    )
    assert (api.url, api.secret, api.secret_var) == (
        "http://127.0.0.1:8000/api/tg-bot",
        "mine",
        "RELMAN_SECRET_KEY",
    )
    assert (api.attempts, api.backoff, api.timeout) == (2, 0.0, 1.5)


BASE = {"RELMAN_API_URL": "http://relman:8000/api/tg-bot", "RELMAN_SECRET_KEY": "x"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RELMAN_SECRET_KEY": "x"}, "LOOM_RELEASE_TG_BOT_API_URL (or RELMAN_API_URL) is not set"),
        (
            {"LOOM_RELEASE_TG_BOT_API_URL": "", "RELMAN_API_URL": "http://h/p"},
            "LOOM_INTERSERVER_SECRET_KEY (or RELMAN_SECRET_KEY) is not set",
        ),
        ({**BASE, "RELMAN_API_URL": "relman:8000/api"}, "RELMAN_API_URL: expected http(s)://"),
        ({**BASE, "RELMAN_API_URL": "ftp://relman/api"}, "RELMAN_API_URL: expected http(s)://"),
        ({**BASE, "RELMAN_API_URL": "http://relman/api?x=1"}, "must not have a query"),
        ({**BASE, "RELMAN_API_ATTEMPTS": "many"}, "RELMAN_API_ATTEMPTS: 'many' is not a whole"),
        ({**BASE, "RELMAN_API_ATTEMPTS": "0"}, "RELMAN_API_ATTEMPTS: must be >= 1"),
        ({**BASE, "RELMAN_API_BACKOFF": "-1"}, "RELMAN_API_BACKOFF: must be >= 0"),
        ({**BASE, "RELMAN_API_BACKOFF": "nan"}, "RELMAN_API_BACKOFF: must be >= 0"),
        ({**BASE, "RELMAN_API_TIMEOUT": "0"}, "RELMAN_API_TIMEOUT: must be > 0"),
    ],
)
def test_bad_api_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        api_settings(env)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
