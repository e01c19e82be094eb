"""``relman init github``: the workflow files, checked by actionlint."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from relman.cli.init import app as init_app
from relman.domain.errors import InvalidInput
from relman.versioning import init_github
from relman.versioning.errors import TargetExists
from relman.versioning.github import TEMPLATES, render_workflows
from tests.support import actionlint

root = typer.Typer()
root.add_typer(init_app, name="init")
runner = CliRunner()

WORKFLOWS = [
    ".github/workflows/on-push-in-work-branch.yaml",
    ".github/workflows/on-create-version-tag.yaml",
    ".github/workflows/on-approve-manual-testing.yaml",
    ".github/workflows/ci.yml",
]


def test_every_generated_workflow_passes_actionlint(tmp_path: Path) -> None:
    actionlint.require_actionlint()
    written = init_github(tmp_path, service="loom-content")
    files = {str(path.relative_to(tmp_path)): path.read_text(encoding="utf-8") for path in written}
    assert sorted(files) == sorted(WORKFLOWS)
    findings = actionlint.lint(files)
    assert findings == [], "\n".join(map(str, findings))


def test_actionlint_catches_a_broken_workflow() -> None:
    """The linter really runs: a typo and an injection-prone expression are reported."""
    actionlint.require_actionlint()
    broken = render_workflows("svc")[WORKFLOWS[1]]
    broken = broken.replace("    environment: stage\n", "    enviroment: stage\n")
    broken = broken.replace('"$RELEASE_TAG"', '"${{ github.event.head_commit.message }}"', 1)
    kinds = sorted(f.kind for f in actionlint.lint({"broken.yaml": broken}))
    assert kinds == ["expression", "syntax-check"]


def test_workflows_call_relman_with_the_seed_settings() -> None:
    files = render_workflows("loom-content")
    for text in files.values():
        assert "__RELMAN_SERVICE__" not in text
        assert "permissions:\n  contents: read\n" in text
        assert "concurrency:\n" in text
    work, tag, approve, ci = (files[path] for path in WORKFLOWS)
    for text in (work, tag, approve):
        assert "  id-token: write" in text
        assert "RELMAN_SERVICE: loom-content" in text
        assert "${{ secrets.LOOM_INTERSERVER_SECRET_KEY }}" in text
        assert "${{ vars.LOOM_RELEASE_TG_BOT_API_URL }}" in text
    assert "branches-ignore:\n      - main\n      - master\n      - develop\n" in work
    assert "relman ci dev-deploy --service" in work
    assert '--branch "$BRANCH" --author "$AUTHOR"' in work
    assert 'tags:\n      - "v*"\n' in tag
    assert tag.index("relman version check-tag") < tag.index("relman ci release-start")
    assert tag.index("relman ci release-start") < tag.index("relman ci deploy --env stage")
    assert tag.index("relman ci deploy --env stage") < tag.index("relman ci report manual_testing")
    assert "if: failure() && steps.release.outputs.release_id != ''" in tag
    assert "relman ci report staging_failed" in tag
    assert "group: relman-${{ github.repository }}-stage" in tag
    assert "workflow_dispatch:" in approve
    for name in ("release_id:", "tag:", "environment:"):
        assert f"      {name}\n" in approve
    assert "group: relman-${{ github.repository }}-${{ inputs.environment }}" in approve
    assert "relman ci deploy --env" in approve
    assert "relman ci report deployed" in approve
    assert "if: failure()\n        run: relman ci report production_failed" in approve
    for gate in ("ruff check .", "mypy .", "bandit -q -r .", "pytest -q", "pip-audit"):
        assert f"run: {gate}" in ci


def test_init_writes_into_the_repository_and_refuses_to_overwrite(tmp_path: Path) -> None:
    repo = tmp_path / "loom-content"
    repo.mkdir()
    result = runner.invoke(root, ["init", "github", "--path", str(repo)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [f"wrote {repo / path}" for path in TEMPLATES.values()]
    assert "RELMAN_SERVICE: loom-content\n" in (repo / WORKFLOWS[0]).read_text(encoding="utf-8")

    (repo / WORKFLOWS[3]).write_text("# mine\n", encoding="utf-8")
    (repo / WORKFLOWS[0]).unlink()
    refused = runner.invoke(root, ["init", "github", "--path", str(repo), "--service", "other"])
    assert refused.exit_code == 2
    assert "already exist(s); use --force to overwrite" in refused.stderr
    assert not (repo / WORKFLOWS[0]).exists()  # nothing written on refusal
    assert (repo / WORKFLOWS[3]).read_text(encoding="utf-8") == "# mine\n"

    forced = runner.invoke(
        root, ["init", "github", "--path", str(repo), "--service", "other", "--force"]
    )
    assert forced.exit_code == 0, forced.output
    for path in WORKFLOWS:
        assert (repo / path).read_text(encoding="utf-8") == render_workflows("other")[path]


def test_init_refusals(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="service"):
        init_github(tmp_path, service="bad name; rm -rf /")
    with pytest.raises(InvalidInput, match="path"):
        init_github(tmp_path / "missing")
    init_github(tmp_path, service="svc")
    with pytest.raises(TargetExists):
        init_github(tmp_path, service="svc")


def test_unwritable_target_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / ".github").write_text("not a folder\n", encoding="utf-8")
    result = runner.invoke(root, ["init", "github", "--path", str(tmp_path), "--service", "svc"])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines() == [
        f"error: path: cannot write {tmp_path / '.github' / 'workflows'}: Not a directory"
    ]
