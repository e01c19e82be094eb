"""``relman web login-link`` as a user runs it: a link to the address given, and a clear
refusal (exit 2, one line) for an address that is not http(s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_serve import relman

SECRET = "login-link-test-secret-0123456789"


def test_a_link_to_the_given_address(tmp_path: Path) -> None:
    done = relman(
        ["web", "login-link", "--base-url", "https://relman.example.org/"],
        tmp_path,
        LOOM_INTERSERVER_SECRET_KEY=SECRET,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("https://relman.example.org/login?token=")


@pytest.mark.parametrize("bad", ["javascript:alert(1)", "relman.example.org", "https://a b"])
def test_an_address_that_is_not_http_is_refused_in_one_line(tmp_path: Path, bad: str) -> None:
    done = relman(
        ["web", "login-link", "--base-url", bad], tmp_path, LOOM_INTERSERVER_SECRET_KEY=SECRET
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: setting public_url: must be an http:// or https://")
    assert len(done.stderr.strip().splitlines()) == 1
    assert SECRET not in done.stderr
