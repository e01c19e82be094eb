"""The local transport runs real subprocesses: argv only, streamed output, timeouts."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import pytest

from relman.deploy.errors import TransportError
from relman.deploy.local import LocalTransport
from tests.support.sshd import pid_running


async def test_output_is_streamed_while_the_command_runs(tmp_path: Path) -> None:
    # The command prints a line, then waits until the file it names exists. Only a caller
    # that receives the line while the command still runs can create it.
    gate = tmp_path / "gate"
    script = (
        "import os, sys, time\n"
        "print('waiting', flush=True)\n"
        "deadline = time.monotonic() + 10\n"
        "while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:\n"
        "    time.sleep(0.01)\n"
        "print('gate seen' if os.path.exists(sys.argv[1]) else 'no gate')\n"
    )
    seen: list[str] = []

    def on_line(line: str) -> None:
        seen.append(line)
        if line == "waiting":
            gate.touch()

    transport = LocalTransport("box")
    result = await transport.run(
        [sys.executable, "-c", script, str(gate)],
        cwd=None,
        env=None,
        timeout=20,
        on_line=on_line,
    )
    assert result.ok
    assert seen == ["waiting", "gate seen"]
    assert result.tail == ("waiting", "gate seen")
    await transport.close()


async def test_argv_is_not_interpreted_by_a_shell(tmp_path: Path) -> None:
    lines: list[str] = []
    result = await LocalTransport().run(
        ["echo", "$(touch pwned)", ";", "rm", "-rf", "x"],
        cwd=str(tmp_path),
        env=None,
        timeout=10,
        on_line=lines.append,
    )
    assert result.ok
    assert lines == ["$(touch pwned) ; rm -rf x"]
    assert not (tmp_path / "pwned").exists()


@pytest.fixture
def real_tmp(tmp_path: Path) -> str:
    """``tmp_path`` with symlinks resolved (what ``os.getcwd()`` reports there)."""
    return os.path.realpath(tmp_path)


async def test_exit_status_cwd_and_env(
    tmp_path: Path, real_tmp: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = real_tmp
    monkeypatch.setenv("RELMAN_SECRET_KEY", "must-not-leak")
    monkeypatch.setenv("LOOM_RELEASE_TG_BOT_TOKEN", "must-not-leak-either")
    lines: list[str] = []
    script = (
        "import os, sys\n"
        "print(os.getcwd())\n"
        "print(os.environ.get('GREETING'))\n"
        "print(os.environ.get('RELMAN_SECRET_KEY'), os.environ.get('LOOM_RELEASE_TG_BOT_TOKEN'))\n"
        "print('to stderr', file=sys.stderr)\n"
        "sys.exit(3)\n"
    )
    result = await LocalTransport().run(
        [sys.executable, "-c", script],
        cwd=str(tmp_path),
        env={"GREETING": "hi there"},
        timeout=10,
        on_line=lines.append,
    )
    assert result.exit_status == 3 and not result.ok
    assert lines == [where, "hi there", "None None", "to stderr"]


async def test_timeout_stops_the_command_and_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    script = f'sleep 30 & echo $! > "{marker}"; wait'
    started = time.monotonic()
    result = await LocalTransport().run(
        ["sh", "-c", script], cwd=None, env=None, timeout=0.5, on_line=lambda _l: None
    )
    assert result.timed_out and result.exit_status is None
    assert time.monotonic() - started < 10
    child = int(marker.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        # The child was SIGKILLed with its group; a zombie awaiting its reaper counts as gone.
        if not pid_running(child):
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail(f"child {child} still runs after the timeout")


async def test_a_background_child_holding_the_output_does_not_block(tmp_path: Path) -> None:
    # like a start script that forgot to redirect its daemon's output
    marker = tmp_path / "daemon.pid"
    result = await LocalTransport().run(
        ["sh", "-c", f'sleep 30 & echo $! > "{marker}"; echo started'],
        cwd=None,
        env=None,
        timeout=20,
        on_line=lambda _l: None,
    )
    try:
        assert result.ok
        assert result.tail == ("started",)
        assert result.duration < 10
    finally:
        os.kill(int(marker.read_text()), 9)


async def test_a_missing_program_or_folder_is_a_transport_error(tmp_path: Path) -> None:
    transport = LocalTransport("box")
    with pytest.raises(TransportError, match="box: cannot start 'no-such-program-xyz'"):
        await transport.run(
            ["no-such-program-xyz"], cwd=None, env=None, timeout=5, on_line=lambda _l: None
        )
    with pytest.raises(TransportError):
        await transport.run(
            ["true"],
            cwd=str(tmp_path / "missing"),
            env=None,
            timeout=5,
            on_line=lambda _l: None,
        )
    await transport.close()
    with pytest.raises(TransportError, match="closed"):
        await transport.run(["true"], cwd=None, env=None, timeout=5, on_line=lambda _l: None)
