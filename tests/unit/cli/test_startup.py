"""Start-up stays light (issue 10, item 1): building relman's command tree and printing the
help of any command imports typer and relman's framework-free modules, never the
application's frameworks — those are imported inside the commands that use them.

Structural guards, not timed ones: a fresh interpreter reports which modules got loaded.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from relman.cli import ALONE

#: What no ``--help`` may load: the Telegram library, the web server, migrations, ssh, the
#: database layer, HTTP clients, rich's help rendering and the application's wiring.
HEAVY = (
    "aiogram",
    "fastapi",
    "starlette",
    "uvicorn",
    "alembic",
    "asyncssh",
    "sqlalchemy",
    "httpx",
    "pydantic_settings",
    "typer.rich_utils",
    "relman.bootstrap",
    "relman.config",
    "relman.api",
    "relman.bot",
    "relman.store",
    "relman.services",
)

# Prints the help of commands through typer in-process, in a fresh interpreter:
#   argv: MODE HEAVY... where MODE is "all" (every command and group, registered as for
#   `relman --help`) or a command path like "deploy" (registered the way the console
#   script registers for `relman deploy --help`: relman.cli.register);
#   prints {"helps": {"deploy --help": "...", ...}, "loaded": [the HEAVY ones loaded]}.
PRINT_HELP = """
import contextlib, io, json, sys

import typer

from relman.cli import app, register

mode, heavy = sys.argv[1], sys.argv[2:]


def paths(command, prefix):
    yield prefix
    for name, sub in getattr(command, "commands", {}).items():  # a group's commands
        yield from paths(sub, [*prefix, name])


if mode == "all":
    register([])
    wanted = list(paths(typer.main.get_command(app), []))
else:
    register(mode.split())
    wanted = [mode.split()]
helps = {}
for path in wanted:
    args = [*path, "--help"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = app(args, prog_name="relman", standalone_mode=False)
    helps[" ".join(args)] = out.getvalue() if code == 0 else f"exit {code}"
loaded = sorted(m for m in heavy if m in sys.modules)
print(json.dumps({"helps": helps, "loaded": loaded}))
"""


def in_fresh_python(script: str, *args: str, cwd: Path, isolated: bool = False) -> Any:
    """Run ``script`` with ``args`` in a new interpreter (this one's) in ``cwd``; returns
    the JSON of its last output line. ``isolated``: only PATH and a HOME of ``cwd`` in its
    environment (no RELMAN_* settings of this shell)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)} if isolated else None
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def print_help(mode: str, cwd: Path) -> tuple[dict[str, str], list[str]]:
    """Run :data:`PRINT_HELP`: the helps it printed and the heavy modules it loaded."""
    result = in_fresh_python(PRINT_HELP, mode, *HEAVY, cwd=cwd)
    return result["helps"], result["loaded"]


@pytest.mark.parametrize("command", ["deploy", "release", "release start", "worker"])
def test_the_help_of_a_command_loads_no_framework(tmp_path: Path, command: str) -> None:
    helps, loaded = print_help(command, tmp_path)
    assert helps[f"{command} --help"].startswith(f"Usage: relman {command} ")
    assert loaded == []


def test_the_help_of_every_command_and_group_loads_no_framework(tmp_path: Path) -> None:
    helps, loaded = print_help("all", tmp_path)
    # The help really ran, for the top level and the commands people start with.
    assert "deploy" in helps["--help"] and "release" in helps["--help"]
    assert "Deploy TAG of SERVICE" in helps["deploy --help"]
    assert "Start, decide and roll back releases." in helps["release --help"]
    for args in ("serve --help", "release start --help", "version cut --help", "ci deploy --help"):
        assert helps[args].startswith("Usage: relman "), args
    assert len(helps) > 30
    assert loaded == []


def test_a_command_registered_alone_is_the_one_registered_with_all(tmp_path: Path) -> None:
    """The console script registers only the module of a command in ALONE; the command
    must be there, and the same as when every command is registered."""
    everything, _ = print_help("all", tmp_path)
    for name in ALONE:
        alone, _ = print_help(name, tmp_path)
        assert alone[f"{name} --help"] == everything[f"{name} --help"], name


@pytest.mark.parametrize("package", ["relman.deploy", "relman.versioning"])
def test_every_public_name_of_a_lazy_package_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        value = getattr(module, name)
        # Loaded from the module that defines it, and kept: the same object next time.
        assert getattr(module, name) is value, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = module.nope


# Wires relman the way `relman deploy` does, in a fresh interpreter, then reads one lazy
# part: prints which of argv's modules were loaded after each.
WIRE_FOR_DEPLOY = """
import json, sys

from relman.bootstrap import build
from relman.config import Settings

watched = sys.argv[1:]
settings = Settings(database_url="sqlite+aiosqlite:///relman.db", config_file="relman.toml")
container = build(settings)
container.hand_deploys()
deploy_only = sorted(m for m in watched if m in sys.modules)
container.pipeline
print(json.dumps([deploy_only, sorted(m for m in watched if m in sys.modules)]))
"""

#: What a deploy by hand does without: the release lifecycle and everything around it.
NOT_FOR_A_DEPLOY = (
    "relman.services.pipeline",
    "relman.services.analytics",
    "relman.services.incidents",
    "relman.services.releases",
    "relman.services.worker",
    "relman.integrations.github",
    "relman.store.jobs",
    "relman.store.releases",
    "relman.store.analytics",
)


def test_wiring_for_a_deploy_builds_no_pipeline(tmp_path: Path) -> None:
    """The container builds the deploy engine at once and the rest on first use."""
    deploy_only, after_pipeline = in_fresh_python(
        WIRE_FOR_DEPLOY, *NOT_FOR_A_DEPLOY, cwd=tmp_path, isolated=True
    )
    assert deploy_only == []
    assert {"relman.services.pipeline", "relman.store.jobs"} <= set(after_pipeline)


# Builds the API app (what `relman serve` runs) in a fresh interpreter, with the bot token
# argv[1] ("" for none), and prints whether the Telegram library got loaded.
SERVE_APP = """
import json, sys

from relman.api.app import create_app
from relman.bootstrap import build
from relman.config import Settings

settings = Settings(
    _env_file=None,
    database_url="sqlite+aiosqlite:///relman.db",
    config_file="relman.toml",
    secret_key="s" * 32,
    telegram_token=sys.argv[1] or None,
)
app = create_app(build(settings))
print(json.dumps({"bot": app.state.bot is not None, "aiogram": "aiogram" in sys.modules}))
"""


@pytest.mark.parametrize(("token", "loaded"), [("", False), ("123:abc", True)])
def test_the_server_loads_the_telegram_library_only_for_its_bot(
    tmp_path: Path, token: str, loaded: bool
) -> None:
    seen = in_fresh_python(SERVE_APP, token, cwd=tmp_path, isolated=True)
    assert seen == {"bot": loaded, "aiogram": loaded}
