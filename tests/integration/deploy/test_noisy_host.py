"""A host whose shell prints lines of its own (a profile's warning on stderr, as pyenv's
"cannot rehash" under load): the engine parses command output by shape, so the noise
neither becomes a branch to delete nor a commit to check out.

The noise comes from a real ``git`` wrapper first on PATH that writes to stderr, then runs
the real git; the deploy runs over the local transport, whose commands inherit PATH.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from deploy_support import git_branches, git_head, messages, served_version
from test_dev_deploy import DevBox

from relman.bootstrap import Container
from relman.demo.sample_repo import SampleRepo
from tests.support.hello import ServiceReaper

NOISE = "pyenv: cannot rehash: /root/.pyenv/shims isn't writable"


@pytest.fixture
def noisy_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = shutil.which("git")
    assert real is not None
    bin_dir = tmp_path / "noisy-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "{NOISE}" >&2\nexec {real} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ.get('PATH', '')}")


async def test_noise_in_command_output_is_not_parsed_as_data(
    container: Container,
    tmp_path: Path,
    sample_repo: SampleRepo,
    service_reaper: ServiceReaper,
    request: pytest.FixtureRequest,
) -> None:
    dev = DevBox(container, tmp_path, sample_repo, service_reaper)
    sha = dev.origin.push("feature/noisy", "1.1.0-dev.9")
    request.getfixturevalue("noisy_git")  # from here on every git the engine runs is noisy

    for tag in ("v1.0.0", "v1.1.0"):
        outcome = await dev.deploys.deploy("hello", tag, "dev:alice-laptop", actor="cli:a")
        assert outcome.ok, outcome.result.error
    host = outcome.result.hosts["alice-box"]
    assert host.sha_before == sample_repo.commits["v1.0.0"]
    assert host.version_before == "v1.0.0"
    assert host.target_sha == sample_repo.commits["v1.1.0"]
    assert host.dirty == []
    assert git_branches(dev.workdir) == []  # "main" from the clone was cleaned, noise ignored
    assert await served_version(dev.url) == "1.1.0"
    assert outcome.result.log_path is not None
    said = messages(outcome.result.log_path.read_text(encoding="utf-8").splitlines())
    assert f"│ {NOISE}" in said  # the noise is still shown in the log, as output

    branch = await dev.deploys.dev_deploy(
        "hello", branch="feature/noisy", author="alice", actor="gh:alice"
    )
    assert branch.ok and branch.result is not None, branch.result and branch.result.error
    assert branch.result.git_sha == sha == git_head(dev.workdir)
    assert await served_version(dev.url) == "1.1.0-dev.9"
