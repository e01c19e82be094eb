"""Configuration as a newcomer meets it, through the real ``relman`` command (issue 15 items
7, 8 and 12): mistakes refused at start-up naming the setting, ``relman config schema``,
``relman config check``, ``relman config import-servers --output``."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.test_serve import relman

GITHUB_PRODUCTION = """\
[services.hello]
repo = "/srv/git/hello.git"
workdir = "{root}/hello"
start_command = ["sh", "start.sh"]
health = { url = "http://{address}:8004/health" }
github_repository = "acme/hello"

[hosts.stage-box]
transport = "local"
root = "/srv/stage"

[hosts.prod-box]
transport = "local"
root = "/srv/prod"

[environments.stage]
hosts = ["stage-box"]

[environments.production]
hosts = ["prod-box"]
executor = "github"
"""


def sqlite(tmp_path: Path) -> dict[str, str]:
    return {"RELMAN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'relman.db'}"}


def test_worker_refuses_the_github_executor_without_a_token(tmp_path: Path) -> None:
    (tmp_path / "relman.toml").write_text(GITHUB_PRODUCTION, encoding="utf-8")
    assert relman(["db", "upgrade"], tmp_path, **sqlite(tmp_path)).returncode == 0
    worker = relman(["worker"], tmp_path, **sqlite(tmp_path))
    assert worker.returncode == 2
    assert worker.stderr.strip() == (
        "error: RELMAN_GITHUB_TOKEN is not set, but environment 'production' has executor "
        '= "github": relman dispatches its workflow on approval with that token '
        '(actions:write); set it, or use executor = "local"'
    )
    assert "Traceback" not in worker.stderr


def test_serve_refuses_a_short_operator_secret_before_anything_starts(tmp_path: Path) -> None:
    served = relman(
        ["serve", "--port", "1"],
        tmp_path,
        LOOM_INTERSERVER_SECRET_KEY="s" * 40,
        RELMAN_OPERATOR_SECRET="op-secret-2024",
        **sqlite(tmp_path),
    )
    assert served.returncode == 2
    assert served.stderr.strip() == (
        "error: setting RELMAN_OPERATOR_SECRET: too short: use at least 32 characters "
        "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
    )
    assert "op-secret-2024" not in served.stderr + served.stdout


def test_a_typo_in_relman_toml_is_one_line_with_the_key_meant(tmp_path: Path) -> None:
    text = GITHUB_PRODUCTION.replace("start_command", "start_comand")
    (tmp_path / "relman.toml").write_text(text, encoding="utf-8")
    shown = relman(["config", "show"], tmp_path, **sqlite(tmp_path))
    assert shown.returncode == 2
    assert shown.stderr.strip() == (
        "error: relman.toml:4: services.hello.start_comand: unknown key "
        "(did you mean start_command?)"
    )
