"""``relman init …``: set up a service repository for relman."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from relman.cli._common import console, err_console, refusals

if TYPE_CHECKING:
    from relman.versioning.github import WorkflowPlan

app = typer.Typer(name="init", help="Set up a service repository for relman.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Set up a service repository for relman."""


def _line(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _warn(text: str) -> None:
    err_console.print(f"warning: {text}", highlight=False, markup=False, soft_wrap=True)


def _tell(plan: WorkflowPlan) -> None:
    """What the person must set in the repository (names only) and every warning."""
    from relman.versioning.github import TEMPLATES

    for name, why in plan.skipped.items():
        _line(f"skipped {TEMPLATES[name]}: {why}")
    _line(f"secrets: {', '.join(plan.secrets())}")
    _line(f"variables: {', '.join(plan.variables())}")
    for warning in plan.warnings:
        _warn(warning)


@app.command("github")
def github_command(
    path: Annotated[
        Path, typer.Option("--path", help="The service repository (default: current directory).")
    ] = Path("."),
    service: Annotated[
        str | None,
        typer.Option(
            "--service",
            help="Service name (default: relman.toml's only service, else the directory name).",
        ),
    ] = None,
    relman_spec: Annotated[
        str | None,
        typer.Option(
            "--relman-spec",
            help="Where runners install relman from, pinned: 'relman @ git+URL@<commit or "
            "tag>' or 'relman @ URL.whl#sha256=<hash>' (default: this relman's source "
            "repository at v<its version>).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="relman.toml to fit (default: the repository's)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 listing the workflows that differ from what would be "
            "written.",
        ),
    ] = False,
) -> None:
    """Write the GitHub Actions workflows that fit relman.toml (work branch → dev, tag →
    stage, approval → production, CI gates) into .github/workflows/, and say which
    secrets and variables to set."""
    from relman.versioning.github import check_workflows, init_github

    if check:
        with refusals():
            plan, drift = check_workflows(path, service, relman_spec=relman_spec, config=config)
        for item in drift:
            _line(str(item))
        for warning in plan.warnings:
            _warn(warning)
        if drift:
            _line(f"{len(drift)} workflow(s) out of date: run relman init github --force")
            raise typer.Exit(1)
        _line("workflows up to date")
        return
    with refusals():
        result = init_github(path, service, force, relman_spec=relman_spec, config=config)
    for target in result.written:
        _line(f"wrote {target}")
    _tell(result.plan)
    for stale in result.stale:
        _warn(f"{stale} is left from an earlier run and no longer fits: delete it")
