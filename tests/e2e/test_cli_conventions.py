"""The CLI's conventions as a user meets them (issue 15 item 10): ``--version`` and shell
completion, through the installed console script."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

from tests.e2e.test_serve import relman


def test_version_prints_the_installed_package_version(tmp_path: Path) -> None:
    done = relman(["--version"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"relman {version('relman')}\n"


def test_bash_completion_script_and_answers(tmp_path: Path) -> None:
    # What `--show-completion` prints in bash, asked for by name (it guesses the shell from
    # its parent processes, which under a test runner need not be bash).
    script = relman([], tmp_path, _RELMAN_COMPLETE="source_bash")
    assert script.returncode == 0, script.stderr
    assert "complete -o default -F _relman_completion relman" in script.stdout

    # What bash asks the script for as the user presses Tab: commands, then subcommands.
    top = relman(
        [], tmp_path, COMP_WORDS="relman rel", COMP_CWORD="1", _RELMAN_COMPLETE="complete_bash"
    )
    assert top.stdout.split() == ["release", "releases"]
    sub = relman(
        [],
        tmp_path,
        COMP_WORDS="relman release ap",
        COMP_CWORD="2",
        _RELMAN_COMPLETE="complete_bash",
    )
    assert sub.stdout.split() == ["approve"]
