"""What ``relman deploy`` prints after a partial failure (issue 10, item 6): the hint to
retry the failed hosts must be pasteable — ``--hosts`` gets one shell word."""

from __future__ import annotations

import shlex

import pytest

from relman.cli.deploy import failed_hosts_line


@pytest.mark.parametrize(
    ("failed", "line"),
    [
        (["box"], "deploy failed on: box (retry with --hosts box)"),
        (
            ["prod-1", "prod-2"],
            "deploy failed on: prod-1, prod-2 (retry with --hosts prod-1,prod-2)",
        ),
        (["web 1", "db"], "deploy failed on: web 1, db (retry with --hosts 'web 1,db')"),
    ],
)
def test_the_retry_hint_names_the_failed_hosts_as_one_shell_word(
    failed: list[str], line: str
) -> None:
    assert failed_hosts_line(failed) == line
    hint = line.split("(retry with ", 1)[1].removesuffix(")")
    assert shlex.split(hint) == ["--hosts", ",".join(failed)]
