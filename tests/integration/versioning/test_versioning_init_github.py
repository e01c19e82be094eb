"""``relman init github``: the workflows that fit relman.toml, checked by actionlint, the
command's output, ``--check``, and its refusals."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from relman.cli.init import app as init_app
from relman.config import RelmanConfig
from relman.domain.errors import InvalidInput
from relman.versioning import init_github
from relman.versioning.errors import TargetExists
from relman.versioning.github import render_workflows
from tests.support import actionlint

root = typer.Typer()
root.add_typer(init_app, name="init")
runner = CliRunner()

SPEC = "relman @ git+https://example.org/team/relman@v0.1.0"
WORK = ".github/workflows/on-push-in-work-branch.yaml"
TAG = ".github/workflows/on-create-version-tag.yaml"
APPROVE = ".github/workflows/on-approve-manual-testing.yaml"
CI = ".github/workflows/ci.yml"

SERVICE = """
[services.loom-content]
repo = "https://example.org/team/loom-content.git"
workdir = "{root}/loom-content"
start_command = ["sh", "start.sh"]
health = { url = "http://{address}:8000/health" }
"""

#: stage and production deployed by runners over ssh: one key for both (a GitHub
#: environment secret each), production's host logs in with a password from .env.servers.
GITHUB = (
    SERVICE
    + """
[hosts.stage]
address = "192.0.2.20"
key_file = ".relman/ssh/deploy_key"
known_hosts = ".relman/ssh/known_hosts"

[hosts.production]
address = "192.0.2.30"
password_env = "PROD_PASSWORD"
known_hosts = ".relman/ssh/known_hosts"

[hosts.developer1]
address = "192.0.2.10"
key_file = ".relman/ssh/dev_key"
known_hosts = ".relman/ssh/dev_known_hosts"

[hosts.developer2]
address = "192.0.2.11"
key_file = ".relman/ssh/dev_key"
known_hosts = ".relman/ssh/dev_known_hosts"

[environments.stage]
hosts = ["stage"]
executor = "github"

[environments.production]
hosts = ["production"]
executor = "github"

[environments."dev:developer1"]
hosts = ["developer1"]
owner = "developer1"

[environments."dev:developer2"]
hosts = ["developer2"]
owner = "developer2"
"""
)

#: relman's worker deploys stage and production (the default executor).
LOCAL = (
    SERVICE
    + """
[hosts.stage-box]
transport = "local"
root = "/srv/stage"

[hosts.production-box]
transport = "local"
root = "/srv/production"

[environments.stage]
hosts = ["stage-box"]

[environments.production]
hosts = ["production-box"]
"""
)


def config(text: str) -> RelmanConfig:
    return RelmanConfig.model_validate(tomllib.loads(text))


def repo_with(tmp_path: Path, toml: str, name: str = "loom-content") -> Path:
    repo = tmp_path / name
    repo.mkdir()
    (repo / "relman.toml").write_text(toml, encoding="utf-8")
    return repo


def steps(text: str) -> list[dict[str, object]]:
    (job,) = yaml.safe_load(text)["jobs"].values()
    found: list[dict[str, object]] = job["steps"]
    return found


def names(text: str) -> list[str]:
    return [str(step["name"]) for step in steps(text)]


@pytest.mark.parametrize("toml", [GITHUB, LOCAL, ""], ids=["github", "local", "no-config"])
def test_every_generated_workflow_passes_actionlint(tmp_path: Path, toml: str) -> None:
    actionlint.require_actionlint()
    files = render_workflows("loom-content", relman_spec=SPEC, config=config(toml))
    findings = actionlint.lint(files)
    assert findings == [], "\n".join(map(str, findings))


def test_actionlint_catches_a_broken_workflow() -> None:
    """The linter really runs: a typo and an injection-prone expression are reported."""
    actionlint.require_actionlint()
    broken = render_workflows("svc", relman_spec=SPEC)[TAG]
    broken = broken.replace("    environment: stage\n", "    enviroment: stage\n")
    broken = broken.replace('"$RELEASE_TAG"', '"${{ github.event.head_commit.message }}"', 1)
    kinds = sorted(f.kind for f in actionlint.lint({"broken.yaml": broken}))
    assert kinds == ["expression", "syntax-check"]


def test_github_executors_deploy_from_the_runner_with_the_ssh_settings() -> None:
    files = render_workflows("loom-content", relman_spec=SPEC, config=config(GITHUB))
    assert sorted(files) == sorted([WORK, TAG, APPROVE, CI])
    for path in (WORK, TAG, APPROVE):
        text = files[path]
        assert "RELMAN_PIP_SPEC" not in text and "vars.RELMAN_PIP_SPEC" not in text
        assert f'run: python -m pip install "{SPEC}"\n' in text
        assert names(text)[0] == "Check the settings"
        assert "permissions:\n  contents: read\n  id-token: write" in text
    tag = files[TAG]
    assert names(tag) == [
        "Check the settings",
        "Check out the tag",
        "Set up Python",
        "Install relman",
        "Check the tag format (v*.*.*)",
        "Record the release",
        "Write the SSH key and known_hosts",
        "Deploy to stage",
        "Upload the deploy log and evidence",
        "Report the artifact to relman",
        "Hand the release to manual testing",
        "Report the stage failure",
        "Remove the SSH key and known_hosts",
    ]
    by_name = {step["name"]: step for step in steps(tag)}
    check = by_name["Check the settings"]
    assert check["env"] == {
        "RELMAN_SSH_KEY": "${{ secrets.RELMAN_SSH_KEY }}",
        "RELMAN_KNOWN_HOSTS": "${{ secrets.RELMAN_KNOWN_HOSTS }}",
    }
    assert "need secret RELMAN_SSH_KEY\n" in str(check["run"])
    write = str(by_name["Write the SSH key and known_hosts"]["run"])
    assert write.startswith("umask 077\n")
    assert "printf '%s\\n' \"$RELMAN_SSH_KEY\" > '.relman/ssh/deploy_key'" in write
    assert "chmod 600 '.relman/ssh/known_hosts'" in write
    remove = by_name["Remove the SSH key and known_hosts"]
    assert remove["if"] == "always()"
    assert remove["run"] == "rm -f '.relman/ssh/deploy_key' '.relman/ssh/known_hosts'"
    upload = by_name["Upload the deploy log and evidence"]
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always() && steps.deploy.outputs.deployment_id != ''"

    approve = yaml.safe_load(files[APPROVE])
    # PyYAML reads YAML 1.1: the key `on` is the boolean True
    assert set(approve[True]["workflow_dispatch"]["inputs"]) == {
        "release_id",
        "tag",
        "git_sha",
        "environment",
    }
    deploy = {s["name"]: s for s in steps(files[APPROVE])}["Deploy to production"]
    assert '--git-sha "$GIT_SHA"' in str(deploy["run"])
    # production's host logs in with the password .env.servers had: a secret of that name
    assert deploy["env"] == {"PROD_PASSWORD": "${{ secrets.PROD_PASSWORD }}"}
    assert "need secret PROD_PASSWORD" in files[APPROVE]
    assert "RELMAN_SSH_KEY" not in files[APPROVE]  # its host has no key_file

    work = files[WORK]
    assert "'.relman/ssh/dev_key'" in work and "'.relman/ssh/deploy_key'" not in work
    assert "relman ci dev-deploy --service" in work


def test_local_executors_only_record_the_release() -> None:
    files = render_workflows("loom-content", relman_spec=SPEC, config=config(LOCAL))
    # production: the local executor never dispatches; no dev server: nothing to deploy
    assert sorted(files) == sorted([TAG, CI])
    tag = files[TAG]
    assert names(tag) == [
        "Check the settings",
        "Check out the tag",
        "Set up Python",
        "Install relman",
        "Check the tag format (v*.*.*)",
        "Record the release",
    ]
    assert "relman ci deploy" not in tag and "relman ci report" not in tag
    assert "secrets.RELMAN_SSH_KEY" not in tag


def test_init_writes_says_what_to_set_and_refuses_to_overwrite(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, GITHUB)
    args = ["init", "github", "--path", str(repo), "--relman-spec", SPEC]
    result = runner.invoke(root, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        *(f"wrote {repo / path}" for path in (WORK, TAG, APPROVE, CI)),
        "secrets: LOOM_INTERSERVER_SECRET_KEY, RELMAN_SSH_KEY, RELMAN_KNOWN_HOSTS, PROD_PASSWORD",
        "variables: LOOM_RELEASE_TG_BOT_API_URL",
    ]
    assert result.stderr == ""
    assert "RELMAN_SERVICE: loom-content\n" in (repo / TAG).read_text(encoding="utf-8")

    (repo / CI).write_text("# mine\n", encoding="utf-8")
    (repo / WORK).unlink()
    refused = runner.invoke(root, args)
    assert refused.exit_code == 2
    assert "already exist(s); use --force to overwrite" in refused.stderr
    assert not (repo / WORK).exists()  # nothing written on refusal
    assert (repo / CI).read_text(encoding="utf-8") == "# mine\n"

    forced = runner.invoke(root, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert (repo / WORK).is_file()


def test_local_init_names_what_it_skips(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, LOCAL)
    result = runner.invoke(root, ["init", "github", "--path", str(repo), "--relman-spec", SPEC])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2:] == [
        f"skipped {APPROVE}: production's executor is local: relman's worker deploys "
        "production, and nothing dispatches this workflow",
        f"skipped {WORK}: {repo / 'relman.toml'} has no dev:<name> environment, so a push "
        "deploys nowhere",
        "secrets: LOOM_INTERSERVER_SECRET_KEY",
        "variables: LOOM_RELEASE_TG_BOT_API_URL",
    ]


def test_check_lists_what_differs_and_exits_1(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, GITHUB)
    args = ["init", "github", "--path", str(repo), "--relman-spec", SPEC]
    assert runner.invoke(root, args).exit_code == 0
    same = runner.invoke(root, [*args, "--check"])
    assert (same.exit_code, same.stdout) == (0, "workflows up to date\n")

    (repo / CI).write_text("# the team's own gates\n", encoding="utf-8")  # not relman's
    (repo / WORK).unlink()
    text = (repo / TAG).read_text(encoding="utf-8")
    (repo / TAG).write_text(text.replace("timeout-minutes: 60", "timeout-minutes: 5"), "utf-8")
    # production goes back to relman's worker: the approve workflow no longer fits
    (repo / "relman.toml").write_text(
        GITHUB.replace('hosts = ["production"]\nexecutor = "github"', 'hosts = ["production"]'),
        encoding="utf-8",
    )
    drift = runner.invoke(root, [*args, "--check"])
    assert drift.exit_code == 1
    assert drift.stdout.splitlines() == [
        f"missing: {WORK}",
        f"differs: {TAG} (init github --force would add 1 and remove 1 line(s))",
        f"unexpected: {APPROVE} (production's executor is local: relman's worker deploys "
        "production, and nothing dispatches this workflow)",
        "3 workflow(s) out of date: run relman init github --force",
    ]
    assert (repo / TAG).read_text(encoding="utf-8") != text  # --check writes nothing


def test_an_unpinned_spec_is_refused_naming_what_is_accepted(tmp_path: Path) -> None:
    repo = repo_with(tmp_path, LOCAL)
    for spec in ("relman", "relman>=0.1", "relman @ git+https://example.org/relman@main"):
        result = runner.invoke(root, ["init", "github", "--path", str(repo), "--relman-spec", spec])
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: relman_spec: {spec!r} is not a pinned source of relman;")
        assert "40-hex commit or version tag" in line and "#sha256=" in line
    assert not (repo / ".github").exists()


def test_init_refusals(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="service"):
        init_github(tmp_path, service="bad name; rm -rf /", relman_spec=SPEC)
    with pytest.raises(InvalidInput, match="path"):
        init_github(tmp_path / "missing", relman_spec=SPEC)
    repo = repo_with(tmp_path, LOCAL, name="svc")
    with pytest.raises(InvalidInput, match=r"unknown service 'other' .*\(known: loom-content\)"):
        init_github(repo, service="other", relman_spec=SPEC)
    init_github(repo, relman_spec=SPEC)
    with pytest.raises(TargetExists):
        init_github(repo, relman_spec=SPEC)


def test_unwritable_target_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / ".github").write_text("not a folder\n", encoding="utf-8")
    result = runner.invoke(
        root,
        ["init", "github", "--path", str(tmp_path), "--service", "svc", "--relman-spec", SPEC],
    )
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[-1] == (
        f"error: path: cannot write {tmp_path / '.github' / 'workflows'}: Not a directory"
    )
