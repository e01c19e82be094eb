"""Configuration as a newcomer meets it, through the real ``relman`` command (issue 15 items
7, 8 and 12): mistakes refused at start-up naming the setting, ``relman config schema``,
``relman config check``, ``relman config import-servers --output``."""

from __future__ import annotations

import json
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


def test_a_release_command_that_would_run_the_worker_refuses_before_recording(
    tmp_path: Path,
) -> None:
    """`release start|approve` run the deploy they queue (--run): a worker that cannot run
    is refused first, so no release or decision is left on record behind the error."""
    (tmp_path / "relman.toml").write_text(GITHUB_PRODUCTION, encoding="utf-8")
    assert relman(["db", "upgrade"], tmp_path, **sqlite(tmp_path)).returncode == 0
    started = relman(["release", "start", "hello", "v1.0.0"], tmp_path, **sqlite(tmp_path))
    assert started.returncode == 2
    assert started.stderr.startswith("error: RELMAN_GITHUB_TOKEN is not set")
    listed = relman(["releases", "list", "--json"], tmp_path, **sqlite(tmp_path))
    assert json.loads(listed.stdout)["releases"] == []


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


def test_config_schema_prints_a_json_schema_of_relman_toml(tmp_path: Path) -> None:
    printed = relman(["config", "schema"], tmp_path)
    assert printed.returncode == 0, printed.stderr
    schema = json.loads(printed.stdout)
    assert schema["title"] == "relman.toml"
    assert "start_command" in schema["$defs"]["Service"]["properties"]


def test_config_reference_writes_the_committed_reference(tmp_path: Path) -> None:
    written = relman(["config", "reference", "--output", "ref.md"], tmp_path)
    assert written.returncode == 0, written.stderr
    committed = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
    assert (tmp_path / "ref.md").read_text(encoding="utf-8") == committed.read_text("utf-8")


CHECKED = """\
[services.hello]
repo = "/srv/git/hello.git"
workdir = "{root}/hello"
start_command = ["sh", "start.sh"]
health = { url = "http://{address}:8004/health" }

[hosts.box]
transport = "local"
root = "ROOT/box"

[hosts.stage-box]
transport = "local"
root = "ROOT/typo/stage"

[environments.stage]
hosts = ["stage-box"]

[environments.production]
hosts = ["box"]
"""


def test_config_check_passes_a_good_host_and_fails_a_bad_one(tmp_path: Path) -> None:
    (tmp_path / "box").mkdir()
    (tmp_path / "relman.toml").write_text(CHECKED.replace("ROOT", str(tmp_path)), "utf-8")
    good = relman(["config", "check", "--env", "production", "--json"], tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    answer = json.loads(good.stdout)
    assert answer["ok"] is True
    assert [c["name"] for c in answer["checks"]] == ["connect", "git", "workdir", "health url"]

    every = relman(["config", "check"], tmp_path, COLUMNS="200")
    assert every.returncode == 1
    assert f"{tmp_path}/typo/stage/hello is missing and so is its parent" in every.stdout
    assert "7 passed, 1 failed" in every.stdout

    unknown = relman(["config", "check", "shop"], tmp_path)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "error: no service 'shop' in relman.toml"

    (tmp_path / "relman.toml").write_text(
        CHECKED.replace("ROOT", str(tmp_path)).replace("8004/health", "8004 /health"), "utf-8"
    )
    broken = relman(["config", "check"], tmp_path)
    assert broken.returncode == 2
    assert broken.stderr.startswith("error: relman.toml:5: services.hello.health.url: ")


SERVERS = """\
STAGE_HOST=192.0.2.20
PROD_HOST=deploy@192.0.2.30
PROD_PASSWORD=prod-pass-do-not-print
developer1_HOST=192.0.2.10
developer1_PORT=2222
LOOM_INTERSERVER_SECRET_KEY=not-a-server
"""


def test_import_servers_writes_a_file_and_says_what_to_edit(tmp_path: Path) -> None:
    (tmp_path / ".env.servers").write_text(SERVERS, encoding="utf-8")
    written = relman(
        ["config", "import-servers", ".env.servers", "--output", "relman.toml"],
        tmp_path,
        COLUMNS="200",
    )
    assert written.returncode == 0, written.stderr
    text = (tmp_path / "relman.toml").read_text(encoding="utf-8")
    assert 'password_env = "PROD_PASSWORD"' in text
    assert "prod-pass-do-not-print" not in text + written.stdout + written.stderr
    lines = written.stdout.splitlines()
    assert lines[0] == "wrote relman.toml"
    assert lines[1] == "next, in relman.toml:"
    assert "add a [services.NAME] table per service" in lines[2]
    assert lines[3].startswith(
        "  2. pin the hosts' keys in /etc/relman/known_hosts: ssh-keyscan 192.0.2.20 ; "
        "ssh-keyscan 192.0.2.30 ; ssh-keyscan -p 2222 192.0.2.10 >> /etc/relman/known_hosts"
    )
    assert lines[4] == (
        "  3. owners are GitHub logins (whose pushes deploy there): dev:developer1 owner = "
        '"developer1" — change each to the developer\'s login'
    )
    assert "export PROD_PASSWORD" in lines[5]
    assert lines[6] == "  5. then: RELMAN_CONFIG=relman.toml relman config check"

    again = relman(["config", "import-servers", ".env.servers", "-o", "relman.toml"], tmp_path)
    assert again.returncode == 2
    assert again.stderr.strip() == (
        "error: relman.toml exists; not overwriting it (--force replaces it)"
    )
    assert (tmp_path / "relman.toml").read_text(encoding="utf-8") == text
    forced = relman(
        [
            "config",
            "import-servers",
            ".env.servers",
            "-o",
            "relman.toml",
            "--force",
            "--user",
            "ops",
        ],
        tmp_path,
    )
    assert forced.returncode == 0, forced.stderr
    assert 'user = "ops"' in (tmp_path / "relman.toml").read_text(encoding="utf-8")
    # Without --output the tables are printed, as before.
    printed = relman(["config", "import-servers", ".env.servers"], tmp_path)
    assert printed.returncode == 0 and "[hosts.stage]" in printed.stdout
