"""``relman serve`` and friends as a user runs them: real processes, real HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from relman.bootstrap import build
from relman.domain.release import Source
from relman.domain.status import ReleaseStatus
from relman.services.releases import NewRelease
from tests.conftest import make_settings

RELMAN = str(Path(sys.executable).with_name("relman"))
PREFIX = "/api/tg-bot"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RELMAN_", "LOOM_")) and k != "DATABASE_URL"
    }
    env.update(extra)
    return env


def relman(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the relman console script as a user would, with a clean environment."""
    return subprocess.run(
        [RELMAN, *args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 30) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, "relman serve exited early"
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise AssertionError(f"{url} not healthy within {deadline_s}s")


def test_serve_on_the_embedded_default(tmp_path: Path) -> None:
    init = relman(["config", "init-env"], tmp_path)
    assert init.returncode == 0, init.stderr
    secret = (tmp_path / ".env").read_text().split("LOOM_INTERSERVER_SECRET_KEY=")[1].strip()
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    port = free_port()
    proc = subprocess.Popen(
        [RELMAN, "serve", "--migrate", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}{PREFIX}/health", proc)
        auth = {"Authorization": f"Bearer {secret}"}
        created = httpx.post(
            f"{base}{PREFIX}/release",
            headers=auth,
            json={
                "service_name": "hello",
                "release_tag": "v1.0.0",
                "initiated_by": "alice",
                "github_run_id": "1",
                "github_action_link": "",
                "github_ref": "refs/tags/v1.0.0",
            },
        )
        assert created.status_code == 201
        moved = httpx.patch(
            f"{base}{PREFIX}/release",
            headers=auth,
            json={"release_id": created.json()["id"], "status": "building"},
        )
        assert moved.json()["status"] == "building"
        assert "http_server_ok_request_total" in httpx.get(f"{base}/metrics").text
    finally:
        proc.terminate()
        output = proc.communicate(timeout=15)[0].decode()
    assert (tmp_path / "relman.db").exists()
    assert secret not in output

    listing = relman(["releases", "list"], tmp_path)
    assert listing.returncode == 0 and "v1.0.0" in listing.stdout and "building" in listing.stdout
    shown = relman(["release", "show", "1"], tmp_path)
    assert shown.returncode == 0 and "initiated" in shown.stdout and "alice" in shown.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["serve"], {}, "no API secret"),
        (
            ["serve"],
            {"LOOM_INTERSERVER_SECRET_KEY": "x", "RELMAN_PORT": "http"},
            "setting RELMAN_PORT",
        ),
        (
            ["db", "upgrade"],
            {"DATABASE_URL": "postgresql://u:pw-s3cret@127.0.0.1:1/db"},
            "database unreachable",
        ),
        (["db", "upgrade"], {"DATABASE_URL": "mysql://u@h/db"}, "unsupported database URL"),
        (["release", "show", "404"], {}, "release 404 not found"),
        (["releases", "list", "--group", "old"], {}, "group: unknown group 'old'"),
        (["release", "show", "x"], {}, "Invalid value"),
    ],
)
def test_bad_config_and_input_is_one_line_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    assert relman(["db", "upgrade"], tmp_path).returncode == 0
    result = relman(args, tmp_path, **env)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "pw-s3cret" not in result.stderr


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    result = relman(
        ["config", "show"],
        tmp_path,
        LOOM_INTERSERVER_SECRET_KEY="very-secret-1",
        LOOM_RELEASE_TG_BOT_TOKEN="123:tg-secret",
        DATABASE_URL="postgresql://rel:db-secret@db/releases",
    )
    assert result.returncode == 0
    for secret in ("very-secret-1", "tg-secret", "db-secret"):
        assert secret not in result.stdout
    assert "rel:***@db/releases" in result.stdout


def test_an_unmigrated_database_says_how_to_fix_it(tmp_path: Path) -> None:
    result = relman(["releases", "list"], tmp_path)
    assert result.returncode == 2
    assert "relman db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_env_into_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    result = relman(
        ["config", "init-env", "--path", str(tmp_path / "no" / "such" / ".env")], tmp_path
    )
    assert result.returncode == 2
    assert "cannot write" in result.stderr and "No such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_user_data_with_brackets_is_shown_literally(tmp_path: Path) -> None:
    """A note or service name with rich markup ("[/]", "[red]") must print as it is."""
    db = tmp_path / "relman.db"
    assert relman(["db", "upgrade"], tmp_path).returncode == 0

    async def seed() -> None:
        container = build(make_settings(f"sqlite+aiosqlite:///{db}", tmp_path))
        release, _ = await container.releases.create(
            NewRelease("svc[red]", "v1.0.0", "dev[/]", "1", "", ""), source=Source.CLI
        )
        assert release.id is not None
        await container.releases.report_status(
            release.id,
            ReleaseStatus.BUILDING,
            actor="ci",
            source=Source.CLI,
            note="[/] closing tag and [bold]markup[/bold]",
        )
        await container.aclose()

    asyncio.run(seed())
    shown = relman(["release", "show", "1"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "svc[red]" in shown.stdout and "dev[/]" in shown.stdout
    assert "[bold]" in shown.stdout and "[/] closing" in shown.stdout
    listing = relman(["releases", "list"], tmp_path)
    assert listing.returncode == 0 and "svc[red]" in listing.stdout
    # --json is one document with GET /release's fields, markup and all left as they are.
    as_json = relman(["releases", "list", "--json"], tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    page = json.loads(as_json.stdout)
    assert page["next_cursor"] is None
    [row] = page["releases"]
    assert (row["id"], row["service_name"], row["initiated_by"]) == (1, "svc[red]", "dev[/]")
    assert (row["status"], row["allowed_next"]) == ("building", ["stage_deploy", "staging_failed"])
